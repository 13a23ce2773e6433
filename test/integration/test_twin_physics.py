"""The twin's belt, part events and determinism."""

import dataclasses

import numpy as np
import pytest
from sim_helpers import cup_down_ik, min_jerk_trajectory, quiet_config

from factory_ai.sim import CellSim, PartEventKind, PhysicsError, SimConfig
from factory_ai.types import DefectType


@pytest.fixture(scope="module")
def sim(cell):
    s = CellSim(cell, quiet_config())
    yield s
    s.close()


def _run(cell, seed: int) -> tuple[np.ndarray, list]:
    sim = CellSim(cell, SimConfig(defect_rate=0.5))
    sim.reset(seed)
    belt_y = (sim.T_base_world @ sim.T_world_belt)[1, 3]
    q_dip = cup_down_ik(sim, [-0.1, belt_y, 0.05])  # the arm dips among the parts
    sim.execute(min_jerk_trajectory(sim.joint_names, sim.joint_state().q_rad, q_dip, 1.0))
    sim.set_suction(True)
    sim.step(3.0)
    truth = np.array([np.concatenate([[g.part_id, g.defective], g.p_base_m, [g.yaw_rad]]) for g in sim.ground_truth()])
    events = [(e.stamp_s, e.part_id, e.kind) for e in sim.events()]
    q = sim.joint_state().q_rad
    return np.concatenate([truth.ravel(), q]), events


def test_a_seeded_run_is_deterministic(cell):
    a, ev_a = _run(cell, 3)
    b, ev_b = _run(cell, 3)
    c, _ = _run(cell, 4)
    assert np.array_equal(a, b) and ev_a == ev_b
    assert len(ev_a) > 10  # parts spawned, escaped, ...
    assert a.shape != c.shape or not np.array_equal(a, c)


def test_rendering_does_not_change_the_physics(cell):
    runs = []
    for render in (False, True):
        s = CellSim(cell, SimConfig())
        s.reset(9)
        for _ in range(45):
            s.step(1.0 / 30.0)
            if render:
                s.render_camera()
        runs.append(np.array([np.concatenate([g.p_base_m, [g.yaw_rad]]) for g in s.ground_truth()]))
        s.close()
    assert np.array_equal(runs[0], runs[1])


@pytest.mark.parametrize("riding", [False, True], ids=["contact", "riding"])
@pytest.mark.parametrize("speed", [0.05, 0.5])
def test_a_part_on_the_belt_moves_at_belt_speed(sim, riding, speed):
    sim.config = dataclasses.replace(sim.config, kinematic_riding=riding)
    sim.reset(0)
    sim.set_belt_speed(speed)
    ids = [sim.spawn_part(shape, p_base_m=[-0.9 + 0.15 * i, 0.40 + 0.05 * i], yaw_rad=0.5 * i, v_base_mps=[0, 0, 0])
           for i, shape in enumerate(("washer", "bracket", "hex_nut"))]  # dropped at rest: friction must carry them
    sim.step(0.3)
    p0 = {g.part_id: g.p_base_m for g in sim.ground_truth()}
    t0 = sim.time_s
    sim.step(1.0)
    p1 = {g.part_id: g.p_base_m for g in sim.ground_truth()}
    v = np.array([(p1[i] - p0[i]) / (sim.time_s - t0) for i in ids])
    assert np.all(np.abs(v[:, 0] / speed - 1.0) <= 0.02), v
    assert np.all(np.abs(v[:, 1]) < 0.01 * speed)
    sim.config = dataclasses.replace(sim.config, kinematic_riding=True)


def test_a_part_reaching_the_belt_end_is_recorded_as_escaped(sim):
    sim.reset(0)
    end_x = (sim.T_base_world @ sim.T_world_belt)[0, 3] + sim.cell.conveyor.length_m / 2
    pid = sim.spawn_part("hex_nut", p_base_m=[end_x - 0.08, 0.45])
    sim.step(1.0)
    kinds = [e.kind for e in sim.events() if e.part_id == pid]
    assert kinds == [PartEventKind.SPAWNED, PartEventKind.ESCAPED]
    esc = next(e for e in sim.events() if e.kind == PartEventKind.ESCAPED)
    assert esc.p_base_m[0] == pytest.approx(end_x, abs=0.02)
    sim.step(2.0)  # it fell off the end and was cleared away
    assert pid not in {g.part_id for g in sim.ground_truth()}


def test_end_of_line_labels_arrive_after_their_delay(cell):
    s = CellSim(cell, quiet_config(label_delay_s=0.5))
    try:
        end_x = (s.T_base_world @ s.T_world_belt)[0, 3] + cell.conveyor.length_m / 2
        pid = s.spawn_part("washer", p_base_m=[end_x - 0.05, 0.45], defect_type=DefectType.CRACK)
        s.step(0.4)
        escaped_s = next(e.stamp_s for e in s.events() if e.kind == PartEventKind.ESCAPED)
        assert s.labels() == []
        s.step(0.5)
        (label,) = s.labels()
        assert label.track_id == pid and label.defective and label.defect_type is DefectType.CRACK
        assert label.stamp_s == pytest.approx(escaped_s + 0.5)
    finally:
        s.close()


def test_a_part_dropped_over_the_bin_lands_in_it(sim):
    sim.reset(0)
    T_base_bin = sim.T_base_world @ sim.cell.reject_bin.T_world_bin
    pid = sim.spawn_part("bracket", p_base_m=T_base_bin[:3, 3] + [0.02, -0.03, 0.6])
    sim.step(1.0)
    assert [e.kind for e in sim.events() if e.part_id == pid] == [PartEventKind.SPAWNED, PartEventKind.IN_BIN]
    truth = {g.part_id: g for g in sim.ground_truth()}[pid]
    assert truth.status == "in_bin" and truth.p_base_m[2] < T_base_bin[2, 3] + 0.05


def test_a_part_falling_beside_the_belt_fell_off(sim):
    sim.reset(0)
    pid = sim.spawn_part("washer", p_base_m=[-0.4, 0.75, 0.05])  # outside the rails, in the air
    sim.step(0.8)
    assert PartEventKind.FELL_OFF in [e.kind for e in sim.events() if e.part_id == pid]


def test_pose_history_follows_the_belt(sim):
    sim.reset(0)
    pid = sim.spawn_part("washer", p_base_m=[-0.8, 0.45])
    sim.step(1.0)
    h = sim.part_history(pid)
    assert len(h) >= 20 and np.all(np.diff(h[:, 0]) > 0)
    v = np.polyfit(h[:, 0], h[:, 1], 1)[0]
    assert v == pytest.approx(sim.belt_speed_mps, rel=0.02)


def test_divergence_raises_physics_error(sim):
    sim.reset(0)
    pid = sim.spawn_part("washer", p_base_m=[-0.5, 0.45])
    da = sim._slot_dadr[sim._parts[pid].slot]
    sim.data.qvel[da] = np.nan
    with pytest.raises(PhysicsError, match="diverged"):
        sim.step(0.01)
    sim.reset(0)
