"""SimConfig validation names the field and the bad value."""

import pytest

from factory_ai.sim.types import SimConfig
from factory_ai.types import DefectType


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"belt_speed_mps": -0.1}, "belt_speed_mps"),
        ({"physics_dt_s": 0.05}, "physics_dt_s"),
        ({"defect_rate": 1.5}, "defect_rate"),
        ({"spawn_gap_m": (0.3, 0.1)}, "spawn_gap_m"),
        ({"defect_types": (DefectType.OK,)}, "defect_types"),
        ({"slots_per_shape": 0}, "slots_per_shape"),
        ({"kp_nm_per_rad": (-1.0,) * 6}, "kp_nm_per_rad"),
    ],
)
def test_bad_values_are_refused_by_name(kwargs, field):
    with pytest.raises(ValueError, match=field):
        SimConfig(**kwargs)


def test_sim_types_import_without_mujoco():
    import subprocess
    import sys

    code = "import sys, factory_ai.sim, factory_ai.sim.parts, factory_ai.sim.sdf_world; sys.exit('mujoco' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
