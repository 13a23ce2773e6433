"""Conversions between factory_ai types and ROS 2 Jazzy messages, checked against rosbags' Jazzy
type store: every message is CDR-serialized and deserialized, then read back into our types."""

from __future__ import annotations

import math

import numpy as np
import pytest

from factory_ai.nodes import convert
from factory_ai.types import (
    Alarm,
    DefectType,
    DefectVerdict,
    InspectionLabel,
    JointState,
    JointTrajectory,
    PartObservation,
    PickOutcome,
    PickResult,
    RejectPlan,
    RejectStatus,
)

JOINTS = ("shoulder_pan_joint", "shoulder_lift_joint", "elbow_joint", "wrist_1_joint", "wrist_2_joint", "wrist_3_joint")


@pytest.fixture(scope="module")
def msgs() -> convert.RosbagsTypes:
    return convert.rosbags_types()


def cdr(msgs: convert.RosbagsTypes, short: str, msg):
    """Serialize to CDR bytes and back, as a ROS 2 subscriber (or `ros2 bag play`) would see it."""
    store = msgs.typestore
    data = store.serialize_cdr(msg, msgs.typename(short))
    return store.deserialize_cdr(data, msgs.typename(short))


def same(a, b) -> bool:
    """Deep equality of messages holding numpy arrays."""
    if hasattr(a, "__dataclass_fields__"):
        return type(a) is type(b) and all(same(getattr(a, f), getattr(b, f)) for f in a.__dataclass_fields__)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a), np.asarray(b))
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def test_every_message_type_the_nodes_use_serializes(msgs):
    for short, full in convert.TYPE_NAMES.items():
        msg = getattr(msgs, short)()
        assert msg.__msgtype__ == full
        assert same(cdr(msgs, short, msg), msg), short
    assert msgs.Quaternion().w == 1.0  # the IDL default: an identity rotation


def test_vision_msgs_definitions_are_the_jazzy_release(msgs):
    fields = dict(msgs.typestore.fielddefs["vision_msgs/msg/Detection2D"][1])
    assert list(fields) == ["header", "results", "bbox", "id"]
    hyp = [n for n, _ in msgs.typestore.fielddefs["vision_msgs/msg/ObjectHypothesisWithPose"][1]]
    assert hyp == ["hypothesis", "pose"]  # vision_msgs >= 4: no top-level id/score
    fb = [n for n, _ in msgs.typestore.fielddefs["control_msgs/action/FollowJointTrajectory_Feedback"][1]]
    assert "index" not in fb  # the `index` field only exists after Jazzy (control_msgs 6)


# -- time ---------------------------------------------------------------------------------------


def test_time_round_trip_and_rounding(msgs):
    t = cdr(msgs, "Time", convert.time_msg(msgs, 1.5))
    assert (t.sec, t.nanosec) == (1, 500_000_000)
    assert convert.time_to_s(t) == 1.5
    carry = convert.time_msg(msgs, 2.9999999999)
    assert (carry.sec, carry.nanosec) == (3, 0)
    clock = cdr(msgs, "Clock", convert.clock_msg(msgs, 12.25))
    assert convert.time_to_s(clock.clock) == 12.25
    with pytest.raises(ValueError, match="stamp"):
        convert.time_msg(msgs, -0.1)
    with pytest.raises(ValueError, match="duration"):
        convert.duration_msg(msgs, float("nan"))


# -- images -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "shape", "dtype"),
    [
        ("rgb8", (6, 5, 3), np.uint8),
        ("bgr8", (6, 5, 3), np.uint8),
        ("mono8", (6, 5), np.uint8),
        ("16UC1", (6, 5), np.uint16),
        ("32FC1", (6, 5), np.float32),
    ],
)
def test_image_round_trip(msgs, encoding, shape, dtype):
    rng = np.random.default_rng(0)
    arr = (rng.random(shape) * 1000).astype(dtype)
    msg = cdr(msgs, "Image", convert.image_msg(msgs, arr, encoding, 3.25, "cam"))
    assert (msg.encoding, msg.height, msg.width, msg.header.frame_id) == (encoding, 6, 5, "cam")
    np.testing.assert_array_equal(convert.image_to_numpy(msg), arr)


def test_image_to_rgb_swaps_bgr_and_expands_mono(msgs):
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[..., 0] = 200  # red
    bgr = rgb[..., ::-1].copy()
    np.testing.assert_array_equal(convert.image_to_rgb(convert.image_msg(msgs, bgr, "bgr8", 0.0, "c")), rgb)
    mono = np.full((2, 3), 7, np.uint8)
    out = convert.image_to_rgb(convert.image_msg(msgs, mono, "mono8", 0.0, "c"))
    assert out.shape == (2, 3, 3) and np.all(out == 7)
    with pytest.raises(convert.ImageConversionError, match="not a colour image"):
        convert.image_to_rgb(convert.image_msg(msgs, np.zeros((2, 3), np.float32), "32FC1", 0.0, "c"))


def test_image_with_padded_rows_and_big_endian_data(msgs):
    arr = np.arange(12, dtype=np.uint16).reshape(3, 4) * 300
    step = 4 * 2 + 6  # 6 bytes of row padding
    rows = np.zeros((3, step), np.uint8)
    rows[:, :8] = arr.astype(">u2").view(np.uint8).reshape(3, 8)
    msg = msgs.Image(height=3, width=4, encoding="16UC1", is_bigendian=1, step=step, data=rows.reshape(-1))
    np.testing.assert_array_equal(convert.image_to_numpy(cdr(msgs, "Image", msg)), arr)


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"encoding": "yuv422"}, "encoding 'yuv422' is not supported"),
        ({"width": 0}, "size must be positive"),
        ({"step": 10}, "step 10 is shorter than one row"),
        ({"data": np.zeros(50, np.uint8)}, "truncated: 50 B for step 15 x height 4"),
    ],
)
def test_malformed_images_raise_clear_errors(msgs, fields, match):
    good = dict(height=4, width=5, encoding="rgb8", is_bigendian=0, step=15, data=np.zeros(60, np.uint8))
    msg = msgs.Image(**{**good, **fields})
    with pytest.raises(convert.ImageConversionError, match=match):
        convert.image_to_numpy(msg)


def test_image_builder_refuses_wrong_dtype_or_shape(msgs):
    with pytest.raises(convert.ImageConversionError, match="dtype uint8"):
        convert.image_msg(msgs, np.zeros((2, 2, 3), np.float32), "rgb8", 0.0, "c")
    with pytest.raises(convert.ImageConversionError, match="shape"):
        convert.image_msg(msgs, np.zeros((2, 2)), "rgb8", 0.0, "c")


# -- camera info ---------------------------------------------------------------------------------


def test_camera_info_round_trip_from_the_cell_description(msgs, cell):
    msg = cdr(msgs, "CameraInfo", convert.camera_info_from_description(msgs, cell.camera, 1.0))
    intr = convert.camera_info_to_intrinsics(msg)
    np.testing.assert_allclose(intr.K, cell.camera.K)
    assert (intr.width_px, intr.height_px) == (cell.camera.width_px, cell.camera.height_px)
    assert intr.frame_id == cell.camera.frame_id
    assert intr.distortion_model == "plumb_bob"
    np.testing.assert_allclose(np.asarray(msg.p).reshape(3, 4)[:, :3], cell.camera.K)


def test_uncalibrated_camera_info_is_refused(msgs):
    with pytest.raises(ValueError, match="fx, fy > 0"):
        convert.camera_info_to_intrinsics(msgs.CameraInfo(width=640, height=480))


# -- parts, verdicts, labels -----------------------------------------------------------------------


def _part(track_id: int = 7, yaw: float = 0.4, **kw) -> PartObservation:
    base = dict(
        track_id=track_id,
        stamp_s=10.5,
        p_base_m=np.array([-0.5, 0.44, 0.012]),
        yaw_rad=yaw,
        v_base_mps=np.array([0.2, 0.001, 0.0]),
        bbox_px=(100, 200, 140, 236),
        crop_center_px=np.array([120.4, 217.9]),
        crop_angle_rad=-0.4,
        crop_extent_px=55.2,
    )
    return PartObservation(**{**base, **kw})


def test_parts_round_trip_through_detection2darray(msgs, cell):
    parts = [_part(7), _part(8, yaw=-2.0, crop_center_px=None, crop_angle_rad=float("nan"))]
    msg = convert.parts_to_detections(msgs, parts, 10.5, cell.camera.frame_id, cell.camera.T_base_camera)
    back = convert.detections_to_parts(cdr(msgs, "Detection2DArray", msg))
    assert msg.header.frame_id == cell.camera.frame_id  # bbox pixels belong to the image
    assert [d.header.frame_id for d in msg.detections] == ["base_link", "base_link"]  # poses in base
    assert [d.id for d in msg.detections] == ["7", "8"]
    for a, b in zip(parts, back, strict=True):
        assert b.track_id == a.track_id and b.stamp_s == a.stamp_s and b.bbox_px == a.bbox_px
        np.testing.assert_allclose(b.p_base_m, a.p_base_m)
        np.testing.assert_allclose(b.v_base_mps, a.v_base_mps)  # velocity along the belt survives
        assert math.isclose(math.remainder(b.yaw_rad - a.yaw_rad, 2 * math.pi), 0.0, abs_tol=1e-12)
    np.testing.assert_allclose(back[0].crop_center_px, parts[0].crop_center_px)
    assert math.isclose(back[0].crop_angle_rad, -0.4) and math.isclose(back[0].crop_extent_px, 55.2)
    assert back[1].crop_center_px is None and math.isnan(back[1].crop_extent_px)


def test_bbox_theta_is_the_parts_axis_on_screen(msgs, cell):
    # This camera maps base +x to image +u and base +y to image -v (up on screen), so the
    # counter-clockwise screen angle equals the base yaw.
    msg = convert.parts_to_detections(msgs, [_part(yaw=0.4)], 0.0, "cam", cell.camera.T_base_camera)
    assert math.isclose(msg.detections[0].bbox.center.theta, 0.4, abs_tol=1e-6)
    assert msg.detections[0].bbox.size_x == 40 and msg.detections[0].bbox.size_y == 36


def test_crop_geometry_prefers_the_visions_own_crop_arguments(msgs):
    msg = convert.parts_to_detections(msgs, [_part(1), _part(2, crop_center_px=None)], 0.0, "cam", None)
    geo = convert.part_crop_geometry(cdr(msgs, "Detection2DArray", msg))
    np.testing.assert_allclose(geo[1].center_px, [120.4, 217.9])
    assert math.isclose(geo[1].angle_rad, -0.4) and math.isclose(geo[1].extent_px, 55.2)
    np.testing.assert_allclose(geo[2].center_px, [120.0, 218.0])  # bbox centre
    assert geo[2].extent_px == 40.0


def _verdict(track_id: int, p: float, t: DefectType, reject: bool, uncertain: bool = False) -> DefectVerdict:
    return DefectVerdict(track_id, 10.5, p, t, 0.3 * p, 0.5 * p, reject, uncertain)


def test_verdicts_round_trip_with_class_scores_and_decisions(msgs):
    verdicts = [
        _verdict(1, 0.1, DefectType.OK, reject=False),
        _verdict(2, 0.8, DefectType.CRACK, reject=True),
        _verdict(3, 0.45, DefectType.ANOMALY, reject=False, uncertain=True),
    ]
    msg = convert.verdicts_to_detections(msgs, verdicts, 10.5, "cam", {2: _part(2)})
    wire = cdr(msgs, "Detection2DArray", msg)
    heads = [(d.results[0].hypothesis.class_id, d.results[0].hypothesis.score) for d in wire.detections]
    assert heads == [("ok", pytest.approx(0.9)), ("crack", 0.8), ("anomaly", 0.45)]
    assert wire.detections[1].bbox.size_x == 40  # the part's box travels with its verdict
    back = convert.detections_to_verdicts(wire)
    for a, b in zip(verdicts, back, strict=True):
        assert (b.track_id, b.defect_type, b.reject, b.uncertain) == (a.track_id, a.defect_type, a.reject, a.uncertain)
        assert b.p_defect == pytest.approx(a.p_defect)
        assert b.supervised_score == pytest.approx(a.supervised_score)
        assert b.anomaly_score == pytest.approx(a.anomaly_score)


def test_unknown_verdict_class_is_an_error(msgs):
    msg = convert.verdicts_to_detections(msgs, [_verdict(1, 0.9, DefectType.HOLE, True)], 0.0, "c")
    msg.detections[0].results[0].hypothesis.class_id = "dent"
    with pytest.raises(ValueError, match="'dent'"):
        convert.detections_to_verdicts(msg)


def test_labels_round_trip_and_never_call_a_defective_part_ok(msgs):
    labels = [
        InspectionLabel(4, 20.0, defective=False),
        InspectionLabel(5, 21.0, defective=True, defect_type=DefectType.CHIP),
        InspectionLabel(6, 22.0, defective=True),  # type unknown
    ]
    back = convert.detections_to_labels(cdr(msgs, "Detection2DArray", convert.labels_to_detections(msgs, labels, 22.0)))
    assert [(b.track_id, b.stamp_s, b.defective, b.defect_type) for b in back] == [
        (4, 20.0, False, DefectType.OK),
        (5, 21.0, True, DefectType.CHIP),
        (6, 22.0, True, DefectType.ANOMALY),
    ]
    # An integrator's own class name means "defective", whatever it is.
    msg = convert.labels_to_detections(msgs, labels[:1], 0.0)
    msg.detections[0].results[0].hypothesis.class_id = "dent"
    assert convert.detections_to_labels(msg)[0].defective


# -- trajectories, joint states -------------------------------------------------------------------


def _trajectory(start: float = 5.0) -> JointTrajectory:
    t = np.linspace(0.0, 1.0, 11)
    q = np.outer(t**2, np.arange(1, 7) * 0.1)
    return JointTrajectory(JOINTS, t, q, np.outer(2 * t, np.arange(1, 7) * 0.1), np.tile(np.arange(1, 7) * 0.2, (11, 1)), start)


def test_trajectory_round_trip_and_follow_joint_trajectory_goal(msgs):
    traj = _trajectory()
    back = convert.trajectory_from_msg(cdr(msgs, "JointTrajectory", convert.trajectory_msg(msgs, traj, "base_link")))
    assert back.joint_names == JOINTS and back.start_stamp_s == 5.0
    for name in ("t_s", "q_rad", "qd_radps", "qdd_radps2"):
        np.testing.assert_allclose(getattr(back, name), getattr(traj, name), atol=1e-9)
    goal = cdr(msgs, "FollowJointTrajectory_Goal", convert.follow_joint_trajectory_goal(msgs, traj, 0.5))
    assert convert.duration_to_s(goal.goal_time_tolerance) == 0.5
    assert len(goal.trajectory.points) == 11 and list(goal.path_tolerance) == []  # controller defaults
    now = convert.follow_joint_trajectory_goal(msgs, _trajectory(start=0.0))
    assert convert.time_to_s(now.trajectory.header.stamp) == 0.0  # 0 = start on receipt


def test_trajectory_from_controller_order_and_without_velocities(msgs):
    traj = _trajectory()
    msg = convert.trajectory_msg(msgs, traj)
    order = [5, 4, 3, 2, 1, 0]
    msg.joint_names = [JOINTS[i] for i in order]
    for p in msg.points:
        p.positions = p.positions[order]
        p.velocities = np.zeros(0)
        p.accelerations = np.zeros(0)
    back = convert.trajectory_from_msg(cdr(msgs, "JointTrajectory", msg), JOINTS)
    np.testing.assert_allclose(back.q_rad, traj.q_rad, atol=1e-12)
    # positions t^2: finite differences give the exact 2t inside the interval
    np.testing.assert_allclose(back.qd_radps[1:-1], traj.qd_radps[1:-1], atol=1e-9)
    with pytest.raises(ValueError, match="lacks joint"):
        convert.trajectory_from_msg(msg, (*JOINTS, "gripper_joint"))


def test_joint_state_round_trip_with_extra_joints(msgs):
    state = JointState(JOINTS, np.arange(6) * 0.1, np.arange(6) * -0.2, np.zeros(6), 3.5)
    msg = cdr(msgs, "JointState", convert.joint_state_msg(msgs, state))
    back = convert.joint_state_from_msg(msg)
    np.testing.assert_allclose(back.q_rad, state.q_rad)
    np.testing.assert_allclose(back.qd_radps, state.qd_radps)
    assert back.stamp_s == 3.5
    # a driver that also reports a gripper, in its own order, no velocities
    msg.name = ["gripper", *reversed(JOINTS)]
    msg.position = np.r_[0.7, state.q_rad[::-1]]
    msg.velocity = np.zeros(0)
    back = convert.joint_state_from_msg(msg, JOINTS)
    np.testing.assert_allclose(back.q_rad, state.q_rad)
    assert np.all(back.qd_radps == 0)
    with pytest.raises(ValueError, match="wrist_3_joint"):
        convert.joint_state_from_msg(convert.joint_state_msg(msgs, JointState(JOINTS[:5], np.zeros(5), np.zeros(5), np.zeros(5))), JOINTS)


# -- diagnostics --------------------------------------------------------------------------------


def test_alarms_on_diagnostics_carry_the_part_id(msgs):
    alarms = [Alarm(12, 30.0, "cannot_reject", "out of reach"), Alarm(13, 31.0, "pick_failed_twice")]
    msg = cdr(msgs, "DiagnosticArray", convert.alarms_to_diagnostics(msgs, alarms, 31.0, "/trajectory_planner_node"))
    assert [convert.diagnostic_level(s.level) for s in msg.status] == [2, 2]  # ERROR
    assert "part 12" in msg.status[0].message and "cannot_reject" in msg.status[0].name
    assert convert.diagnostics_to_alarms(msg) == alarms


def test_status_levels_and_unknown_level(msgs):
    st = cdr(msgs, "DiagnosticStatus", convert.status_msg(msgs, "n", "warn", "m", {"x": 1.5, "y": 3}))
    assert convert.diagnostic_level(st.level) == 1
    assert {kv.key: kv.value for kv in st.values} == {"x": "1.5", "y": "3"}
    assert convert.diagnostic_level(b"\x02") == 2  # rclpy holds byte fields as bytes
    with pytest.raises(ValueError, match="'fatal'"):
        convert.status_msg(msgs, "n", "fatal", "m")


def test_pick_outcomes_round_trip(msgs):
    outcomes = [
        PickOutcome(1, 40.0, PickResult.IN_BIN, np.array([0.001, -0.002, 0.0]), 39.5),
        PickOutcome(2, 41.0, PickResult.MISSED),
    ]
    msg = cdr(msgs, "DiagnosticArray", convert.pick_outcomes_to_diagnostics(msgs, outcomes, 41.0))
    back = convert.diagnostics_to_pick_outcomes(msg)
    assert [(b.track_id, b.result, b.stamp_s) for b in back] == [(1, PickResult.IN_BIN, 40.0), (2, PickResult.MISSED, 41.0)]
    np.testing.assert_allclose(back[0].offset_part_cup_base_m, outcomes[0].offset_part_cup_base_m)
    assert back[0].predicted_grasp_time_s == 39.5
    assert back[1].offset_part_cup_base_m is None and math.isnan(back[1].predicted_grasp_time_s)


def test_part_events_round_trip(msgs):
    class Event:
        def __init__(self, stamp_s, part_id, kind):
            self.stamp_s, self.part_id, self.kind = stamp_s, part_id, kind

    msg = cdr(msgs, "DiagnosticArray", convert.part_events_to_diagnostics(msgs, [Event(3.0, 9, "in_bin")], 3.0))
    assert convert.diagnostics_to_part_events(msg) == [(3.0, "9", "in_bin")]


# -- display, transforms, parameters --------------------------------------------------------------


def test_plan_markers(msgs):
    plans = [
        RejectPlan(1, RejectStatus.PLANNED, _trajectory(), 5.5, 5.4, 6.5, np.array([0.1, 0.45, 0.02])),
        RejectPlan(2, RejectStatus.CANNOT_REJECT, p_grasp_base_m=np.array([0.6, 0.45, 0.02]), reason="too fast"),
    ]
    path = np.linspace([0.0, 0.3, 0.3], [0.1, 0.45, 0.02], 20)
    msg = cdr(msgs, "MarkerArray", convert.plan_markers(msgs, plans, {1: path}, 5.0))
    kinds = [(m.type, m.action) for m in msg.markers]
    M = msgs.Marker
    assert kinds[0] == (0, M.DELETEALL)  # stale paths disappear
    assert (M.LINE_STRIP, M.ADD) in kinds and len(msg.markers[1].points) == 20
    texts = [m.text for m in msg.markers if m.type == M.TEXT_VIEW_FACING]
    assert texts == ["part 1", "part 2: cannot reject (too fast)"]
    assert len({m.id for m in msg.markers}) == len(msg.markers)


def test_transform_round_trip(msgs, cell):
    T = cell.camera.T_base_camera
    msg = cdr(msgs, "TransformStamped", convert.transform_msg(msgs, T, 0.0, "base_link", cell.camera.frame_id))
    assert (msg.header.frame_id, msg.child_frame_id) == ("base_link", cell.camera.frame_id)
    np.testing.assert_allclose(convert.transform_to_T(msg), T, atol=1e-12)
    with pytest.raises(ValueError, match="quaternion"):
        convert.transform_to_T(msgs.Transform(rotation=msgs.Quaternion(x=0.0, y=0.0, z=0.0, w=0.0)))


def test_set_parameters_request_round_trip(msgs):
    values = {"threshold": 0.31, "enabled": True, "views": 3, "model_path": "/tmp/m.pt", "offsets": [0.1, -0.2]}
    req = cdr(msgs, "SetParameters_Request", convert.set_parameters_request(msgs, values))
    assert {p.name: convert.parameter_value_to_python(p.value) for p in req.parameters} == values
    assert req.parameters[0].value.type == msgs.ParameterType.PARAMETER_DOUBLE
    with pytest.raises(TypeError, match="unsupported type"):
        convert.parameter_value_msg(msgs, {"a": 1})


def test_suction_service_messages(msgs):
    assert cdr(msgs, "SetBool_Request", msgs.SetBool_Request(data=True)).data is True
    res = cdr(msgs, "SetBool_Response", msgs.SetBool_Response(success=True, message="vacuum on"))
    assert (res.success, res.message) == (True, "vacuum on")


def test_heatmap_overlay_marks_the_flaw_red():
    crop = np.full((8, 8, 3), 100, np.uint8)
    hm = np.zeros((8, 8), np.float32)
    hm[2, 3] = 1.0
    out = convert.heatmap_overlay_rgb(crop, hm)
    assert out.dtype == np.uint8 and out.shape == (8, 8, 3)
    assert out[2, 3, 0] > 180 and out[2, 3, 1] < 50 and tuple(out[0, 0]) == (100, 100, 100)
    assert convert.heatmap_overlay_rgb(None, hm).shape == (8, 8, 3)


def test_unknown_field_names_are_refused(msgs):
    with pytest.raises(TypeError, match="no field"):
        msgs.Image(colour="red")
    with pytest.raises(AttributeError, match="no message type"):
        msgs.PointCloud9
