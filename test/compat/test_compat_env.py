"""Inside the compat tier (scripts/compat_test.sh): proves the tests ran on the old stack."""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.skipif(os.environ.get("FACTORY_AI_COMPAT") != "1", reason="only in the compat tier")


def test_running_on_numpy_1_26_and_opencv_4():
    import cv2
    import numpy as np

    assert np.__version__.startswith("1.26."), np.__version__
    assert cv2.__version__.split(".")[0] == "4", cv2.__version__
