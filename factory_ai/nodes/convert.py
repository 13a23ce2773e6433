"""Pure conversions between ROS 2 messages and `factory_ai.types`, for rclpy AND rosbags messages.

Every builder takes a message namespace `msgs` as its first argument: an object whose attributes
(`msgs.Image`, `msgs.Header`, `msgs.Detection2DArray`, ...) construct messages from keyword
arguments and expose the message constants (`msgs.Marker.LINE_STRIP`). Two namespaces exist:

- `rosbags_types()`: classes from rosbags' ROS 2 Jazzy type store (plus the vision_msgs,
  control_msgs and service definitions in `msg_defs`), for MCAP logs and for the tests, which
  CDR-serialize what these functions build;
- `rclpy_types()`: the generated rclpy classes, imported lazily, for the nodes.

Readers (`*_from_msg`, `*_to_*` that take a message) only use attribute access and `np.asarray`, so
they accept either kind. Nothing here imports rclpy at module level.

Conventions on the wire (documented for integrators in the README):

- `parts` (vision_msgs/Detection2DArray): one Detection2D per tracked part; `id` = track id;
  `bbox` in pixels of the source image (`bbox.center.theta` = the part axis in the image,
  counter-clockwise on screen); the array header is the source image's header; each
  detection's `header.frame_id` is the frame of its poses (the arm base frame). Hypotheses:
  `part` (score 1, pose = part centre on the belt surface and yaw about base z) and
  `velocity_mps` (pose.position = the part's velocity in the base frame, m/s) and, when the
  vision says where it cut the classifier crop, `crop` (pose.position = (u px, v px, extent
  px), orientation = rotation about z by the crop angle from +u towards +v).
- `verdicts` (Detection2DArray): `id` = track id; hypothesis 0 = class `ok` or the defect type,
  score = calibrated probability of that class; then `p_supervised`, `p_anomaly` (calibrated
  probabilities), `reject` and `uncertain` (score 1 or 0).
- `inspection_labels` (Detection2DArray): `id` = track id, one hypothesis: class `ok` or the
  defect type, score 1.
- `pick_outcomes` (diagnostic_msgs/DiagnosticArray): one status per pick, `hardware_id` = track
  id, key-values `track_id`, `result`, `stamp_s`, `predicted_grasp_time_s`, `offset_*_m`.
- alarms on `/diagnostics`: level ERROR, key-values `part_id`, `kind`, `detail`, `stamp_s`.
"""

from __future__ import annotations

import array
import importlib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

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

# --------------------------------------------------------------------------------------------
# Message namespaces
# --------------------------------------------------------------------------------------------

#: Short attribute name -> full ROS 2 type name, for every message the package uses.
TYPE_NAMES: dict[str, str] = {
    "Time": "builtin_interfaces/msg/Time",
    "Duration": "builtin_interfaces/msg/Duration",
    "Header": "std_msgs/msg/Header",
    "Bool": "std_msgs/msg/Bool",
    "ColorRGBA": "std_msgs/msg/ColorRGBA",
    "Clock": "rosgraph_msgs/msg/Clock",
    "Point": "geometry_msgs/msg/Point",
    "Quaternion": "geometry_msgs/msg/Quaternion",
    "Pose": "geometry_msgs/msg/Pose",
    "PoseWithCovariance": "geometry_msgs/msg/PoseWithCovariance",
    "Vector3": "geometry_msgs/msg/Vector3",
    "Transform": "geometry_msgs/msg/Transform",
    "TransformStamped": "geometry_msgs/msg/TransformStamped",
    "Image": "sensor_msgs/msg/Image",
    "CameraInfo": "sensor_msgs/msg/CameraInfo",
    "RegionOfInterest": "sensor_msgs/msg/RegionOfInterest",
    "JointState": "sensor_msgs/msg/JointState",
    "Point2D": "vision_msgs/msg/Point2D",
    "Pose2D": "vision_msgs/msg/Pose2D",
    "BoundingBox2D": "vision_msgs/msg/BoundingBox2D",
    "ObjectHypothesis": "vision_msgs/msg/ObjectHypothesis",
    "ObjectHypothesisWithPose": "vision_msgs/msg/ObjectHypothesisWithPose",
    "Detection2D": "vision_msgs/msg/Detection2D",
    "Detection2DArray": "vision_msgs/msg/Detection2DArray",
    "JointTrajectory": "trajectory_msgs/msg/JointTrajectory",
    "JointTrajectoryPoint": "trajectory_msgs/msg/JointTrajectoryPoint",
    "FollowJointTrajectory_Goal": "control_msgs/action/FollowJointTrajectory_Goal",
    "FollowJointTrajectory_Result": "control_msgs/action/FollowJointTrajectory_Result",
    "FollowJointTrajectory_Feedback": "control_msgs/action/FollowJointTrajectory_Feedback",
    "DiagnosticArray": "diagnostic_msgs/msg/DiagnosticArray",
    "DiagnosticStatus": "diagnostic_msgs/msg/DiagnosticStatus",
    "KeyValue": "diagnostic_msgs/msg/KeyValue",
    "Marker": "visualization_msgs/msg/Marker",
    "MarkerArray": "visualization_msgs/msg/MarkerArray",
    "SetBool_Request": "std_srvs/srv/SetBool_Request",
    "SetBool_Response": "std_srvs/srv/SetBool_Response",
    "Parameter": "rcl_interfaces/msg/Parameter",
    "ParameterValue": "rcl_interfaces/msg/ParameterValue",
    "ParameterType": "rcl_interfaces/msg/ParameterType",
    "ParameterDescriptor": "rcl_interfaces/msg/ParameterDescriptor",
    "FloatingPointRange": "rcl_interfaces/msg/FloatingPointRange",
    "IntegerRange": "rcl_interfaces/msg/IntegerRange",
    "SetParameters_Request": "rcl_interfaces/srv/SetParameters_Request",
    "SetParameters_Response": "rcl_interfaces/srv/SetParameters_Response",
}

_NUMPY_DTYPES: dict[str, Any] = {
    "bool": np.bool_, "boolean": np.bool_,
    "byte": np.uint8, "octet": np.uint8, "char": np.uint8,
    "int8": np.int8, "uint8": np.uint8, "int16": np.int16, "uint16": np.uint16,
    "int32": np.int32, "uint32": np.uint32, "int64": np.int64, "uint64": np.uint64,
    "float32": np.float32, "float": np.float32, "float64": np.float64, "double": np.float64,
}  # fmt: skip
_FLOAT_TYPES = {"float32", "float64", "float", "double"}
# Defaults written in the .msg files (rosbags' field definitions do not carry them).
_IDL_DEFAULTS: dict[str, dict[str, Any]] = {"geometry_msgs/msg/Quaternion": {"w": 1.0}}
_INT_TYPES = {"int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64", "byte", "char"}


class _RosbagsFactory:
    """Builds one rosbags message type from keyword arguments; missing fields get ROS defaults."""

    def __init__(self, store: Any, typename: str) -> None:
        self._store = store
        self._typename = typename
        self.cls = store.types[typename]

    def __getattr__(self, name: str) -> Any:  # message constants, e.g. Marker.LINE_STRIP
        return getattr(self.cls, name)

    def __call__(self, **fields: Any) -> Any:
        _consts, fielddefs = self._store.fielddefs[self._typename]
        known = {name for name, _ in fielddefs}
        unknown = set(fields) - known
        if unknown:
            msg = f"{self._typename} has no field(s) {sorted(unknown)}; fields are {sorted(known)}"
            raise TypeError(msg)
        kwargs = {}
        idl_defaults = _IDL_DEFAULTS.get(self._typename, {})
        for name, desc in fielddefs:
            if name in fields:
                kwargs[name] = self._coerce(fields[name], desc)
            elif name in idl_defaults:
                kwargs[name] = idl_defaults[name]
            else:
                kwargs[name] = self._default(desc)
        return self.cls(**kwargs)

    def _default(self, desc: tuple) -> Any:
        kind, detail = desc[0].value if hasattr(desc[0], "value") else desc[0], desc[1]
        if kind == 1:  # BASE
            base = detail[0]
            if base == "string":
                return ""
            if base == "bool":
                return False
            return 0.0 if base in _FLOAT_TYPES else 0
        if kind == 2:  # NAME (nested message)
            return _RosbagsFactory(self._store, detail)()
        (sub_kind, sub_detail), size = detail
        sub_kind = sub_kind.value if hasattr(sub_kind, "value") else sub_kind
        n = size if kind == 3 else 0  # ARRAY has a fixed size, SEQUENCE starts empty
        if sub_kind == 1 and sub_detail[0] != "string":
            return np.zeros(n, dtype=_NUMPY_DTYPES[sub_detail[0]])
        return [self._default((sub_kind, sub_detail)) for _ in range(n)]

    @staticmethod
    def _coerce(value: Any, desc: tuple) -> Any:
        kind, detail = desc[0].value if hasattr(desc[0], "value") else desc[0], desc[1]
        if kind == 1:
            base = detail[0]
            if base in _FLOAT_TYPES:
                return float(value)
            if base in _INT_TYPES:
                return int(value[0]) if isinstance(value, (bytes, bytearray)) else int(value)
            if base == "bool":
                return bool(value)
            return value
        if kind in (3, 4):
            (sub_kind, sub_detail), _size = detail
            sub_kind = sub_kind.value if hasattr(sub_kind, "value") else sub_kind
            if sub_kind == 1 and sub_detail[0] != "string":
                if isinstance(value, (bytes, bytearray, memoryview, array.array)):
                    return np.frombuffer(value, dtype=np.uint8).astype(_NUMPY_DTYPES[sub_detail[0]])
                return np.asarray(value, dtype=_NUMPY_DTYPES[sub_detail[0]])
            return list(value)
        return value


class RosbagsTypes:
    """Message namespace over a rosbags type store (ROS 2 Jazzy + `msg_defs`)."""

    def __init__(self, typestore: Any) -> None:
        self.typestore = typestore
        self._cache: dict[str, _RosbagsFactory] = {}

    def typename(self, short: str) -> str:
        """Full ROS type name of a short attribute name, e.g. Image -> sensor_msgs/msg/Image."""
        return TYPE_NAMES[short]

    def __getattr__(self, short: str) -> _RosbagsFactory:
        if short.startswith("_") or short not in TYPE_NAMES:
            msg = f"no message type {short!r} in the factory_ai message namespace"
            raise AttributeError(msg)
        if short not in self._cache:
            self._cache[short] = _RosbagsFactory(self.typestore, TYPE_NAMES[short])
        return self._cache[short]


def rosbags_types() -> RosbagsTypes:
    """Message namespace from rosbags' ROS 2 Jazzy store, with vision/control/service types added."""
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    from factory_ai.nodes.msg_defs import MSG_DEFS

    store = get_typestore(Stores.ROS2_JAZZY)
    types: dict = {}
    for name, text in MSG_DEFS.items():
        for parsed_name, typedef in get_types_from_msg(text, name).items():
            # rosbags files "pkg/srv/X" under "pkg/srv/msg/X"; keep the name rosidl gives it
            types[parsed_name.replace("/srv/msg/", "/srv/")] = typedef
    store.register(types)
    return RosbagsTypes(store)


_SEQ_RE = re.compile(r"^sequence<([^,>]+)(?:,\s*\d+)?>$")
_ARR_RE = re.compile(r"^([a-z0-9_]+)\[(\d+)\]$")
_TYPECODES = {
    "int8": "b", "uint8": "B", "int16": "h", "uint16": "H", "int32": "i", "uint32": "I",
    "int64": "q", "uint64": "Q", "float": "f", "double": "d",
}  # fmt: skip


class _RclpyFactory:
    """Wraps a generated rclpy message class: converts numpy values to what its setters accept.

    rosidl_generator_py setters assert exact Python types: `float` for float fields (an int or a
    numpy.float32 fails), `int` for integer fields, `array.array` (or a list of Python scalars)
    for `sequence<...>` fields, a numpy array of the right dtype and size for fixed arrays, and
    1-byte `bytes` for `byte` (octet) fields.
    """

    def __init__(self, cls: Any) -> None:
        self.cls = cls  # the generated class itself, for create_subscription / create_publisher
        self._types: dict[str, str] = dict(cls.get_fields_and_field_types())

    def __getattr__(self, name: str) -> Any:  # message constants
        return getattr(self.cls, name)

    def __call__(self, **fields: Any) -> Any:
        return self.cls(**{k: _rclpy_coerce(v, self._types.get(k, "")) for k, v in fields.items()})


def _rclpy_coerce(value: Any, ftype: str) -> Any:
    if ftype in ("double", "float"):
        return float(value)
    if ftype in _TYPECODES:  # integer scalars
        return int(value)
    if ftype == "boolean":
        return bool(value)
    if ftype == "octet":
        return value if isinstance(value, bytes) else bytes([int(value)])
    m = _SEQ_RE.match(ftype)
    if m:
        elem = m.group(1)
        if elem in _TYPECODES:
            a = array.array(_TYPECODES[elem])
            a.frombytes(np.ascontiguousarray(np.asarray(value), dtype=_NUMPY_DTYPES[elem]).tobytes())
            return a
        if elem == "boolean":
            return [bool(v) for v in value]
        if elem == "double" or elem == "float":
            return [float(v) for v in value]
        return list(value)
    m = _ARR_RE.match(ftype)
    if m and m.group(1) in _NUMPY_DTYPES:
        return np.asarray(value, dtype=_NUMPY_DTYPES[m.group(1)])
    return value


class RclpyTypes:
    """Message namespace over the generated rclpy classes (or any classes with that API)."""

    def __init__(self, classes: Mapping[str, Any]) -> None:
        self._factories = {short: _RclpyFactory(cls) for short, cls in classes.items()}

    def typename(self, short: str) -> str:
        """Full ROS type name of a short attribute name."""
        return TYPE_NAMES[short]

    def __getattr__(self, short: str) -> _RclpyFactory:
        try:
            return self.__dict__["_factories"][short]
        except KeyError:
            msg = f"no message type {short!r} in the factory_ai message namespace"
            raise AttributeError(msg) from None


def rclpy_class(typename: str) -> Any:
    """Import the generated Python class of a full ROS type name (needs a ROS 2 environment)."""
    pkg, kind, name = typename.split("/")
    module = importlib.import_module(f"{pkg}.{kind}")
    if kind in ("srv", "action"):
        base, _, part = name.rpartition("_")
        return getattr(getattr(module, base), part)
    return getattr(module, name)


def rclpy_types() -> RclpyTypes:
    """Message namespace of the rclpy classes; imports the ROS message packages on first use."""
    return RclpyTypes({short: rclpy_class(full) for short, full in TYPE_NAMES.items()})


# --------------------------------------------------------------------------------------------
# Time
# --------------------------------------------------------------------------------------------


def _sec_nsec(t_s: float, what: str) -> tuple[int, int]:
    if not math.isfinite(t_s) or t_s < 0.0:
        msg = f"{what} must be a finite time >= 0 s, got {t_s!r}"
        raise ValueError(msg)
    ns = round(t_s * 1e9)
    return int(ns // 1_000_000_000), int(ns % 1_000_000_000)


def time_msg(msgs: Any, t_s: float) -> Any:
    """builtin_interfaces/Time from seconds on the cell clock (ns rounding)."""
    sec, nanosec = _sec_nsec(float(t_s), "stamp")
    return msgs.Time(sec=sec, nanosec=nanosec)


def time_to_s(t: Any) -> float:
    """Seconds from a builtin_interfaces/Time (or Duration)."""
    return float(t.sec) + float(t.nanosec) * 1e-9


def duration_msg(msgs: Any, d_s: float) -> Any:
    """builtin_interfaces/Duration from seconds (>= 0)."""
    sec, nanosec = _sec_nsec(float(d_s), "duration")
    return msgs.Duration(sec=sec, nanosec=nanosec)


duration_to_s = time_to_s


def header_msg(msgs: Any, stamp_s: float, frame_id: str = "") -> Any:
    """std_msgs/Header."""
    return msgs.Header(stamp=time_msg(msgs, stamp_s), frame_id=frame_id)


def clock_msg(msgs: Any, t_s: float) -> Any:
    """rosgraph_msgs/Clock for `/clock`."""
    return msgs.Clock(clock=time_msg(msgs, t_s))


# --------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------


class ImageConversionError(ValueError):
    """A sensor_msgs/Image that cannot be read: unknown encoding, bad size/step, short data."""


#: encoding -> (dtype, channels)
IMAGE_ENCODINGS: dict[str, tuple[Any, int]] = {
    "rgb8": (np.uint8, 3),
    "bgr8": (np.uint8, 3),
    "mono8": (np.uint8, 1),
    "mono16": (np.uint16, 1),
    "16UC1": (np.uint16, 1),
    "32FC1": (np.float32, 1),
}


def _as_bytes_view(data: Any) -> np.ndarray:
    if isinstance(data, (bytes, bytearray, memoryview, array.array)):
        return np.frombuffer(data, dtype=np.uint8)
    if isinstance(data, np.ndarray):
        return np.ascontiguousarray(data).view(np.uint8).reshape(-1)
    return np.asarray(data, dtype=np.uint8)


def image_to_numpy(msg: Any) -> np.ndarray:
    """Array (H, W) or (H, W, C) in the image's own encoding, native byte order (a copy).

    Raises:
        ImageConversionError: unsupported encoding, zero size, step shorter than a row,
            or fewer data bytes than step * height.
    """
    enc = str(msg.encoding)
    if enc not in IMAGE_ENCODINGS:
        msg_ = f"image encoding {enc!r} is not supported; use one of {sorted(IMAGE_ENCODINGS)}"
        raise ImageConversionError(msg_)
    dtype, channels = IMAGE_ENCODINGS[enc]
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    if h <= 0 or w <= 0:
        msg_ = f"image size must be positive, got width={w} height={h}"
        raise ImageConversionError(msg_)
    row_bytes = w * channels * np.dtype(dtype).itemsize
    if step < row_bytes:
        msg_ = f"image step {step} is shorter than one row of {w} px x {channels} x {np.dtype(dtype).itemsize} B = {row_bytes} B ({enc})"
        raise ImageConversionError(msg_)
    raw = _as_bytes_view(msg.data)
    if raw.size < step * h:
        msg_ = f"image data is truncated: {raw.size} B for step {step} x height {h} = {step * h} B"
        raise ImageConversionError(msg_)
    rows = raw[: step * h].reshape(h, step)[:, :row_bytes]
    dt = np.dtype(dtype).newbyteorder(">" if int(msg.is_bigendian) else "<")
    out = np.ascontiguousarray(rows).view(dt).reshape((h, w, channels) if channels > 1 else (h, w))
    return out.astype(np.dtype(dtype), copy=True)


def image_to_rgb(msg: Any) -> np.ndarray:
    """RGB uint8 (H, W, 3) from an rgb8, bgr8 or mono8 image (the vision's input format)."""
    arr = image_to_numpy(msg)
    enc = str(msg.encoding)
    if enc == "rgb8":
        return arr
    if enc == "bgr8":
        return np.ascontiguousarray(arr[..., ::-1])
    if enc == "mono8":
        return np.repeat(arr[..., None], 3, axis=2)
    msg_ = f"image encoding {enc!r} is not a colour image; the vision needs rgb8, bgr8 or mono8"
    raise ImageConversionError(msg_)


def image_msg(msgs: Any, image: np.ndarray, encoding: str, stamp_s: float, frame_id: str) -> Any:
    """sensor_msgs/Image from an array in `encoding` (little-endian, tightly packed rows)."""
    if encoding not in IMAGE_ENCODINGS:
        msg_ = f"image encoding {encoding!r} is not supported; use one of {sorted(IMAGE_ENCODINGS)}"
        raise ImageConversionError(msg_)
    dtype, channels = IMAGE_ENCODINGS[encoding]
    arr = np.asarray(image)
    want_ndim = 3 if channels > 1 else 2
    if arr.ndim != want_ndim or (channels > 1 and arr.shape[2] != channels):
        msg_ = f"{encoding} image needs shape (H, W{', %d' % channels if channels > 1 else ''}), got {arr.shape}"
        raise ImageConversionError(msg_)
    if arr.dtype != np.dtype(dtype):
        msg_ = f"{encoding} image needs dtype {np.dtype(dtype).name}, got {arr.dtype.name}"
        raise ImageConversionError(msg_)
    arr = np.ascontiguousarray(arr, dtype=np.dtype(dtype).newbyteorder("<"))
    h, w = arr.shape[:2]
    return msgs.Image(
        header=header_msg(msgs, stamp_s, frame_id),
        height=h,
        width=w,
        encoding=encoding,
        is_bigendian=0,
        step=w * channels * arr.dtype.itemsize,
        data=arr.view(np.uint8).reshape(-1),
    )


def heatmap_overlay_rgb(crop: np.ndarray | None, heatmap: np.ndarray) -> np.ndarray:
    """RGB uint8 display of a defect heatmap in [0, 1], blended in red over the crop if given."""
    hm = np.clip(np.nan_to_num(np.asarray(heatmap, dtype=np.float32)), 0.0, 1.0)
    if hm.ndim != 2:
        msg = f"heatmap must be (H, W), got shape {hm.shape}"
        raise ValueError(msg)
    red = np.zeros((*hm.shape, 3), dtype=np.float32)
    red[..., 0] = 255.0
    if crop is None or np.asarray(crop).shape[:2] != hm.shape:
        base = np.repeat((hm * 255.0)[..., None], 3, axis=2)
        return base.astype(np.uint8)
    base = np.asarray(crop, dtype=np.float32)[..., :3]
    alpha = 0.6 * hm[..., None]
    return np.clip(base * (1.0 - alpha) + red * alpha, 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------------------
# Camera info
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CameraIntrinsics:
    """What the vision needs from sensor_msgs/CameraInfo."""

    width_px: int
    height_px: int
    K: np.ndarray  # (3, 3)
    distortion: np.ndarray  # (n,) in the order of `distortion_model`
    distortion_model: str
    frame_id: str


def camera_info_to_intrinsics(msg: Any) -> CameraIntrinsics:
    """Intrinsics from a CameraInfo; raises ValueError for a zero focal length or size."""
    K = np.asarray(msg.k, dtype=float).reshape(3, 3)
    w, h = int(msg.width), int(msg.height)
    if w <= 0 or h <= 0:
        msg_ = f"camera_info size must be positive, got width={w} height={h}"
        raise ValueError(msg_)
    if not (K[0, 0] > 0.0 and K[1, 1] > 0.0) or not np.all(np.isfinite(K)):
        msg_ = f"camera_info K needs fx, fy > 0, got fx={K[0, 0]} fy={K[1, 1]} (uncalibrated camera?)"
        raise ValueError(msg_)
    return CameraIntrinsics(
        width_px=w,
        height_px=h,
        K=K,
        distortion=np.asarray(msg.d, dtype=float).copy(),
        distortion_model=str(msg.distortion_model),
        frame_id=str(msg.header.frame_id),
    )


def camera_info_msg(
    msgs: Any,
    width_px: int,
    height_px: int,
    K: np.ndarray,
    distortion: np.ndarray,
    stamp_s: float,
    frame_id: str,
    distortion_model: str = "plumb_bob",
) -> Any:
    """sensor_msgs/CameraInfo of a monocular camera (R = I, P = [K | 0])."""
    K = np.asarray(K, dtype=float).reshape(3, 3)
    P = np.zeros((3, 4))
    P[:, :3] = K
    return msgs.CameraInfo(
        header=header_msg(msgs, stamp_s, frame_id),
        height=int(height_px),
        width=int(width_px),
        distortion_model=distortion_model,
        d=np.asarray(distortion, dtype=float).reshape(-1),
        k=K.reshape(-1),
        r=np.eye(3).reshape(-1),
        p=P.reshape(-1),
    )


def camera_info_from_description(msgs: Any, camera: Any, stamp_s: float) -> Any:
    """CameraInfo of the cell description's camera (`CellDescription.camera`)."""
    return camera_info_msg(
        msgs, camera.width_px, camera.height_px, camera.K, camera.distortion, stamp_s, camera.frame_id
    )


# --------------------------------------------------------------------------------------------
# Geometry helpers
# --------------------------------------------------------------------------------------------


def _quat_xyzw_from_yaw(yaw_rad: float) -> np.ndarray:
    return np.array([0.0, 0.0, math.sin(0.5 * yaw_rad), math.cos(0.5 * yaw_rad)])


def _yaw_from_quat(q: Any) -> float:
    x, y, z, w = float(q.x), float(q.y), float(q.z), float(q.w)
    return math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


def _pose_msg(msgs: Any, p_m: Sequence[float], quat_xyzw: Sequence[float]) -> Any:
    return msgs.Pose(
        position=msgs.Point(x=float(p_m[0]), y=float(p_m[1]), z=float(p_m[2])),
        orientation=msgs.Quaternion(
            x=float(quat_xyzw[0]), y=float(quat_xyzw[1]), z=float(quat_xyzw[2]), w=float(quat_xyzw[3])
        ),
    )


def transform_to_T(msg: Any) -> np.ndarray:
    """4x4 transform from a geometry_msgs/Transform or TransformStamped (`T_parent_child`)."""
    tf = msg.transform if hasattr(msg, "transform") else msg
    q = tf.rotation
    quat = np.array([q.x, q.y, q.z, q.w], dtype=float)
    if not np.isfinite(quat).all() or np.linalg.norm(quat) < 1e-9:
        msg_ = f"transform rotation is not a valid quaternion: {quat.tolist()}"
        raise ValueError(msg_)
    T = np.eye(4)
    T[:3, :3] = Rotation.from_quat(quat / np.linalg.norm(quat)).as_matrix()
    T[:3, 3] = [tf.translation.x, tf.translation.y, tf.translation.z]
    return T


def transform_msg(msgs: Any, T: np.ndarray, stamp_s: float, parent: str, child: str) -> Any:
    """geometry_msgs/TransformStamped `T_parent_child` (for tf2 broadcasters)."""
    q = Rotation.from_matrix(np.asarray(T)[:3, :3]).as_quat()
    t = np.asarray(T)[:3, 3]
    return msgs.TransformStamped(
        header=header_msg(msgs, stamp_s, parent),
        child_frame_id=child,
        transform=msgs.Transform(
            translation=msgs.Vector3(x=float(t[0]), y=float(t[1]), z=float(t[2])),
            rotation=msgs.Quaternion(x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3])),
        ),
    )


def yaw_to_image_theta(yaw_rad: float, T_base_camera: np.ndarray | None) -> float:
    """Image-plane angle (rad, counter-clockwise on screen, vision_msgs Pose2D) of a base-frame yaw.

    Projects the part's axis (cos yaw, sin yaw, 0) into the camera's optical frame; exact for a
    camera looking straight down on the belt, approximate for a tilted one. Without a camera
    pose the angle is reported as 0.
    """
    if T_base_camera is None:
        return 0.0
    d_cam = np.asarray(T_base_camera)[:3, :3].T @ np.array([math.cos(yaw_rad), math.sin(yaw_rad), 0.0])
    return math.atan2(-d_cam[1], d_cam[0])  # image v points down: CCW on screen is -v


# --------------------------------------------------------------------------------------------
# vision_msgs: parts, verdicts, labels
# --------------------------------------------------------------------------------------------

PART_CLASS = "part"
VELOCITY_CLASS = "velocity_mps"
CROP_CLASS = "crop"
P_SUPERVISED_CLASS = "p_supervised"
P_ANOMALY_CLASS = "p_anomaly"
REJECT_CLASS = "reject"
UNCERTAIN_CLASS = "uncertain"


def _hypothesis(msgs: Any, class_id: str, score: float, p_m=(0.0, 0.0, 0.0), quat=(0.0, 0.0, 0.0, 1.0)) -> Any:
    return msgs.ObjectHypothesisWithPose(
        hypothesis=msgs.ObjectHypothesis(class_id=class_id, score=float(score)),
        pose=msgs.PoseWithCovariance(pose=_pose_msg(msgs, p_m, quat), covariance=np.zeros(36)),
    )


def _bbox_msg(msgs: Any, bbox_px: Sequence[float] | None, theta_rad: float = 0.0) -> Any:
    u0, v0, u1, v1 = (float(b) for b in bbox_px) if bbox_px is not None else (0.0, 0.0, 0.0, 0.0)
    return msgs.BoundingBox2D(
        center=msgs.Pose2D(position=msgs.Point2D(x=0.5 * (u0 + u1), y=0.5 * (v0 + v1)), theta=float(theta_rad)),
        size_x=u1 - u0,
        size_y=v1 - v0,
    )


def _bbox_px(bbox: Any) -> tuple[int, int, int, int]:
    cx, cy = float(bbox.center.position.x), float(bbox.center.position.y)
    hx, hy = 0.5 * float(bbox.size_x), 0.5 * float(bbox.size_y)
    return (round(cx - hx), round(cy - hy), round(cx + hx), round(cy + hy))


def _track_id(det: Any) -> int:
    try:
        return int(str(det.id))
    except ValueError:
        msg = f"detection id must be an integer track id, got {det.id!r}"
        raise ValueError(msg) from None


def _results_by_class(det: Any) -> dict[str, Any]:
    return {str(r.hypothesis.class_id): r for r in det.results}


def _det_stamp_s(det: Any, array_msg: Any) -> float:
    s = time_to_s(det.header.stamp)
    return s if s > 0.0 else time_to_s(array_msg.header.stamp)


def parts_to_detections(
    msgs: Any,
    parts: Iterable[PartObservation],
    stamp_s: float,
    image_frame_id: str,
    T_base_camera: np.ndarray | None = None,
) -> Any:
    """vision_msgs/Detection2DArray of tracked parts (see the module docstring for the layout)."""
    detections = []
    for part in parts:
        p = np.asarray(part.p_base_m, dtype=float)
        v = np.asarray(part.v_base_mps, dtype=float)
        detections.append(
            msgs.Detection2D(
                header=header_msg(msgs, part.stamp_s, part.frame_id),
                results=[
                    _hypothesis(msgs, PART_CLASS, 1.0, p, _quat_xyzw_from_yaw(part.yaw_rad)),
                    _hypothesis(msgs, VELOCITY_CLASS, 0.0, v),
                    *_crop_hypothesis(msgs, part),
                ],
                bbox=_bbox_msg(msgs, part.bbox_px, yaw_to_image_theta(part.yaw_rad, T_base_camera)),
                id=str(int(part.track_id)),
            )
        )
    return msgs.Detection2DArray(header=header_msg(msgs, stamp_s, image_frame_id), detections=detections)


def detections_to_parts(msg: Any) -> list[PartObservation]:
    """Tracked parts from a `parts` Detection2DArray (crops are not carried: crop=None)."""
    out = []
    for det in msg.detections:
        by_class = _results_by_class(det)
        part = by_class.get(PART_CLASS) or (det.results[0] if len(det.results) else None)
        if part is None:
            msg_ = f"detection {det.id!r} has no '{PART_CLASS}' hypothesis with the part pose"
            raise ValueError(msg_)
        pose = part.pose.pose
        vel = by_class.get(VELOCITY_CLASS)
        v = vel.pose.pose.position if vel is not None else None
        crop = by_class.get(CROP_CLASS)
        crop_pose = crop.pose.pose if crop is not None else None
        out.append(
            PartObservation(
                track_id=_track_id(det),
                stamp_s=_det_stamp_s(det, msg),
                p_base_m=np.array([pose.position.x, pose.position.y, pose.position.z], dtype=float),
                yaw_rad=_yaw_from_quat(pose.orientation),
                v_base_mps=np.array([v.x, v.y, v.z], dtype=float) if v is not None else np.zeros(3),
                bbox_px=_bbox_px(det.bbox),
                fully_in_view=True,
                crop=None,
                frame_id=str(det.header.frame_id) or "base_link",
                crop_center_px=(
                    np.array([crop_pose.position.x, crop_pose.position.y], dtype=float) if crop_pose else None
                ),
                crop_angle_rad=_yaw_from_quat(crop_pose.orientation) if crop_pose else float("nan"),
                crop_extent_px=(
                    float(crop_pose.position.z) if crop_pose and crop_pose.position.z > 0 else float("nan")
                ),
            )
        )
    return out


def _crop_hypothesis(msgs: Any, part: PartObservation) -> list[Any]:
    if part.crop_center_px is None or not math.isfinite(part.crop_angle_rad):
        return []
    u, v = (float(x) for x in np.asarray(part.crop_center_px).reshape(2))
    extent = float(part.crop_extent_px) if math.isfinite(part.crop_extent_px) else 0.0
    return [_hypothesis(msgs, CROP_CLASS, 0.0, (u, v, extent), _quat_xyzw_from_yaw(part.crop_angle_rad))]


@dataclass(frozen=True)
class CropGeometry:
    """Arguments of `vision.canonical_crop` for one part (see PartObservation.crop_*)."""

    center_px: np.ndarray  # (2,) u, v
    angle_rad: float  # image direction of the crop's x axis, from +u towards +v
    extent_px: float | None  # side of the frame region covered; None = the crop size


def part_crop_geometry(msg: Any) -> dict[int, CropGeometry]:
    """Track id -> where to cut each part's canonical crop from the synchronized image.

    Uses the `crop` hypothesis when the vision sent one (the exact arguments it used), else the
    bbox: its centre, its angle (vision_msgs' counter-clockwise theta, negated into the
    crop's +u-towards-+v convention) and its larger side.
    """
    out = {}
    for det in msg.detections:
        crop = _results_by_class(det).get(CROP_CLASS)
        if crop is not None:
            pose = crop.pose.pose
            extent = float(pose.position.z)
            out[_track_id(det)] = CropGeometry(
                center_px=np.array([pose.position.x, pose.position.y], dtype=float),
                angle_rad=_yaw_from_quat(pose.orientation),
                extent_px=extent if extent > 0.0 else None,
            )
        else:
            out[_track_id(det)] = CropGeometry(
                center_px=np.array([det.bbox.center.position.x, det.bbox.center.position.y], dtype=float),
                angle_rad=-float(det.bbox.center.theta),
                extent_px=max(float(det.bbox.size_x), float(det.bbox.size_y)) or None,
            )
    return out


def _verdict_class(v: DefectVerdict) -> tuple[str, float]:
    t = DefectType(v.defect_type)
    if t == DefectType.OK:
        return t.value, 1.0 - float(v.p_defect)
    return t.value, float(v.p_defect)


def verdicts_to_detections(
    msgs: Any,
    verdicts: Iterable[DefectVerdict],
    stamp_s: float,
    image_frame_id: str,
    parts: Mapping[int, PartObservation] | None = None,
) -> Any:
    """vision_msgs/Detection2DArray of classifier verdicts; bbox and pose copied from `parts`."""
    parts = parts or {}
    detections = []
    for v in verdicts:
        class_id, score = _verdict_class(v)
        part = parts.get(int(v.track_id))
        p = part.p_base_m if part is not None else (0.0, 0.0, 0.0)
        quat = _quat_xyzw_from_yaw(part.yaw_rad) if part is not None else (0.0, 0.0, 0.0, 1.0)
        detections.append(
            msgs.Detection2D(
                header=header_msg(msgs, v.stamp_s, part.frame_id if part is not None else "base_link"),
                results=[
                    _hypothesis(msgs, class_id, score, p, quat),
                    _hypothesis(msgs, P_SUPERVISED_CLASS, v.supervised_score),
                    _hypothesis(msgs, P_ANOMALY_CLASS, v.anomaly_score),
                    _hypothesis(msgs, REJECT_CLASS, 1.0 if v.reject else 0.0),
                    _hypothesis(msgs, UNCERTAIN_CLASS, 1.0 if v.uncertain else 0.0),
                ],
                bbox=_bbox_msg(msgs, part.bbox_px if part is not None else None),
                id=str(int(v.track_id)),
            )
        )
    return msgs.Detection2DArray(header=header_msg(msgs, stamp_s, image_frame_id), detections=detections)


def detections_to_verdicts(msg: Any) -> list[DefectVerdict]:
    """Classifier verdicts from a `verdicts` Detection2DArray (heatmaps travel separately)."""
    out = []
    for det in msg.detections:
        if not len(det.results):
            msg_ = f"verdict detection {det.id!r} has no hypotheses"
            raise ValueError(msg_)
        by_class = _results_by_class(det)
        head = det.results[0].hypothesis
        try:
            defect_type = DefectType(str(head.class_id))
        except ValueError:
            msg_ = f"verdict class {head.class_id!r} is not one of {[t.value for t in DefectType]}"
            raise ValueError(msg_) from None
        score = float(head.score)
        p_defect = 1.0 - score if defect_type == DefectType.OK else score

        def flag(name: str) -> float:
            r = by_class.get(name)
            return float(r.hypothesis.score) if r is not None else 0.0

        out.append(
            DefectVerdict(
                track_id=_track_id(det),
                stamp_s=_det_stamp_s(det, msg),
                p_defect=p_defect,
                defect_type=defect_type,
                supervised_score=flag(P_SUPERVISED_CLASS),
                anomaly_score=flag(P_ANOMALY_CLASS),
                reject=flag(REJECT_CLASS) >= 0.5,
                uncertain=flag(UNCERTAIN_CLASS) >= 0.5,
                heatmap=None,
            )
        )
    return out


def labels_to_detections(msgs: Any, labels: Iterable[InspectionLabel], stamp_s: float, frame_id: str = "") -> Any:
    """vision_msgs/Detection2DArray of downstream inspection labels (`inspection_labels`)."""
    detections = []
    for lab in labels:
        t = DefectType(lab.defect_type)
        if lab.defective and t == DefectType.OK:
            t = DefectType.ANOMALY  # defective of unknown type: never label it "ok"
        class_id = t.value if lab.defective else DefectType.OK.value
        detections.append(
            msgs.Detection2D(
                header=header_msg(msgs, lab.stamp_s, frame_id),
                results=[_hypothesis(msgs, class_id, 1.0)],
                bbox=_bbox_msg(msgs, None),
                id=str(int(lab.track_id)),
            )
        )
    return msgs.Detection2DArray(header=header_msg(msgs, stamp_s, frame_id), detections=detections)


def detections_to_labels(msg: Any) -> list[InspectionLabel]:
    """Inspection labels from a Detection2DArray: class `ok` = good, anything else = defective."""
    out = []
    for det in msg.detections:
        if not len(det.results):
            msg_ = f"label detection {det.id!r} has no hypotheses"
            raise ValueError(msg_)
        class_id = str(det.results[0].hypothesis.class_id)
        try:
            t = DefectType(class_id)
        except ValueError:
            t = DefectType.ANOMALY  # an integrator's own defect name: defective, type unknown
        out.append(
            InspectionLabel(
                track_id=_track_id(det),
                stamp_s=_det_stamp_s(det, msg),
                defective=t != DefectType.OK,
                defect_type=t,
            )
        )
    return out


# --------------------------------------------------------------------------------------------
# Trajectories and joint states
# --------------------------------------------------------------------------------------------


def trajectory_msg(msgs: Any, traj: JointTrajectory, frame_id: str = "") -> Any:
    """trajectory_msgs/JointTrajectory; header stamp = `start_stamp_s` (0 = "start now")."""
    points = [
        msgs.JointTrajectoryPoint(
            positions=np.asarray(traj.q_rad[i], dtype=float),
            velocities=np.asarray(traj.qd_radps[i], dtype=float),
            accelerations=np.asarray(traj.qdd_radps2[i], dtype=float),
            effort=np.zeros(0),
            time_from_start=duration_msg(msgs, float(traj.t_s[i])),
        )
        for i in range(len(traj.t_s))
    ]
    return msgs.JointTrajectory(
        header=header_msg(msgs, traj.start_stamp_s, frame_id),
        joint_names=list(traj.joint_names),
        points=points,
    )


def trajectory_from_msg(msg: Any, joint_names: Sequence[str] | None = None) -> JointTrajectory:
    """types.JointTrajectory from a trajectory_msgs/JointTrajectory.

    Missing velocities/accelerations are estimated by finite differences (np.gradient) of the
    positions. With `joint_names`, columns are reordered to that order.

    Raises:
        ValueError: no points, a point of the wrong width, names missing, or times not increasing.
    """
    names = [str(n) for n in msg.joint_names]
    n = len(names)
    if not len(msg.points):
        msg_ = "JointTrajectory has no points"
        raise ValueError(msg_)
    t = np.array([time_to_s(p.time_from_start) for p in msg.points])

    def column(field: str) -> np.ndarray | None:
        rows = [np.asarray(getattr(p, field), dtype=float) for p in msg.points]
        if all(r.size == 0 for r in rows):
            return None
        for i, r in enumerate(rows):
            if r.size != n:
                msg_ = f"JointTrajectory point {i} has {r.size} {field} for {n} joints {names}"
                raise ValueError(msg_)
        return np.stack(rows)

    q = column("positions")
    if q is None:
        msg_ = "JointTrajectory points have no positions"
        raise ValueError(msg_)
    qd = column("velocities")
    qdd = column("accelerations")
    if qd is None:
        qd = np.gradient(q, t, axis=0) if len(t) > 1 else np.zeros_like(q)
    if qdd is None:
        qdd = np.gradient(qd, t, axis=0) if len(t) > 1 else np.zeros_like(q)
    if joint_names is not None:
        idx = _reorder(names, joint_names, "JointTrajectory")
        q, qd, qdd, names = q[:, idx], qd[:, idx], qdd[:, idx], list(joint_names)
    return JointTrajectory(
        joint_names=tuple(names),
        t_s=t,
        q_rad=q,
        qd_radps=qd,
        qdd_radps2=qdd,
        start_stamp_s=time_to_s(msg.header.stamp),
    )


def follow_joint_trajectory_goal(msgs: Any, traj: JointTrajectory, goal_time_tolerance_s: float = 0.0) -> Any:
    """control_msgs/action/FollowJointTrajectory goal; tolerances left to the controller's defaults."""
    return msgs.FollowJointTrajectory_Goal(
        trajectory=trajectory_msg(msgs, traj),
        goal_time_tolerance=duration_msg(msgs, goal_time_tolerance_s),
    )


def _reorder(have: Sequence[str], want: Sequence[str], what: str) -> np.ndarray:
    missing = [n for n in want if n not in have]
    if missing:
        msg = f"{what} lacks joint(s) {missing}; it has {list(have)}"
        raise ValueError(msg)
    return np.array([list(have).index(n) for n in want], dtype=int)


def joint_state_msg(msgs: Any, state: JointState) -> Any:
    """sensor_msgs/JointState (position, velocity; no effort)."""
    return msgs.JointState(
        header=header_msg(msgs, state.stamp_s, ""),
        name=list(state.names),
        position=np.asarray(state.q_rad, dtype=float),
        velocity=np.asarray(state.qd_radps, dtype=float),
        effort=np.zeros(0),
    )


def joint_state_from_msg(msg: Any, joint_names: Sequence[str] | None = None) -> JointState:
    """types.JointState; reordered to `joint_names` if given; missing velocities read as 0.

    Accelerations are not in the message and read as 0.
    """
    names = [str(n) for n in msg.name]
    q = np.asarray(msg.position, dtype=float)
    qd = np.asarray(msg.velocity, dtype=float)
    if q.size != len(names):
        msg_ = f"JointState has {q.size} positions for {len(names)} names {names}"
        raise ValueError(msg_)
    if qd.size == 0:
        qd = np.zeros_like(q)
    elif qd.size != q.size:
        msg_ = f"JointState has {qd.size} velocities for {q.size} positions"
        raise ValueError(msg_)
    if joint_names is not None:
        idx = _reorder(names, joint_names, "JointState")
        q, qd, names = q[idx], qd[idx], list(joint_names)
    return JointState(
        names=tuple(names), q_rad=q, qd_radps=qd, qdd_radps2=np.zeros_like(q), stamp_s=time_to_s(msg.header.stamp)
    )


# --------------------------------------------------------------------------------------------
# Diagnostics: alarms, node status, pick outcomes, twin part events
# --------------------------------------------------------------------------------------------

_LEVELS = {"ok": "OK", "warn": "WARN", "error": "ERROR", "stale": "STALE"}


def diagnostic_level(level: Any) -> int:
    """Integer level of a DiagnosticStatus.level (rclpy holds a 1-byte `bytes`, rosbags an int)."""
    if isinstance(level, (bytes, bytearray)):
        return int(level[0])
    return int(level)


def _key_values(msgs: Any, values: Mapping[str, Any]) -> list[Any]:
    return [msgs.KeyValue(key=str(k), value=_kv_str(v)) for k, v in values.items()]


def _kv_str(v: Any) -> str:
    if isinstance(v, float) or isinstance(v, np.floating):
        return repr(float(v))  # round-trips exactly
    return str(v)


def _values(status: Any) -> dict[str, str]:
    return {str(kv.key): str(kv.value) for kv in status.values}


def status_msg(
    msgs: Any, name: str, level: str, message: str, values: Mapping[str, Any] | None = None, hardware_id: str = ""
) -> Any:
    """diagnostic_msgs/DiagnosticStatus; `level` is 'ok', 'warn', 'error' or 'stale'."""
    if level not in _LEVELS:
        msg_ = f"diagnostic level must be one of {sorted(_LEVELS)}, got {level!r}"
        raise ValueError(msg_)
    return msgs.DiagnosticStatus(
        level=getattr(msgs.DiagnosticStatus, _LEVELS[level]),
        name=name,
        message=message,
        hardware_id=hardware_id,
        values=_key_values(msgs, values or {}),
    )


def diagnostics_msg(msgs: Any, statuses: Iterable[Any], stamp_s: float) -> Any:
    """diagnostic_msgs/DiagnosticArray."""
    return msgs.DiagnosticArray(header=header_msg(msgs, stamp_s, ""), status=list(statuses))


def alarms_to_diagnostics(msgs: Any, alarms: Iterable[Alarm], stamp_s: float, source: str) -> Any:
    """DiagnosticArray with one ERROR status per alarm (`part_id`, `kind`, `detail`, `stamp_s`)."""
    statuses = [
        status_msg(
            msgs,
            name=f"{source}: {a.kind}",
            level="error",
            message=f"part {a.track_id}: {a.kind}" + (f": {a.detail}" if a.detail else ""),
            values={"part_id": int(a.track_id), "kind": a.kind, "detail": a.detail, "stamp_s": float(a.stamp_s)},
            hardware_id="factory_ai",
        )
        for a in alarms
    ]
    return diagnostics_msg(msgs, statuses, stamp_s)


def diagnostics_to_alarms(msg: Any) -> list[Alarm]:
    """Alarms from a DiagnosticArray: every status that carries `part_id` and `kind`."""
    out = []
    for st in msg.status:
        kv = _values(st)
        if "part_id" in kv and "kind" in kv:
            stamp = float(kv["stamp_s"]) if "stamp_s" in kv else time_to_s(msg.header.stamp)
            out.append(Alarm(track_id=int(kv["part_id"]), stamp_s=stamp, kind=kv["kind"], detail=kv.get("detail", "")))
    return out


_OFFSET_KEYS = ("offset_x_m", "offset_y_m", "offset_z_m")


def pick_outcomes_to_diagnostics(msgs: Any, outcomes: Iterable[PickOutcome], stamp_s: float) -> Any:
    """DiagnosticArray for `pick_outcomes`: one status per pick (WARN unless the part is in the bin)."""
    statuses = []
    for o in outcomes:
        result = PickResult(o.result)
        values: dict[str, Any] = {
            "track_id": int(o.track_id),
            "result": result.value,
            "stamp_s": float(o.stamp_s),
            "predicted_grasp_time_s": float(o.predicted_grasp_time_s),
        }
        if o.offset_part_cup_base_m is not None:
            values.update(zip(_OFFSET_KEYS, (float(x) for x in np.asarray(o.offset_part_cup_base_m)), strict=True))
        statuses.append(
            status_msg(
                msgs,
                name="pick",
                level="ok" if result == PickResult.IN_BIN else "warn",
                message=f"part {o.track_id}: {result.value}",
                values=values,
                hardware_id=str(int(o.track_id)),
            )
        )
    return diagnostics_msg(msgs, statuses, stamp_s)


def diagnostics_to_pick_outcomes(msg: Any) -> list[PickOutcome]:
    """Pick outcomes from a `pick_outcomes` DiagnosticArray."""
    out = []
    for st in msg.status:
        kv = _values(st)
        if "track_id" not in kv or "result" not in kv:
            continue
        offset = np.array([float(kv[k]) for k in _OFFSET_KEYS]) if all(k in kv for k in _OFFSET_KEYS) else None
        out.append(
            PickOutcome(
                track_id=int(kv["track_id"]),
                stamp_s=float(kv.get("stamp_s", time_to_s(msg.header.stamp))),
                result=PickResult(kv["result"]),
                offset_part_cup_base_m=offset,
                predicted_grasp_time_s=float(kv.get("predicted_grasp_time_s", "nan")),
            )
        )
    return out


def part_events_to_diagnostics(msgs: Any, events: Iterable[Any], stamp_s: float) -> Any:
    """DiagnosticArray of twin part events (objects with `stamp_s`, `part_id`, `kind`)."""
    statuses = [
        status_msg(
            msgs,
            name="part_event",
            level="ok",
            message=f"part {e.part_id}: {getattr(e.kind, 'value', e.kind)}",
            values={"part_id": e.part_id, "kind": getattr(e.kind, "value", e.kind), "stamp_s": float(e.stamp_s)},
            hardware_id=str(e.part_id),
        )
        for e in events
    ]
    return diagnostics_msg(msgs, statuses, stamp_s)


def diagnostics_to_part_events(msg: Any) -> list[tuple[float, str, str]]:
    """(stamp_s, part_id, kind) of each `part_event` status."""
    out = []
    for st in msg.status:
        if str(st.name) != "part_event":
            continue
        kv = _values(st)
        out.append((float(kv["stamp_s"]), kv["part_id"], kv["kind"]))
    return out


# --------------------------------------------------------------------------------------------
# Plan display
# --------------------------------------------------------------------------------------------

_GREEN = (0.1, 0.8, 0.2, 1.0)
_RED = (0.9, 0.1, 0.1, 1.0)


def _color(msgs: Any, rgba: Sequence[float]) -> Any:
    return msgs.ColorRGBA(r=float(rgba[0]), g=float(rgba[1]), b=float(rgba[2]), a=float(rgba[3]))


def plan_markers(
    msgs: Any,
    plans: Iterable[RejectPlan],
    cup_paths_base_m: Mapping[int, np.ndarray],
    stamp_s: float,
    frame_id: str = "base_link",
    ns: str = "factory_ai_plan",
) -> Any:
    """visualization_msgs/MarkerArray: DELETEALL, then per plan the cup path (LINE_STRIP),
    the grasp point (SPHERE) and a label (TEXT_VIEW_FACING; red for cannot_reject).

    Args:
        cup_paths_base_m: track id -> (N, 3) suction-cup positions along the trajectory (m).
    """
    M = msgs.Marker
    header = header_msg(msgs, stamp_s, frame_id)
    markers = [M(header=header, ns=ns, id=0, action=M.DELETEALL)]
    next_id = 1
    for plan in plans:
        ok = RejectStatus(plan.status) == RejectStatus.PLANNED
        path = np.asarray(cup_paths_base_m.get(int(plan.track_id), np.zeros((0, 3))), dtype=float).reshape(-1, 3)
        grasp = plan.p_grasp_base_m if plan.p_grasp_base_m is not None else (path[-1] if len(path) else None)
        if len(path) >= 2:
            markers.append(
                M(
                    header=header, ns=ns, id=next_id, type=M.LINE_STRIP, action=M.ADD,
                    pose=_pose_msg(msgs, (0, 0, 0), (0, 0, 0, 1)),
                    scale=msgs.Vector3(x=0.005, y=0.0, z=0.0),
                    color=_color(msgs, _GREEN),
                    points=[msgs.Point(x=float(p[0]), y=float(p[1]), z=float(p[2])) for p in path],
                )
            )  # fmt: skip
            next_id += 1
        if grasp is not None:
            g = np.asarray(grasp, dtype=float)
            markers.append(
                M(
                    header=header, ns=ns, id=next_id, type=M.SPHERE, action=M.ADD,
                    pose=_pose_msg(msgs, g, (0, 0, 0, 1)),
                    scale=msgs.Vector3(x=0.02, y=0.02, z=0.02),
                    color=_color(msgs, _GREEN if ok else _RED),
                )
            )  # fmt: skip
            markers.append(
                M(
                    header=header, ns=ns, id=next_id + 1, type=M.TEXT_VIEW_FACING, action=M.ADD,
                    pose=_pose_msg(msgs, g + np.array([0.0, 0.0, 0.05]), (0, 0, 0, 1)),
                    scale=msgs.Vector3(x=0.0, y=0.0, z=0.03),
                    color=_color(msgs, _GREEN if ok else _RED),
                    text=f"part {plan.track_id}" + ("" if ok else f": cannot reject ({plan.reason})"),
                )
            )  # fmt: skip
            next_id += 2
    return msgs.MarkerArray(markers=markers)


# --------------------------------------------------------------------------------------------
# Parameters (rcl_interfaces), for the learner's SetParameters calls
# --------------------------------------------------------------------------------------------


def parameter_value_msg(msgs: Any, value: bool | int | float | str | Sequence[float]) -> Any:
    """rcl_interfaces/ParameterValue of a Python value (bool, int, float, str, list of float)."""
    PT = msgs.ParameterType
    if isinstance(value, (bool, np.bool_)):
        return msgs.ParameterValue(type=PT.PARAMETER_BOOL, bool_value=bool(value))
    if isinstance(value, (int, np.integer)):
        return msgs.ParameterValue(type=PT.PARAMETER_INTEGER, integer_value=int(value))
    if isinstance(value, (float, np.floating)):
        return msgs.ParameterValue(type=PT.PARAMETER_DOUBLE, double_value=float(value))
    if isinstance(value, str):
        return msgs.ParameterValue(type=PT.PARAMETER_STRING, string_value=value)
    if isinstance(value, (list, tuple, np.ndarray)) and all(isinstance(v, (float, np.floating)) for v in value):
        return msgs.ParameterValue(type=PT.PARAMETER_DOUBLE_ARRAY, double_array_value=np.asarray(value, dtype=float))
    msg = f"parameter value {value!r} has an unsupported type {type(value).__name__}"
    raise TypeError(msg)


def parameter_value_to_python(pv: Any) -> Any:
    """Python value of an rcl_interfaces/ParameterValue (None for NOT_SET)."""
    t = int(pv.type)
    if t == 1:
        return bool(pv.bool_value)
    if t == 2:
        return int(pv.integer_value)
    if t == 3:
        return float(pv.double_value)
    if t == 4:
        return str(pv.string_value)
    if t == 8:
        return [float(v) for v in pv.double_array_value]
    if t == 6:
        return [bool(v) for v in pv.bool_array_value]
    if t == 7:
        return [int(v) for v in pv.integer_array_value]
    if t == 9:
        return [str(v) for v in pv.string_array_value]
    return None


def parameter_msgs(msgs: Any, values: Mapping[str, Any]) -> list[Any]:
    """rcl_interfaces/Parameter list for a SetParameters request."""
    return [msgs.Parameter(name=str(k), value=parameter_value_msg(msgs, v)) for k, v in values.items()]


def set_parameters_request(msgs: Any, values: Mapping[str, Any]) -> Any:
    """rcl_interfaces/srv/SetParameters request."""
    return msgs.SetParameters_Request(parameters=parameter_msgs(msgs, values))
