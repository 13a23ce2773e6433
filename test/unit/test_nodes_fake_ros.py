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
