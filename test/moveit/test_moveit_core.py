"""The generated config and our conversions under MoveIt's own C++ core (moveit_py bindings).

No ROS graph is needed: `moveit.core`'s RobotModel loads URDF + SRDF from files and a
PlanningScene checks states and paths with FCL. Skipped without a MoveIt 2 install.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("moveit")
pytest.importorskip("moveit.core")
pytest.importorskip("moveit_msgs.msg")

from moveit.core.collision_detection import AllowedCollisionMatrix, CollisionRequest, CollisionResult  # noqa: E402
from moveit.core.planning_scene import PlanningScene  # noqa: E402
from moveit.core.robot_model import RobotModel  # noqa: E402
from moveit.core.robot_state import RobotState  # noqa: E402
from moveit.core.robot_trajectory import RobotTrajectory  # noqa: E402

from factory_ai.moveit_config import SetupOptions, generate_config, parse_srdf, write_config  # noqa: E402
from factory_ai.nodes.moveit_backend import robot_trajectory_msg  # noqa: E402
from factory_ai.nodes.planning_scene import (  # noqa: E402
    SceneObstacles,
    cell_fixture_obstacles,
    collision_object_msg,
    moveit_rclpy_types,
    planning_scene_diff,
    static_frames,
)
from factory_ai.planning.collision import CollisionModel, Obstacle  # noqa: E402
from factory_ai.robot import RobotModel as OurRobotModel  # noqa: E402
from factory_ai.types import JointTrajectory  # noqa: E402
from moveit_helpers import SEVEN_DOF_BASE, SEVEN_DOF_LIMITS_YAML, SEVEN_DOF_TIP, seven_dof_collision_urdf  # noqa: E402

pytestmark = pytest.mark.moveit

REPO = Path(__file__).resolve().parents[2]
ARM_URDF = REPO / "urdf" / "factory_arm.urdf"
SHIPPED = REPO / "config" / "moveit"
N_RANDOM = 1000


@pytest.fixture(scope="module")
def arms(tmp_path_factory):
    """(urdf, srdf, generated config) for our arm (shipped files) and the 7-DOF test arm."""
    d = tmp_path_factory.mktemp("arm7")
    urdf7 = d / "test_arm7.urdf"
    urdf7.write_text(seven_dof_collision_urdf())
    (d / "limits.yaml").write_text(SEVEN_DOF_LIMITS_YAML)
    cfg7 = generate_config(
        SetupOptions(urdf7, tip_link=SEVEN_DOF_TIP, base_link=SEVEN_DOF_BASE, joint_limits_path=d / "limits.yaml")
    )
    write_config(cfg7, d / "moveit")
    cfg = generate_config(SetupOptions(ARM_URDF))
    return [(ARM_URDF, SHIPPED / "factory_arm.srdf", cfg), (urdf7, d / "moveit" / "test_arm7.srdf", cfg7)]


@pytest.fixture(scope="module")
def msgs():
    return moveit_rclpy_types()


def test_moveit_loads_the_srdf_with_group_end_effector_and_named_states(arms):
    for urdf, srdf_file, cfg in arms:
        model = RobotModel(str(urdf), str(srdf_file))
        assert model.has_joint_model_group("arm") and model.has_joint_model_group("end_effector")
        assert tuple(model.get_joint_model_group("arm").active_joint_model_names) == cfg.joint_names
        srdf = parse_srdf(srdf_file)
        state = RobotState(model)
        for name in ("ready", "home"):
            state.set_to_default_values("arm", name)
            want = [v for _, v in srdf.group_state(name).values]
            np.testing.assert_allclose(state.get_joint_group_positions("arm"), want, atol=1e-9)


def test_never_pairs_never_collide_under_moveits_fcl(arms):
    """Only the pairs disabled as "Never" are checked, on random states of the whole robot."""
    for urdf, srdf_file, cfg in arms:
        model = RobotModel(str(urdf), str(srdf_file))
        scene = PlanningScene(model)
        acm = AllowedCollisionMatrix(list(cfg.collisions.links), True)
        never = cfg.collisions.pairs("Never")
        for a, b in never:
            acm.set_entry(a, b, False)
        state = RobotState(model)
        hits = 0
        for _ in range(N_RANDOM):
            state.set_to_random_positions()
            state.update()
            result = CollisionResult()
            scene.check_self_collision(CollisionRequest(), result, state, acm)
            hits += bool(result.collision)
        assert hits == 0, f"{cfg.robot_name}: 'Never' pairs collided in {hits} of {N_RANDOM} states"


def _ready_state(model, q):
    state = RobotState(model)
    state.set_to_default_values()
    state.set_joint_group_positions("arm", np.asarray(q, dtype=float))
    state.update()
    return state


def test_cell_fixtures_published_into_moveit_sit_where_our_model_has_them(cell, msgs):
    model = RobotModel(str(ARM_URDF), str(SHIPPED / "factory_arm.srdf"))
    scene = PlanningScene(model)
    scene.process_planning_scene_world(planning_scene_diff(msgs, cell_fixture_obstacles(cell)).world)
    ready = _ready_state(model, cell.arm.ready_q_rad)
    assert not scene.is_state_colliding(robot_state=ready, joint_model_group_name="arm")
    # A state our model puts deep (> 3 cm) into the cell, free of self-collision: MoveIt agrees.
    ours = CollisionModel.from_urdf(ARM_URDF, OurRobotModel.from_urdf(ARM_URDF).joint_names, cell)
    rng = np.random.default_rng(3)
    q = rng.uniform(-np.pi, np.pi, (4000, 6))
    R, p = ours.kin.link_poses(q)
    env, slf = ours.distances_from_poses(R, p)
    deep = q[(env < -0.03) & (slf > 0.01)]
    assert len(deep) > 0
    assert scene.is_state_colliding(robot_state=_ready_state(model, deep[0]), joint_model_group_name="arm")


def test_is_path_valid_sees_a_box_from_our_conversion_and_the_scene_comes_back(cell, msgs):
    model = RobotModel(str(ARM_URDF), str(SHIPPED / "factory_arm.srdf"))
    scene = PlanningScene(model)
    q0 = np.asarray(cell.arm.ready_q_rad, dtype=float)
    scene.current_state = _ready_state(model, q0)
    q1 = q0 + np.array([0.6, 0.0, 0.0, 0.0, 0.0, 0.0])
    s = np.linspace(0.0, 1.0, 41)
    q = q0 + s[:, None] * (q1 - q0)
    names = tuple(model.get_joint_model_group("arm").active_joint_model_names)
    traj = JointTrajectory(names, 2.0 * s, q, np.repeat(((q1 - q0) / 2.0)[None], len(s), 0), np.zeros_like(q))

    def valid() -> bool:
        rt = RobotTrajectory(model)
        rt.set_robot_trajectory_msg(scene.current_state, robot_trajectory_msg(msgs, traj))
        rt.joint_model_group_name = "arm"
        return bool(scene.is_path_valid(rt, "arm", False, []))

    assert valid()
    p_mid = OurRobotModel.from_urdf(ARM_URDF).fk(q[20])[:3, 3]
    T = np.eye(4)
    T[:3, 3] = p_mid
    scene.apply_collision_object(collision_object_msg(msgs, Obstacle("crate", "box", T, np.array([0.1, 0.1, 0.1]))))
    assert not valid()
    # MoveIt reports the crate in its planning frame; our conversion puts it back where it was.
    sync = SceneObstacles(static_frames(ARM_URDF))
    sync.apply_scene(scene.planning_scene_message)
    (crate,) = sync.obstacles()
    np.testing.assert_allclose(crate.T_base_obj, T, atol=1e-9)
    np.testing.assert_allclose(crate.dims, [0.1, 0.1, 0.1], atol=1e-12)
