"""The vacuum cup picks the part under it, not one beside it, and drops on release."""

import numpy as np
import pytest
from sim_helpers import cup_down_ik, min_jerk_trajectory, quiet_config

from factory_ai.sim import CellSim, PartEventKind


@pytest.fixture(scope="module")
def sim(cell):
    s = CellSim(cell, quiet_config(belt_speed_mps=0.0))
    yield s
    s.close()


def _touch_and_lift(sim, xy, top_z):
    q_above = cup_down_ik(sim, [xy[0], xy[1], top_z + 0.05])
    q_touch = cup_down_ik(sim, [xy[0], xy[1], top_z + 0.001], q_above)
    sim.execute(min_jerk_trajectory(sim.joint_names, sim.joint_state().q_rad, q_above, 1.0))
    sim.step(1.1)
    sim.set_suction(True)
    sim.execute(min_jerk_trajectory(sim.joint_names, q_above, q_touch, 0.5))
    sim.step(0.6)
    sim.execute(min_jerk_trajectory(sim.joint_names, q_touch, q_above, 0.5))
    sim.step(0.6)


@pytest.mark.parametrize("offset_m", [0.0, 0.02])
def test_picks_the_part_under_the_cup_and_not_one_2cm_away(sim, offset_m):
    sim.reset(0)
    xy = np.array([0.0, 0.45])
    pid = sim.spawn_part("washer", p_base_m=xy + [offset_m, 0.0])
    sim.step(0.1)
    part = sim.ground_truth()[0]
    _touch_and_lift(sim, xy, part.p_base_m[2] + part.top_z_part_m)
    lifted = {g.part_id: g for g in sim.ground_truth()}[pid]
    if offset_m == 0.0:
        assert sim.suction().held_part_id == pid and lifted.held
        assert lifted.p_base_m[2] > part.p_base_m[2] + 0.04  # it went up with the cup
        cup = sim.T_base_frame("suction_cup")[:3, 3]
        assert np.linalg.norm(cup[:2] - lifted.p_base_m[:2]) < 0.01
        sim.set_suction(False)
        sim.step(0.5)
        kinds = [e.kind for e in sim.events() if e.part_id == pid]
        assert kinds == [PartEventKind.SPAWNED, PartEventKind.PICKED, PartEventKind.DROPPED]
        assert sim.suction().held_part_id is None
        assert {g.part_id: g for g in sim.ground_truth()}[pid].p_base_m[2] < part.p_base_m[2] + 0.01
    else:
        assert sim.suction().vacuum_on and sim.suction().held_part_id is None
        assert lifted.p_base_m[2] == pytest.approx(part.p_base_m[2], abs=0.002)
        assert PartEventKind.PICKED not in [e.kind for e in sim.events()]
