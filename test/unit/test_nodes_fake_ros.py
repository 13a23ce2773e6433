"""The nodes' logic run in-process against a fake rclpy (test/nodes_fake_ros.py) and the real core.

The twin node plays camera, robot and suction; the vision, classifier and planner nodes talk to it
over the fake bus with the strict rosidl-like message classes. What is checked here is what the
nodes do with messages (conversions, core calls, goals, suction, alarms, parameters); rclpy's own
plumbing is exercised by the launch tests in test/ros/ on a ROS machine.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

import nodes_fake_ros
from factory_ai.types import DefectType, DefectVerdict


class StubClassifier:
    """Stands in for inspection.DefectClassifier: every part is a crack, p = 0.95."""

    version = "stub-1"

    def __init__(self) -> None:
        self.threshold = 0.5
        self.seen_crops: list[np.ndarray] = []

    @classmethod
    def load(cls, path=None):
        return cls()

    def save(self, path) -> None:
        from pathlib import Path

        Path(path).write_bytes(b"stub")

    def set_threshold(self, p: float) -> None:
        self.threshold = float(p)

    def classify(self, crops, track_ids, stamp_s):
        self.seen_crops += list(crops)
        return [
            DefectVerdict(int(t), stamp_s, 0.95, DefectType.CRACK, 0.95, 0.9, 0.95 >= self.threshold, False,
                          heatmap=np.zeros(c.shape[:2], np.float32))
            for t, c in zip(track_ids, crops)
        ]  # fmt: skip


@pytest.fixture
def ros(monkeypatch):
    bus = nodes_fake_ros.install(monkeypatch)
    import factory_ai.inspection

    monkeypatch.setattr(factory_ai.inspection, "DefectClassifier", StubClassifier, raising=False)
    yield bus
    for task in bus.tasks:  # goals still executing when the test ends
        task.coro.close()


def _start(node):
    assert node.trigger_configure().name == "SUCCESS", node.get_logger().records
    assert node.trigger_activate().name == "SUCCESS"
    return node


def _twin(bus, **params):
    from factory_ai.nodes.twin_node import TwinNode

    twin = TwinNode(parameter_overrides={"camera_rate_hz": 15.0, **params})
    return _start(twin)


def _run(bus, twin, seconds: float, dt: float = 0.01, until=None) -> None:
    for _ in range(round(seconds / dt)):
        twin.advance(dt)
        bus.now_s = twin.sim.time_s
        bus.spin()
        for node in list(bus.nodes.values()):
            if hasattr(node, "_on_tick"):
                node._on_tick()
        if until is not None and until():
            return


def test_twin_and_vision_nodes_publish_and_survive_a_malformed_image(ros):
    from factory_ai.nodes.vision_node import VisionNode

    twin = _twin(ros)
    vision = _start(VisionNode())
    _run(ros, twin, 0.5)
    images = ros.published["/camera/image_raw"]
    assert len(images) >= 7 and images[0].encoding == "rgb8" and (images[0].width, images[0].height) == (640, 480)
    assert ros.published["/camera/camera_info"][0].k[0] == 900.0
    assert ros.published["/joint_states"] and ros.published["/clock"]
    parts = [d for m in ros.published["/parts"] for d in m.detections]
    assert parts, "the prefilled belt shows parts in the camera"
    assert all(d.header.frame_id == "base_link" for d in parts)

    bad = images[-1].__class__(height=480, width=640, encoding="rgb8", step=1920)
    bad.data = bytes(100)
    ros.queue.append(("/camera/image_raw", bad))
    n_parts = len(ros.published["/parts"])
    _run(ros, twin, 0.2)
    warnings = [m for lvl, m in vision.get_logger().records if lvl == "warn"]
    assert any("bad image dropped" in m and "truncated" in m for m in warnings), warnings
    assert len(ros.published["/parts"]) > n_parts  # it kept processing the next frames


def test_defective_part_goes_from_camera_to_bin_through_the_nodes(ros):
    from factory_ai.nodes.defect_classifier_node import DefectClassifierNode
    from factory_ai.nodes.trajectory_planner_node import TrajectoryPlannerNode
    from factory_ai.nodes.vision_node import VisionNode

    twin = _twin(ros, defect_rate=1.0)
    _start(VisionNode())
    classifier = _start(DefectClassifierNode())
    # wall-clock planning budget: generous here, the test shares 2 cores and steps the sim itself
    planner = _start(TrajectoryPlannerNode(parameter_overrides={"time_budget_s": 0.5}))
    t0 = time.perf_counter()

    def in_bin() -> bool:
        return any(s.values[1].value == "in_bin" for m in ros.published["/twin/part_events"] for s in m.status)

    _run(ros, twin, 20.0, until=in_bin)
    wall = time.perf_counter() - t0
    print(f"sim {twin.sim.time_s:.1f} s in {wall:.1f} s wall")
    assert ros.published["/verdicts"], "no verdicts"
    assert classifier.stage.classifier.seen_crops[0].shape == (96, 96, 3)
    assert planner.action_client.sent, "no FollowJointTrajectory goal"
    assert in_bin(), f"no part in the bin after {twin.sim.time_s:.1f} s; planner log {planner.get_logger().records[-5:]}"
    outcomes = [s for m in ros.published["/pick_outcomes"] for s in m.status]
    assert any(s.message.endswith("in_bin") for s in outcomes)


def test_learner_node_records_outcomes_and_pushes_threshold_and_corrections(ros, tmp_path):
    from factory_ai.nodes import convert
    from factory_ai.nodes.defect_classifier_node import DefectClassifierNode
    from factory_ai.nodes.feedback_learner_node import FeedbackLearnerNode
    from factory_ai.nodes.trajectory_planner_node import TrajectoryPlannerNode
    from factory_ai.types import InspectionLabel, PickOutcome, PickResult

    classifier = _start(DefectClassifierNode())
    planner = _start(TrajectoryPlannerNode())
    learner = _start(FeedbackLearnerNode(parameter_overrides={"db_path": str(tmp_path / "learner.sqlite")}))
    try:
        msgs = classifier.msgs
        verdict = DefectVerdict(5, 1.0, 0.9, DefectType.CHIP, 0.9, 0.8, True)
        ros.queue.append(("/verdicts", convert.verdicts_to_detections(msgs, [verdict], 1.0, "cam")))
        ros.queue.append(("/inspection_labels", convert.labels_to_detections(msgs, [InspectionLabel(5, 3.0, True, DefectType.CHIP)], 3.0)))
        pick = PickOutcome(5, 2.0, PickResult.IN_BIN, predicted_grasp_time_s=1.9)
        ros.queue.append(("/pick_outcomes", convert.pick_outcomes_to_diagnostics(msgs, [pick], 2.0)))
        ros.spin()
        s = learner.learner.summary()
        assert (s["verdicts"], s["labels"], s["picks"]) == (1, 1, 1)
        learner.learner._threshold = 0.37  # as a recalibration would leave it
        learner._on_push_timer()
        ros.spin()
        assert classifier.get_parameter("threshold").value == 0.37
        assert classifier.classifier.threshold == 0.37  # applied to the live model at once
        c = learner.learner.corrections
        assert planner.get_parameter("belt_speed_scale").value == float(c.belt_speed_scale)
        assert planner.get_parameter("latency_correction_s").value == float(c.latency_s)
        live_file = Path(classifier.get_parameter("model_path").value)
        assert live_file.is_file() and live_file.parent == learner.learner.model_dir  # the live version's file
        learner._on_diagnostics_timer()
        status = ros.published["/diagnostics"][-1].status[0]
        assert {kv.key for kv in status.values} >= {"model_version", "threshold", "escape_rate_estimate"}
    finally:
        learner.on_deactivate(None)
        learner.release()


def _report(ros, msgs, track_id: int, x_m: float, now_s: float) -> None:
    from factory_ai.nodes import convert
    from factory_ai.types import PartObservation

    part = PartObservation(track_id, now_s, np.array([x_m, 0.45, 0.01]), 0.0, np.array([0.2, 0.0, 0.0]), (1, 2, 3, 4))
    verdict = DefectVerdict(track_id, now_s, 0.97, DefectType.CRACK, 0.97, 0.9, True)
    ros.queue.append(("/parts", convert.parts_to_detections(msgs, [part], now_s, "cam")))
    ros.queue.append(("/verdicts", convert.verdicts_to_detections(msgs, [verdict], now_s, "cam")))


def test_planner_node_replaces_the_goal_in_flight_and_alarms_unreachable_parts(ros):
    from factory_ai.nodes import convert
    from factory_ai.nodes.trajectory_planner_node import TrajectoryPlannerNode

    twin = _twin(ros)
    planner = _start(TrajectoryPlannerNode(parameter_overrides={"time_budget_s": 0.5}))
    _run(ros, twin, 0.05)  # joint states reach the planner
    _report(ros, planner.msgs, 901, -0.45, twin.sim.time_s)
    _run(ros, twin, 0.2, until=lambda: planner.action_client.sent)
    assert len(planner.action_client.sent) == 1
    first = ros.action_servers["/joint_trajectory_controller/follow_joint_trajectory"].goals[0]
    _run(ros, twin, 0.1)
    assert first.status == 2  # executing: the arm is on its way
    _report(ros, planner.msgs, 902, -0.55, twin.sim.time_s)  # a second defect during the approach
    _run(ros, twin, 0.2, until=lambda: len(planner.action_client.sent) > 1)
    assert len(planner.action_client.sent) == 2, "no replacement goal"
    _run(ros, twin, 0.05)
    assert first.status == 6 and first.result_future.result().result.error_string == "preempted by a new goal"
    # A part already past the arm's reach: explicit alarm with its id, never a silent pass.
    _report(ros, planner.msgs, 903, 0.95, twin.sim.time_s)
    _run(ros, twin, 0.3, until=lambda: any(convert.diagnostics_to_alarms(m) for m in ros.published["/diagnostics"]))
    alarms = {a.track_id: a for m in ros.published["/diagnostics"] for a in convert.diagnostics_to_alarms(m)}
    assert 903 in alarms and alarms[903].kind == "cannot_reject", alarms
    assert "window" in alarms[903].detail
    status = next(s for m in ros.published["/diagnostics"] for s in m.status if "part 903" in s.message)
    assert convert.diagnostic_level(status.level) == 2  # ERROR


# -- MoveIt's planning scene (issue 11) ------------------------------------------------------------


def _moveit_scene(objects: list[tuple[str, int, list[float], list[float]]], is_diff: bool = True, planes: int = 0):
    """A moveit_msgs/PlanningScene as a subscriber gets it: built with the rosbags Jazzy +
    moveit_msgs namespace, then CDR bytes and back. Objects are (id, operation, p_base_m,
    box size_m) in base_link; `planes` adds that many plane-only objects."""
    from factory_ai.geometry import T_from_xyz_rpy
    from factory_ai.nodes.planning_scene import BOX, moveit_rosbags_types, pose_msg

    m = moveit_rosbags_types()
    objs = [
        m.CollisionObject(
            header=m.Header(frame_id="base_link"),
            pose=pose_msg(m, T_from_xyz_rpy(p_base_m, [0.0, 0.0, 0.0])),
            id=oid,
            primitives=[m.SolidPrimitive(type=BOX, dimensions=np.asarray(size_m, dtype=float))],
            primitive_poses=[pose_msg(m, np.eye(4))],
            operation=op,
        )
        for oid, op, p_base_m, size_m in objects
    ]
    objs += [
        m.CollisionObject(
            header=m.Header(frame_id="base_link"), id=f"floor{k}",
            planes=[m.Plane(coef=np.array([0.0, 0.0, 1.0, 0.0]))], plane_poses=[pose_msg(m, np.eye(4))],
        )
        for k in range(planes)
    ]  # fmt: skip
    scene = m.PlanningScene(world=m.PlanningSceneWorld(collision_objects=objs), is_diff=is_diff)
    return m.deserialize(m.serialize(scene, "PlanningScene"), "PlanningScene")


def _moveit_box_scene(box_id: str, p_base_m, size_m):
    """A PlanningScene diff that adds one box (see `_moveit_scene`)."""
    return _moveit_scene([(box_id, 0, list(p_base_m), list(size_m))])


def _alarms(ros) -> dict:
    from factory_ai.nodes import convert

    return {a.track_id: a for m in ros.published["/diagnostics"] for a in convert.diagnostics_to_alarms(m)}


@pytest.mark.parametrize("where", ["across_the_path", "off_the_path"])
def test_box_from_moveits_scene_is_avoided_by_the_next_plan_or_the_part_refused(ros, cell, where):
    """A box an integrator adds in MoveIt while a part is pending with its plan in flight: the
    planner node has it as an obstacle and replans on its next tick. Across the arm's path to
    the bin (it blocks the plan in flight), the new goal passes an independent feasibility
    checker that has the box, or the part gets cannot_reject and the arm stops; off the path,
    the replacement goal passes the checker."""
    from factory_ai.nodes.planning_scene import SceneObstacles, cell_fixture_obstacles, static_frames
    from factory_ai.nodes.trajectory_planner_node import TrajectoryPlannerNode
    from factory_ai.planning import FeasibilityChecker
    from factory_ai.planning.collision import CollisionModel
    from factory_ai.robot import load_joint_limits

    twin = _twin(ros)
    planner = _start(TrajectoryPlannerNode(parameter_overrides={"time_budget_s": 2.0}))
    _run(ros, twin, 0.05)  # joint states reach the planner
    _report(ros, planner.msgs, 911, -0.45, twin.sim.time_s)
    _run(ros, twin, 0.2, until=lambda: planner.action_client.sent)
    before = planner.scheduler.active
    assert before is not None and before.track_id == 911
    first_goal = ros.action_servers["/joint_trajectory_controller/follow_joint_trajectory"].goals[0]

    if where == "across_the_path":  # 8 x 8 x 25 cm where the cup crosses y = 0.25 m (bin side)
        cup = np.array([planner.robot.fk(q)[:3, 3] for q in before.trajectory.q_rad])
        p_box, size = cup[np.argmin(np.abs(cup[:, 1] - 0.25))], [0.08, 0.08, 0.25]
    else:  # behind the arm, away from the belt, the bin and the path between them
        p_box, size = np.array([-0.35, -0.45, 0.30]), [0.10, 0.10, 0.10]
    scene = _moveit_box_scene("crate", p_box, size)
    ros.queue.append(("/monitored_planning_scene", scene))
    ros.spin()
    names = [o.name for o in planner.planner.collision.obstacles()]
    assert "moveit/crate/0" in names, names

    # The independent checker gets its own collision world with the same box.
    robot, limits = planner.robot, load_joint_limits(planner.robot)
    world = CollisionModel.from_urdf(cell.arm.urdf_path, robot.joint_names, cell, tip_frame=cell.arm.tip_frame)
    sync = SceneObstacles(static_frames(cell.arm.urdf_path), ignore_ids=[o.name for o in cell_fixture_obstacles(cell)])
    sync.apply_scene(scene)
    sync.sync_into(world)
    checker = FeasibilityChecker(robot, cell, limits, collision=world)
    motion = planner.planner.part_motion(planner.parts[911])

    def check(plan):
        return checker.check(plan.trajectory, part=motion, grasp_time_s=plan.grasp_time_s, suction_off_s=plan.suction_off_s)

    blocked = not check(before).ok
    assert blocked == (where == "across_the_path"), "the box is not where the test means it to be"
    n_goals = len(planner.action_client.sent)
    _run(ros, twin, 0.01)  # one scheduler tick
    alarms = _alarms(ros)
    if 911 in alarms:
        assert blocked and alarms[911].kind == "cannot_reject" and alarms[911].detail, alarms[911]
        assert planner.scheduler.active is None and 911 not in planner.scheduler.pending
        assert first_goal.is_cancel_requested  # the arm stops instead of carrying on into the box
    else:
        after = planner.scheduler.active
        assert len(planner.action_client.sent) == n_goals + 1, "no replacement goal within one tick"
        assert after is not before and after.track_id == 911
        report = check(after)
        assert report.ok, str(report)
        sent = planner.action_client.sent[-1].trajectory
        np.testing.assert_allclose([p.positions for p in sent.points], after.trajectory.q_rad)
    print(where, "->", alarms.get(911) or "replanned; the new goal passes the checker")


def test_planner_node_publishes_the_cell_to_moveit_and_loads_move_groups_scene(ros, cell):
    """On activation: the cell's fixtures go to /planning_scene (reliable, transient local), the
    full scene comes from /get_planning_scene (its pallet becomes an obstacle, its plane is
    reported, not dropped silently), and later diffs on the monitored scene update the model."""
    import sys
    import types

    from factory_ai.nodes.planning_scene import WORLD_COMPONENTS, cell_fixture_obstacles
    from factory_ai.nodes.trajectory_planner_node import TrajectoryPlannerNode

    requests = []
    # move_group's full scene: an integrator's pallet and floor plane, no factory_ai fixtures yet.
    full = _moveit_scene([("pallet", 0, [0.2, -0.6, 0.1], [0.4, 0.3, 0.2])], is_diff=False, planes=1)

    def get_planning_scene(request, response):
        requests.append(int(request.components.components))
        return types.SimpleNamespace(scene=full)

    srv = sys.modules["moveit_msgs.srv"].GetPlanningScene
    ros.services["/get_planning_scene"] = nodes_fake_ros.Service("/get_planning_scene", srv, get_planning_scene)
    planner = _start(TrajectoryPlannerNode())

    fixtures = [o.name for o in cell_fixture_obstacles(cell)]
    published = ros.published["/planning_scene"]
    assert len(published) == 2  # at activation, and again since move_group's scene lacked them
    for msg in published:
        assert msg.is_diff and [o.id for o in msg.world.collision_objects] == fixtures
        assert {o.header.frame_id for o in msg.world.collision_objects} == {cell.arm.base_frame}
    (pub,) = [e for e in planner._entities if getattr(e, "topic", "") == "/planning_scene"]
    assert (pub.qos.reliability.name, pub.qos.durability.name) == ("RELIABLE", "TRANSIENT_LOCAL")
    assert requests == [WORLD_COMPONENTS]
    assert "moveit/pallet/0" in [o.name for o in planner.planner.collision.obstacles()]
    warnings = [m for lvl, m in planner.get_logger().records if lvl == "warn"]
    assert any("floor0" in m and "plane" in m for m in warnings), warnings

    ros.queue.append(("/monitored_planning_scene", _moveit_scene([("pallet", 1, [0.0] * 3, [0.1] * 3)])))  # REMOVE
    ros.spin()
    assert "moveit/pallet/0" not in [o.name for o in planner.planner.collision.obstacles()]
    planner._on_diagnostics_timer()
    status = ros.published["/diagnostics"][-1].status[0]
    assert {kv.key: kv.value for kv in status.values}["moveit_obstacles"] == "0"


class StubValidator:
    """Stands in for moveit_backend.TrajectoryValidator (MoveItPy is not installable here):
    accepts the trajectories `verdicts` says, plans a short return to ready, counts refreshes."""

    def __init__(self, node, verdicts) -> None:
        from factory_ai.types import JointTrajectory

        self.node, self.verdicts = node, list(verdicts)
        self.checked: list[tuple] = []
        self.refreshes = self.released = 0
        ready = np.asarray(node.cell.arm.ready_q_rad)
        self.ready = JointTrajectory(node.robot.joint_names, np.array([0.0, 1.0]), np.stack([ready, ready]), np.zeros((2, 6)), np.zeros((2, 6)))
        self.ready_calls = 0

    def is_valid(self, traj, grasp_window_s=None) -> bool:
        self.checked.append((traj, grasp_window_s))
        return self.verdicts.pop(0)

    def plan_to_ready(self):
        self.ready_calls += 1
        return self.ready

    def refresh_scene(self) -> bool:
        self.refreshes += 1
        return True

    def release(self) -> None:
        self.released += 1


@pytest.mark.parametrize("retry_ok", [True, False], ids=["retry_accepted", "retry_refused"])
def test_moveit_backend_checks_each_goal_replans_with_twice_the_margin_or_alarms(ros, monkeypatch, retry_ok):
    """planning_backend:=moveit: a trajectory MoveIt refuses is not sent; the part is replanned
    once with twice the collision margin, and if MoveIt refuses that too, the part gets
    cannot_reject and the arm goes back to ready on MoveIt's plan."""
    from factory_ai.nodes import moveit_backend
    from factory_ai.nodes.trajectory_planner_node import TrajectoryPlannerNode

    stubs = []
    monkeypatch.setattr(moveit_backend, "TrajectoryValidator", lambda node: stubs.append(StubValidator(node, [False, retry_ok])) or stubs[-1])
    twin = _twin(ros)
    planner = _start(TrajectoryPlannerNode(parameter_overrides={"time_budget_s": 2.0, "planning_backend": "moveit"}))
    (stub,) = stubs
    margins = []
    plan = planner.planner.plan
    monkeypatch.setattr(planner.planner, "plan", lambda *a, **k: margins.append(planner.planner.config.collision_margin_m) or plan(*a, **k))
    base_margin = planner.planner.config.collision_margin_m

    _run(ros, twin, 0.05)
    _report(ros, planner.msgs, 921, -0.45, twin.sim.time_s)
    _run(ros, twin, 0.2, until=lambda: len(stub.checked) >= 2)
    assert margins == [base_margin, 2 * base_margin] and planner.planner.config.collision_margin_m == base_margin
    (first, window), (retry, _) = stub.checked
    assert 0.0 < window[0] < window[1] < first.t_s[-1]  # the cup may touch the belt only around the grasp
    alarms = _alarms(ros)
    if retry_ok:
        (goal,) = planner.action_client.sent
        np.testing.assert_allclose([p.positions for p in goal.trajectory.points], retry.q_rad)  # not the refused one
        assert planner.scheduler.active.trajectory is retry and 921 not in alarms
    else:
        assert alarms[921].kind == "cannot_reject" and "MoveIt" in alarms[921].detail
        assert not planner.action_client.sent and planner.scheduler.active is None and not planner.scheduler.pending
        # MoveIt plans the way back on a worker thread; a later tick sends it.
        planner._ready_future.result(timeout=5.0)
        _run(ros, twin, 0.02)
        (goal,) = planner.action_client.sent
        np.testing.assert_allclose([p.positions for p in goal.trajectory.points], stub.ready.q_rad)
        assert stub.ready_calls == 1

    # A scene change also refreshes MoveIt's own copy of the scene (off the executor thread).
    ros.queue.append(("/monitored_planning_scene", _moveit_box_scene("crate", [-0.35, -0.45, 0.3], [0.1] * 3)))
    ros.spin()
    planner._refresh_future.result(timeout=5.0)
    assert stub.refreshes == 1
    planner.on_cleanup(None)
    assert stub.released == 1 and planner.validator is None
