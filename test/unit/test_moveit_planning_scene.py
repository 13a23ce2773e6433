"""MoveIt planning scene <-> the planner's collision model: Jazzy moveit_msgs definitions in a
rosbags type store, CDR round trips, every CollisionObject operation, and a box an integrator
adds in MoveIt being avoided (or the part refused) by the planner."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from factory_ai.geometry import T_from_xyz_rpy, T_inv
from factory_ai.nodes.moveit_msg_defs import MOVEIT_MSG_DEFS, register_moveit_types
from factory_ai.nodes.planning_scene import (
    ADD,
    APPEND,
    BOX,
    CONE,
    CYLINDER,
    MOVE,
    PRISM,
    REMOVE,
    SPHERE,
    SceneObstacles,
    cell_fixture_obstacles,
    collision_object_msg,
    get_planning_scene_request,
    moveit_rosbags_types,
    planning_scene_diff,
    pose_msg,
    static_frames,
)
from factory_ai.planning.collision import CollisionModel, Obstacle

REPO = Path(__file__).resolve().parents[2]
ARM_URDF = REPO / "urdf" / "factory_arm.urdf"
ARM_JOINTS = ("shoulder_pan_joint", "shoulder_lift_joint", "elbow_joint", "wrist_1_joint", "wrist_2_joint", "wrist_3_joint")


@pytest.fixture(scope="module")
def m():
    return moveit_rosbags_types()


@pytest.fixture(scope="module")
def frames():
    return static_frames(ARM_URDF, "base_link")


def _cdr(m, msg, short: str = "PlanningScene"):
    """What a subscriber gets: the message through Jazzy CDR bytes."""
    data = m.serialize(msg, short)
    assert isinstance(data, bytes) and len(data) > 0
    return m.deserialize(data, short)


def _header(m, frame: str):
    return m.Header(frame_id=frame)


def _object(m, oid: str, frame: str, T_obj, shapes=(), meshes=(), planes: int = 0, operation: int = ADD):
    """CollisionObject with primitives [(type, dims, T_obj_shape[, polygon])], meshes [(vertices, T)]."""
    prims, prim_poses = [], []
    for s in shapes:
        kind, dims, T = s[:3]
        poly = m.Polygon(points=[m.Point32(x=float(x), y=float(y), z=0.0) for x, y in (s[3] if len(s) > 3 else [])])
        prims.append(m.SolidPrimitive(type=kind, dimensions=np.asarray(dims, dtype=float), polygon=poly))
        prim_poses.append(pose_msg(m, T))
    mesh_msgs, mesh_poses = [], []
    for verts, T in meshes:
        mesh_msgs.append(
            m.Mesh(
                vertices=[m.Point(x=float(a), y=float(b), z=float(c)) for a, b, c in verts],
                triangles=[m.MeshTriangle(vertex_indices=np.array([0, 1, 2], dtype=np.uint32))],
            )
        )
        mesh_poses.append(pose_msg(m, T))
    return m.CollisionObject(
        header=_header(m, frame),
        pose=pose_msg(m, T_obj),
        id=oid,
        primitives=prims,
        primitive_poses=prim_poses,
        meshes=mesh_msgs,
        mesh_poses=mesh_poses,
        planes=[m.Plane(coef=np.array([0.0, 0.0, 1.0, 0.0])) for _ in range(planes)],
        plane_poses=[pose_msg(m, np.eye(4)) for _ in range(planes)],
        operation=operation,
    )


def _scene(m, objects, is_diff: bool = False):
    return m.PlanningScene(
        name="test", robot_model_name="factory_arm", world=m.PlanningSceneWorld(collision_objects=objects), is_diff=is_diff
    )


def test_definitions_register_and_shape_msgs_match_the_jazzy_store():
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    store = get_typestore(Stores.ROS2_JAZZY)
    for name in ("shape_msgs/msg/SolidPrimitive", "shape_msgs/msg/Mesh", "shape_msgs/msg/MeshTriangle", "shape_msgs/msg/Plane"):
        ours = get_types_from_msg(MOVEIT_MSG_DEFS[name], name)[name]
        assert tuple(ours) == tuple(store.fielddefs[name]), name
    register_moveit_types(store)
    for name in MOVEIT_MSG_DEFS:
        assert name in store.types, name


def test_planning_scene_with_every_shape_survives_cdr_and_converts(m, frames, caplog):
    T_obj = T_from_xyz_rpy([0.4, 0.1, 0.3], [0.0, 0.0, 0.7])
    T_box = T_from_xyz_rpy([0.05, 0.0, 0.0], [0.2, 0.0, 0.0])
    square = [(-0.1, -0.05), (0.1, -0.05), (0.1, 0.05), (-0.1, 0.05)]
    tri = [(0.0, 0.0, 0.0), (0.2, 0.0, 0.0), (0.0, 0.1, 0.3)]
    objects = [
        _object(
            m, "fixture", "world", T_obj,
            shapes=[
                (BOX, [0.1, 0.2, 0.3], T_box),
                (SPHERE, [0.05], np.eye(4)),
                (CYLINDER, [0.4, 0.03], np.eye(4)),  # [height, radius]
                (CONE, [0.2, 0.05], np.eye(4)),
                (PRISM, [0.06], np.eye(4), square),
            ],
            meshes=[(tri, np.eye(4))],
            planes=1,
        ),  # fmt: skip
        _object(m, "elsewhere", "camera_frame", np.eye(4), shapes=[(BOX, [0.1, 0.1, 0.1], np.eye(4))]),
    ]
    scene = _cdr(m, _scene(m, objects))
    sync = SceneObstacles(frames)
    with caplog.at_level(logging.WARNING):
        change = sync.apply_scene(scene)
    obs = {o.name: o for o in sync.obstacles()}
    assert set(obs) == {f"moveit/fixture/{k}" for k in range(6)}
    assert set(change.added) == set(obs)
    box = obs["moveit/fixture/0"]
    np.testing.assert_allclose(box.T_base_obj, frames["world"] @ T_obj @ T_box, atol=1e-9)
    np.testing.assert_allclose(box.dims, [0.1, 0.2, 0.3])
    assert (obs["moveit/fixture/1"].shape, obs["moveit/fixture/1"].dims.tolist()) == ("sphere", [0.05])
    assert (obs["moveit/fixture/2"].shape, obs["moveit/fixture/2"].dims.tolist()) == ("cylinder", [0.03, 0.4])
    assert obs["moveit/fixture/3"].dims.tolist() == [0.05, 0.2]  # cone -> bounding cylinder
    np.testing.assert_allclose(obs["moveit/fixture/4"].dims, [0.2, 0.1, 0.06])  # prism -> bounding box
    mesh = obs["moveit/fixture/5"]
    np.testing.assert_allclose(mesh.dims, [0.2, 0.1, 0.3])
    np.testing.assert_allclose(mesh.T_base_obj[:3, 3], (frames["world"] @ T_obj @ T_from_xyz_rpy([0.1, 0.05, 0.15], [0, 0, 0]))[:3, 3])
    # Nothing is dropped silently: the plane and the object in an unknown frame are reported.
    assert any("plane" in s for s in change.skipped)
    text = caplog.text
    assert "plane" in text and "camera_frame" in text and "cone approximated" in text and "mesh approximated" in text


def test_frames_come_from_the_urdf_not_the_cell(m):
    # In the 7-DOF test arm the URDF root 'world' sits 0.82 m away from the base link0.
    from moveit_helpers import seven_dof_collision_urdf

    frames = static_frames(seven_dof_collision_urdf(), "link0")
    T_world_link0 = T_from_xyz_rpy([0.3, -0.2, 0.8], [0.1, -0.05, 0.5]) @ T_from_xyz_rpy([0, 0, 0.02], [0, 0, 0])
    np.testing.assert_allclose(frames["world"], T_inv(T_world_link0), atol=1e-12)
    T_world_obj = T_from_xyz_rpy([1.0, 0.0, 0.5], [0, 0, 0])
    sync = SceneObstacles(frames)
    sync.apply_scene(_cdr(m, _scene(m, [_object(m, "box", "world", T_world_obj, shapes=[(BOX, [0.1] * 3, np.eye(4))])])))
    (o,) = sync.obstacles()
    np.testing.assert_allclose(o.T_base_obj, T_inv(T_world_link0) @ T_world_obj, atol=1e-12)


def test_diff_operations_add_append_move_remove(m, frames):
    sync = SceneObstacles(frames)
    box = (BOX, [0.1, 0.1, 0.1], np.eye(4))
    sync.apply_scene(_cdr(m, _scene(m, [_object(m, "a", "world", T_from_xyz_rpy([0.5, 0, 0], [0, 0, 0]), shapes=[box])])))
    assert sync.object_ids() == ["a"]

    diff = [_object(m, "b", "base_link", T_from_xyz_rpy([0, 0.5, 0], [0, 0, 0]), shapes=[box])]
    change = sync.apply_scene(_cdr(m, _scene(m, diff, is_diff=True)))
    assert change.added == ("moveit/b/0",) and sync.object_ids() == ["a", "b"]

    appended = _object(m, "b", "base_link", T_from_xyz_rpy([0, 0.7, 0], [0, 0, 0]), shapes=[box], operation=APPEND)
    sync.apply_collision_object(_cdr(m, appended, "CollisionObject"))
    obs = {o.name: o for o in sync.obstacles()}
    np.testing.assert_allclose(obs["moveit/b/1"].T_base_obj[:3, 3], [0, 0.7, 0], atol=1e-12)

    moved = m.CollisionObject(header=_header(m, "base_link"), id="b", pose=pose_msg(m, T_from_xyz_rpy([0, -0.5, 0], [0, 0, 0])), operation=MOVE)
    change = sync.apply_collision_object(_cdr(m, moved, "CollisionObject"))
    obs = {o.name: o for o in sync.obstacles()}
    np.testing.assert_allclose(obs["moveit/b/0"].T_base_obj[:3, 3], [0, -0.5, 0], atol=1e-12)
    np.testing.assert_allclose(obs["moveit/b/1"].T_base_obj[:3, 3], [0, -0.3, 0], atol=1e-12)  # shapes move with it
    assert set(change.added) == {"moveit/b/0", "moveit/b/1"}

    change = sync.apply_world(_cdr(m, m.PlanningSceneWorld(collision_objects=[m.CollisionObject(id="a", operation=REMOVE)]), "PlanningSceneWorld"))
    assert change.removed == ("moveit/a/0",) and sync.object_ids() == ["b"]

    sync.apply_collision_object(m.CollisionObject(id="", operation=REMOVE))  # empty id: clear the world
    assert sync.obstacles() == []

    sync.apply_scene(_cdr(m, _scene(m, [_object(m, "c", "world", np.eye(4), shapes=[box])])))
    sync.apply_scene(_cdr(m, _scene(m, [])))  # a full scene replaces everything
    assert sync.object_ids() == []


def test_cell_fixtures_go_to_moveit_and_come_back_unchanged(m, frames, cell):
    fixtures = cell_fixture_obstacles(cell)
    diff = _cdr(m, planning_scene_diff(m, fixtures))
    assert diff.is_diff and len(diff.world.collision_objects) == len(fixtures)
    back = SceneObstacles(frames)
    back.apply_scene(diff)
    got = {o.name.split("/")[1]: o for o in back.obstacles()}
    for o in fixtures:
        np.testing.assert_allclose(got[o.name].T_base_obj, o.T_base_obj, atol=1e-9)
        np.testing.assert_allclose(got[o.name].dims, o.dims, atol=1e-12)
    # Our own fixtures coming back from MoveIt are ignored by id (the model has them already).
    own = SceneObstacles(frames, ignore_ids=[o.name for o in fixtures])
    own.apply_scene(diff)
    assert own.obstacles() == []
    removal = _cdr(m, planning_scene_diff(m, [], remove=["conveyor_belt"]))
    assert removal.world.collision_objects[0].operation == REMOVE
    req = _cdr(m, get_planning_scene_request(m), "GetPlanningScene_Request")
    assert req.components.components == (m.PlanningSceneComponents.WORLD_OBJECT_NAMES | m.PlanningSceneComponents.WORLD_OBJECT_GEOMETRY)


def test_a_box_added_in_moveit_reaches_the_collision_model(m, frames, cell):
    model = CollisionModel.from_urdf(ARM_URDF, ARM_JOINTS, cell)
    q_ready = np.asarray(cell.arm.ready_q_rad)
    from factory_ai.robot import RobotModel

    p_cup = RobotModel.from_urdf(ARM_URDF).fk(q_ready)[:3, 3]
    assert not model.in_collision(q_ready[None])[0]
    # An integrator drops a 10 cm box right where the cup waits.
    box = _object(m, "crate", "world", T_from_xyz_rpy(p_cup, [0, 0, 0]), shapes=[(BOX, [0.1, 0.1, 0.1], np.eye(4))])
    sync = SceneObstacles(frames, ignore_ids=[o.name for o in cell_fixture_obstacles(cell)])
    sync.apply_scene(_cdr(m, _scene(m, [box], is_diff=True)))
    n_cell = len(model.obstacles())
    change = sync.sync_into(model)
    assert change.added == ("moveit/crate/0",) and len(model.obstacles()) == n_cell + 1
    assert model.in_collision(q_ready[None])[0]
    sync.apply_collision_object(_cdr(m, m.CollisionObject(id="crate", operation=REMOVE), "CollisionObject"))
    change = sync.sync_into(model)
    assert change.removed == ("moveit/crate/0",) and len(model.obstacles()) == n_cell
    assert not model.in_collision(q_ready[None])[0]
    assert sync.sync_into(model) == type(change)()  # nothing left to do


def test_collision_object_msg_refuses_unknown_shapes(m):
    with pytest.raises(ValueError, match="no SolidPrimitive"):
        collision_object_msg(m, Obstacle("x", "torus", np.eye(4), np.array([1.0])))


def test_box_across_the_path_from_a_moveit_scene_is_avoided_or_the_part_refused(m, frames, cell):
    """PlanningScene CDR bytes -> conversion -> planner: a crate an integrator drops across the
    arm's path to the bin. The new plan passes an independent checker that has the crate, or the
    part gets cannot_reject with a reason; the old plan now fails (the crate really blocks it)."""
    from factory_ai.planning import FeasibilityChecker, PlannerConfig, RejectPlanner
    from factory_ai.robot import RobotModel, load_joint_limits
    from factory_ai.types import JointState, PartObservation, RejectStatus

    robot = RobotModel.from_urdf(cell.arm.urdf_path, base_frame=cell.arm.base_frame, tip_frame=cell.arm.tip_frame)
    limits = load_joint_limits(robot)
    # A generous time budget: this test is about obstacles, not about the 2-core CI's latency.
    planner = RejectPlanner(robot, cell, limits, PlannerConfig(time_budget_s=2.0))
    state = JointState(robot.joint_names, np.asarray(cell.arm.ready_q_rad), np.zeros(6), np.zeros(6), 0.0)
    p_belt = cell.T_base_belt[:3, 3]
    v_belt = cell.conveyor.speed_mps * cell.T_base_belt[:3, 0]
    part = PartObservation(7, 0.0, np.array([-0.30, p_belt[1], p_belt[2]]), 0.0, v_belt, (0, 0, 1, 1))

    (before,) = planner.plan(state, [part], 0.0)
    assert before.status == RejectStatus.PLANNED, before.reason
    # The crate: 8 x 8 x 25 cm, centred where the cup crosses y = 0.25 m on its way to the bin.
    cup = np.array([robot.fk(q)[:3, 3] for q in before.trajectory.q_rad])
    crossing = cup[np.argmin(np.abs(cup[:, 1] - 0.25))]
    size = [0.08, 0.08, 0.25]
    crate = _object(m, "crate", "world", T_from_xyz_rpy(crossing, [0, 0, 0]), shapes=[(BOX, size, np.eye(4))])
    scene = _cdr(m, _scene(m, [crate], is_diff=True))

    own_ids = [o.name for o in cell_fixture_obstacles(cell)]
    assert SceneObstacles(frames, ignore_ids=own_ids).apply_scene(scene).added  # (the planner's copy below)
    planner_sync = SceneObstacles(frames, ignore_ids=own_ids)
    planner_sync.apply_scene(scene)
    planner_sync.sync_into(planner.collision)
    # The independent checker gets its own collision world with the same crate.
    checker_world = CollisionModel.from_urdf(cell.arm.urdf_path, robot.joint_names, cell, tip_frame=cell.arm.tip_frame)
    checker_sync = SceneObstacles(frames, ignore_ids=own_ids)
    checker_sync.apply_scene(scene)
    checker_sync.sync_into(checker_world)
    checker = FeasibilityChecker(robot, cell, limits, collision=checker_world)

    def check(plan):
        return checker.check(
            plan.trajectory, start_state=state, part=planner.part_motion(part),
            grasp_time_s=plan.grasp_time_s, suction_off_s=plan.suction_off_s,
        )  # fmt: skip

    assert not check(before).ok, "the crate does not block the old path; the test proves nothing"
    planner.reset()
    (after,) = planner.plan(state, [part], 0.0)
    if after.status == RejectStatus.PLANNED:
        report = check(after)
        assert report.ok, str(report)
    else:
        assert after.status == RejectStatus.CANNOT_REJECT and after.reason, after
