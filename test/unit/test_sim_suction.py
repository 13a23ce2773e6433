"""Suction cup gating: seals only when the lip sits on the part, centred and square."""

import numpy as np
import pytest

from factory_ai.sim.suction import suction_seal
from factory_ai.sim.types import SuctionConfig

TOP = 0.003  # part top face above its origin


def _seal(dx=0.0, dz=0.0, tilt=0.0):
    p_cup = np.array([dx, 0.0, TOP + dz])
    z_cup = np.array([np.sin(tilt), 0.0, -np.cos(tilt)])  # pointing down
    ok, off = suction_seal(p_cup, z_cup, np.zeros((1, 3)), np.eye(3)[None], np.array([TOP]), SuctionConfig())
    return bool(ok[0]), float(off[0])


def test_seals_on_a_part_right_under_the_cup():
    assert _seal(dx=0.004, dz=0.002)[0]


@pytest.mark.parametrize(
    ("kw", "why"),
    [({"dx": 0.02}, "2 cm off-centre"), ({"dz": 0.02}, "2 cm above"), ({"tilt": 0.6}, "tilted 34 deg")],
)
def test_does_not_seal(kw, why):
    assert not _seal(**kw)[0], why


def test_picks_the_best_centred_of_several_parts():
    p = np.array([[0.0, 0.0, 0.0], [0.02, 0.0, 0.0], [0.006, 0.0, 0.0]])
    ok, off = suction_seal(np.array([0.005, 0.0, TOP]), np.array([0.0, 0.0, -1.0]), p, np.tile(np.eye(3), (3, 1, 1)),
                           np.full(3, TOP), SuctionConfig())
    assert ok.tolist() == [True, False, True] and int(np.argmin(np.where(ok, off, np.inf))) == 2
