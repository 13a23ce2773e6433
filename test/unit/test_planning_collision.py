"""The planner's kinematics and collision model: they must agree with Pinocchio and with exact
geometry, and the obstacle API must behave (the MoveIt planning scene feeds it)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from planning_helpers import arm, make_planner

from factory_ai.planning.collision import CollisionModel, segment_distances
from factory_ai.planning.kinematics import ArmKinematics, DownwardIK


@pytest.fixture(scope="module")
def model() -> CollisionModel:
    cell, robot, _ = arm()
    return CollisionModel.from_urdf(cell.arm.urdf_path, robot.joint_names, cell)


def test_link_poses_match_pinocchio_for_every_frame():
    cell, robot, _ = arm()
    kin = ArmKinematics(robot.tree, robot.joint_names)
    q = np.random.default_rng(0).uniform(-3, 3, (20, 6))
    R, p = kin.link_poses(q)
    for b in range(q.shape[0]):
        T = robot.fk_frames(q[b], kin.frame_names)
        np.testing.assert_allclose(p[b], T[:, :3, 3], atol=1e-12)
        np.testing.assert_allclose(R[b], T[:, :3, :3], atol=1e-12)


def test_tool_down_ik_puts_the_cup_tip_on_target_in_all_branches():
    cell, robot, limits = arm()
    ik = DownwardIK.from_urdf(robot.tree, robot.joint_names, "suction_cup", limits.q_min, limits.q_max)
    rng = np.random.default_rng(1)
    targets = np.column_stack([rng.uniform(-0.6, 0.6, 50), rng.uniform(0.3, 0.6, 50), rng.uniform(0.0, 0.3, 50)])
    q, ok = ik.solve_all(targets, 0.3, cell.arm.ready_q_rad)
    assert ok.mean() > 0.8  # most branches reach most targets above the belt
    for b, k in zip(*np.nonzero(ok)):
        T = robot.fk(q[b, k])
        assert np.linalg.norm(T[:3, 3] - targets[b]) < 1e-6  # 1 um
        assert T[2, 2] < -1 + 1e-9  # cup axis straight down
    far, ok_far = ik.solve_all(np.array([[2.0, 0.0, 0.0]]), 0.0, cell.arm.ready_q_rad)
    assert not ok_far.any()
    # The single-point fast path gives the same answer.
    qp, okp = ik.solve_point(*targets[0], tuple(ik.BRANCHES[0]), 0.3, cell.arm.ready_q_rad)
    np.testing.assert_allclose(qp, q[0, 0], atol=1e-12)
    assert okp == ok[0, 0]


def test_cell_fixtures_are_in_the_world(model):
    names = {o.name for o in model.obstacles()}
    assert {"conveyor_belt", "conveyor_rail_left", "conveyor_rail_right", "camera_post", "camera_beam", "pedestal", "floor"} <= names
    assert {"bin_floor", "bin_wall_px", "bin_wall_nx", "bin_wall_py", "bin_wall_ny"} <= names


def test_grid_broad_phase_never_changes_a_collision_verdict(model):
    q = np.random.default_rng(2).uniform(-np.pi, np.pi, (1500, 6))
    R, p = model.kin.link_poses(q)
    exact_env, exact_self = model.distances_from_poses(R, p)
    for margin in (0.0, 0.01, 0.05):
        env, slf = model.distances_from_poses(R, p, cutoff_m=margin)
        assert np.array_equal(env < margin, exact_env < margin)
        assert np.all(env <= exact_env + 1e-12)  # lower bounds above the cutoff
        np.testing.assert_allclose(env[exact_env < margin], exact_env[exact_env < margin])


def test_cup_on_the_belt_collides_unless_grasping():
    planner = make_planner()
    cell, _, _ = arm()
    p = cell.T_base_belt[:3, 3].copy()
    p[2] += 0.001  # cup lip 1 mm above the belt surface
    q, ok = planner.ik.solve(p[None], planner.ready_branch, 0.0, cell.arm.ready_q_rad)
    assert ok[0]
    cm = planner.collision
    assert cm.in_collision(q, 0.005)[0]
    assert not cm.in_collision(q, 0.005, grasp_contact=np.array([True]))[0]
    assert not cm.in_collision(cell.arm.ready_q_rad[None], 0.01)[0]


def test_obstacles_can_be_added_and_removed_by_name(model, caplog):
    cell, _, _ = arm()
    q = cell.arm.ready_q_rad[None]
    T = np.eye(4)
    T[:3, 3] = model.kin.link_poses(q)[1][0, model.kin.frame_index("suction_cup")]
    for shape, dims in (("box", (0.05, 0.05, 0.05)), ("cylinder", (0.03, 0.1)), ("sphere", (0.03,))):
        model.add_obstacle("probe", shape, T, dims)
        assert model.in_collision(q)[0], shape
        model.remove_obstacle("probe")
        assert not model.in_collision(q)[0]
    with caplog.at_level(logging.WARNING):
        model.add_obstacle("scan", "mesh", T, (0.1, 0.1, 0.1))
    assert "bounding box" in caplog.text
    assert model.in_collision(q)[0]
    model.remove_obstacle("scan")
    with pytest.raises(ValueError, match="torus"):
        model.add_obstacle("bad", "torus", T, (1.0,))
    with pytest.raises(ValueError, match="positive"):
        model.add_obstacle("bad", "box", T, (0.1, -0.1, 0.1))
    with pytest.raises(KeyError, match="nope"):
        model.remove_obstacle("nope")


def test_link_pairs_and_self_collision(model):
    pairs = model.link_pairs()
    n = len(model.link_names)
    assert len(pairs) == n * (n - 1) // 2
    assert frozenset(("upper_arm_link", "forearm_link")) in model.adjacent_pairs()
    # Elbow folded back onto the upper arm: forearm/wrist hit the shoulder region.
    q = np.array([[0.0, 0.0, 3.1, 0.0, 0.0, 0.0]])
    d = model.pair_distances(q)[0]
    k = pairs.index(("shoulder_link", "forearm_link"))
    assert d[k] < 0.0
    assert model.in_collision(q)[0]
    # UR wrist links are 1-2 cm apart by design and can never touch: allowed by default.
    assert frozenset(("wrist_1_link", "wrist_3_link")) in model.allowed_pairs()


def test_swept_check_catches_an_obstacle_between_samples(model):
    """Two samples on either side of a thin plate: pointwise clear, swept not."""
    cell, _, _ = arm()
    q0 = cell.arm.ready_q_rad.copy()
    q1 = q0.copy()
    q1[0] += 0.6  # pan: the cup sweeps sideways through ~25 cm
    R, p = model.kin.link_poses(np.stack([q0, q1]))
    tip = model.kin.frame_index("suction_cup")
    mid = 0.5 * (p[0, tip] + p[1, tip])
    T = np.eye(4)
    T[:3, 3] = mid
    model.add_obstacle("plate", "box", T, (0.01, 0.01, 0.01))
    try:
        path = np.stack([q0, q1])
        assert not model.in_collision(path, 0.0).any()
        assert not model.path_clear(path, 0.0).all()
    finally:
        model.remove_obstacle("plate")


def test_segment_distance_matches_brute_force():
    rng = np.random.default_rng(3)
    a1, b1, a2, b2 = (rng.normal(size=(200, 3)) for _ in range(4))
    d = segment_distances(a1, b1, a2, b2)
    t = np.linspace(0, 1, 201)
    for i in range(0, 200, 20):
        p = a1[i] + t[:, None] * (b1[i] - a1[i])
        r = a2[i] + t[:, None] * (b2[i] - a2[i])
        brute = np.min(np.linalg.norm(p[:, None] - r[None], axis=-1))
        assert d[i] <= brute + 1e-12 and brute - d[i] < 2e-2
