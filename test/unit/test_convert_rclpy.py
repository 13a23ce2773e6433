"""The same conversions through the rclpy path: message classes as strict as rosidl_generator_py's.

rclpy cannot be installed here; `nodes_helpers.strict_rclpy_classes` builds classes from the
Jazzy definitions whose setters assert exactly what the generated ones do (a float, not an int
or numpy.float32; array.array for sequences; bytes for `byte`). A builder that passes numpy values
where rclpy refuses them fails here, not on an integrator's machine.
"""

from __future__ import annotations

import array

import numpy as np
import pytest

from factory_ai.nodes import convert
from factory_ai.types import Alarm, DefectType, DefectVerdict, JointState, PartObservation, RejectPlan, RejectStatus
from nodes_helpers import strict_rclpy_classes

JOINTS = ("shoulder_pan_joint", "shoulder_lift_joint", "elbow_joint", "wrist_1_joint", "wrist_2_joint", "wrist_3_joint")


@pytest.fixture(scope="module")
def rmsgs() -> convert.RclpyTypes:
    store = convert.rosbags_types().typestore
    classes = strict_rclpy_classes(store, list(convert.TYPE_NAMES.values()))
    return convert.RclpyTypes({short: classes[full] for short, full in convert.TYPE_NAMES.items()})


def test_strict_classes_refuse_what_rclpy_refuses(rmsgs):
    Image = rmsgs.Image.cls
    with pytest.raises(AssertionError):
        Image(height=1.0)  # a float for uint32
    with pytest.raises(AssertionError):
        Image(data=np.zeros(3, np.uint8))  # numpy for sequence<uint8>
    with pytest.raises(AssertionError):
        rmsgs.Point.cls(x=1)  # an int for float64
    assert rmsgs.DiagnosticStatus.ERROR == b"\x02"  # byte constants are bytes in rclpy


def test_images_through_rclpy_classes(rmsgs):
    rgb = np.random.default_rng(1).integers(0, 255, (4, 6, 3), dtype=np.uint8)
    msg = convert.image_msg(rmsgs, rgb, "rgb8", 2.5, "cam")
    assert isinstance(msg.data, array.array) and msg.data.typecode == "B"
    np.testing.assert_array_equal(convert.image_to_rgb(msg), rgb)
    depth = np.random.default_rng(2).random((4, 6)).astype(np.float32)
    np.testing.assert_array_equal(convert.image_to_numpy(convert.image_msg(rmsgs, depth, "32FC1", 0.0, "c")), depth)


def test_camera_info_through_rclpy_classes(rmsgs, cell):
    msg = convert.camera_info_from_description(rmsgs, cell.camera, 1.0)
    assert isinstance(msg.k, np.ndarray) and isinstance(msg.d, array.array)
    np.testing.assert_allclose(convert.camera_info_to_intrinsics(msg).K, cell.camera.K)


def test_parts_verdicts_labels_through_rclpy_classes(rmsgs, cell):
    part = PartObservation(
        3, 1.25, np.array([-0.5, 0.45, 0.01], np.float32), np.float32(0.3), np.array([0.2, 0, 0]), (1, 2, 30, 40),
        crop_center_px=np.array([15.0, 21.0]), crop_angle_rad=np.float64(0.1), crop_extent_px=40.0,
    )  # fmt: skip
    msg = convert.parts_to_detections(rmsgs, [part], 1.25, "cam", cell.camera.T_base_camera)
    back = convert.detections_to_parts(msg)[0]
    np.testing.assert_allclose(back.p_base_m, part.p_base_m, rtol=1e-6)
    assert back.track_id == 3 and back.bbox_px == (1, 2, 30, 40)
    verdict = DefectVerdict(3, 1.25, np.float32(0.9), DefectType.HOLE, 0.8, 0.7, np.bool_(True))
    v = convert.detections_to_verdicts(convert.verdicts_to_detections(rmsgs, [verdict], 1.25, "cam", {3: part}))[0]
    assert v.reject and v.defect_type == DefectType.HOLE and v.p_defect == pytest.approx(0.9)


def test_trajectory_goal_and_joint_state_through_rclpy_classes(rmsgs):
    t = np.linspace(0.0, 1.0, 5)
    q = np.tile(np.linspace(0, 1, 6), (5, 1)) * t[:, None]
    from factory_ai.types import JointTrajectory

    traj = JointTrajectory(JOINTS, t, q, np.zeros_like(q), np.zeros_like(q), 4.0)
    goal = convert.follow_joint_trajectory_goal(rmsgs, traj, 0.5)
    assert isinstance(goal.trajectory.points[0].positions, array.array)
    back = convert.trajectory_from_msg(goal.trajectory, JOINTS)
    np.testing.assert_allclose(back.q_rad, q)
    state = JointState(JOINTS, np.arange(6.0), np.zeros(6), np.zeros(6), 1.0)
    np.testing.assert_allclose(convert.joint_state_from_msg(convert.joint_state_msg(rmsgs, state)).q_rad, np.arange(6.0))


def test_diagnostics_markers_parameters_through_rclpy_classes(rmsgs):
    msg = convert.alarms_to_diagnostics(rmsgs, [Alarm(5, 2.0, "cannot_reject", "far")], 2.0, "planner")
    assert msg.status[0].level == b"\x02" and convert.diagnostic_level(msg.status[0].level) == 2
    assert convert.diagnostics_to_alarms(msg)[0].track_id == 5
    plan = RejectPlan(1, RejectStatus.PLANNED, p_grasp_base_m=np.array([0.1, 0.4, 0.02]))
    markers = convert.plan_markers(rmsgs, [plan], {1: np.zeros((4, 3))}, 3.0)
    assert markers.markers[0].action == rmsgs.Marker.DELETEALL
    req = convert.set_parameters_request(rmsgs, {"threshold": np.float64(0.25), "views": 2, "name": "x"})
    assert [convert.parameter_value_to_python(p.value) for p in req.parameters] == [0.25, 2, "x"]
    assert convert.clock_msg(rmsgs, 3.5).clock.sec == 3
    assert rmsgs.SetBool_Request(data=True).data is True
