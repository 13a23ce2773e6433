"""vision_node: overhead camera images -> tracked parts on the belt (vision_msgs/Detection2DArray).

Subscribes `camera/image_raw` (sensor_msgs/Image, sensor-data QoS) and `camera/camera_info`;
publishes `parts`; statuses on `/diagnostics`. `T_base_camera` comes from tf2 when the camera
frame is in the tree (an integrator's calibrated extrinsics), else from the cell description.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np
from rclpy.lifecycle import State, TransitionCallbackReturn
from rclpy.qos import qos_profile_sensor_data
from rclpy.time import Time

from factory_ai.nodes import convert
from factory_ai.nodes.common import DEPTH, CellNode, guarded, run
from factory_ai.nodes.params import Param

PARAMS: dict[str, Param] = {
    "cell_file": Param("", "cell description YAML; empty = the package's config/cell.yaml"),
    "belt_speed_mps": Param(-1.0, "belt speed prior for new tracks; < 0 = the cell description's", "m/s", -1.0, 2.0),
    "use_tf": Param(True, "look up T_base_camera in tf2 (base frame <- camera frame) instead of the cell description"),
    "tf_period_s": Param(1.0, "how often to look the camera pose up in tf2", "s", 0.05, 60.0),
    "tf_change_m": Param(0.001, "rebuild the tracker when the camera pose moved more than this", "m", 0.0, 1.0),
    "diagnostics_period_s": Param(1.0, "period of the status on /diagnostics", "s", 0.1, 60.0),
}


class VisionNode(CellNode):
    """Managed node around `factory_ai.vision.PartTracker`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("vision_node", PARAMS, **kwargs)
        self.p: dict[str, Any] = {}
        self.cell = None
        self.tracker = None
        self.tf_buffer = None
        self._tf_listener = None
        self._T_base_camera: np.ndarray | None = None
        self._intrinsics: convert.CameraIntrinsics | None = None
        self._last_stamp_s = -1.0
        self._frames = self._bad_frames = self._parts_sent = 0
        self._proc_ms = 0.0

    # -- lifecycle ----------------------------------------------------------------------------

    def on_configure(self, state: State) -> TransitionCallbackReturn:
        """Load the cell description, build the tracker, create the topics."""
        self.p = self.read_parameters()
        try:
            from factory_ai.config import load_cell_description

            self.cell = load_cell_description(self.p["cell_file"] or None)
            self._T_base_camera = self.cell.camera.T_base_camera.copy()
            self._build_tracker()
        except Exception as exc:  # noqa: BLE001 - report and stay unconfigured
            return self.configure_failed("cannot build the part tracker", exc)
        if self.p["use_tf"]:
            from tf2_ros import Buffer, TransformListener

            self.tf_buffer = Buffer()
            self._tf_listener = TransformListener(self.tf_buffer, self)
            self.track(self.create_timer(self.p["tf_period_s"], self._on_tf_timer))
        m = self.msgs
        self.parts_pub = self.track(self.create_lifecycle_publisher(m.Detection2DArray.cls, "parts", DEPTH))
        self.create_diagnostics_publisher()
        self.track(self.create_subscription(m.Image.cls, "camera/image_raw", self._on_image, qos_profile_sensor_data))
        self.track(
            self.create_subscription(m.CameraInfo.cls, "camera/camera_info", self._on_camera_info, qos_profile_sensor_data)
        )
        self.track(self.create_timer(self.p["diagnostics_period_s"], self._on_diagnostics_timer))
        self.get_logger().info(f"configured: camera '{self.cell.camera.frame_id}', base '{self.cell.arm.base_frame}'")
        return TransitionCallbackReturn.SUCCESS

    def release(self) -> None:
        """Drop the tracker and the tf listener."""
        self.tracker = None
        self._tf_listener = None
        self.tf_buffer = None

    # -- callbacks ------------------------------------------------------------------------------

    @guarded("camera/image_raw")
    def _on_image(self, msg: Any) -> None:
        stamp_s = convert.time_to_s(msg.header.stamp)
        if stamp_s < self._last_stamp_s:  # bag loop or simulator reset: tracks are meaningless now
            self.get_logger().warning(f"image stamp went back {self._last_stamp_s:.3f} -> {stamp_s:.3f} s: tracks reset")
            self.tracker.reset()
        self._last_stamp_s = stamp_s
        self._frames += 1
        t0 = time.perf_counter()
        try:
            rgb = convert.image_to_rgb(msg)
            parts = self.tracker.update(rgb, stamp_s)
        except ValueError as exc:  # malformed frame: count, log, keep running
            self._bad_frames += 1
            self.get_logger().warning(f"bad image dropped: {exc}", throttle_duration_sec=2.0)
            return
        self._proc_ms = 1e3 * (time.perf_counter() - t0)
        frame_id = str(msg.header.frame_id) or self.cell.camera.frame_id
        self.parts_pub.publish(convert.parts_to_detections(self.msgs, parts, stamp_s, frame_id, self._T_base_camera))
        self._parts_sent += len(parts)

    @guarded("camera/camera_info")
    def _on_camera_info(self, msg: Any) -> None:
        intr = convert.camera_info_to_intrinsics(msg)
        if self._intrinsics is not None and _same_intrinsics(intr, self._intrinsics):
            return
        self._intrinsics = intr
        cam = self.cell.camera
        if (intr.width_px, intr.height_px) != (cam.width_px, cam.height_px) or not np.allclose(intr.K, cam.K):
            self.get_logger().info(f"camera_info differs from the cell description: K={intr.K.tolist()}")
            self._build_tracker()

    def _on_tf_timer(self) -> None:
        if not self.active or self.tf_buffer is None:
            return
        base, camera = self.cell.arm.base_frame, self.cell.camera.frame_id
        if not self.tf_buffer.can_transform(base, camera, Time()):
            return
        try:
            T = convert.transform_to_T(self.tf_buffer.lookup_transform(base, camera, Time()))
        except Exception as exc:  # noqa: BLE001 - tf2 raises several exception types
            self.get_logger().warning(f"tf {base} <- {camera}: {exc}", throttle_duration_sec=10.0)
            return
        moved = np.linalg.norm(T[:3, 3] - self._T_base_camera[:3, 3])
        turned = np.linalg.norm(T[:3, :3] - self._T_base_camera[:3, :3])
        if moved > self.p["tf_change_m"] or turned > 1e-3:
            self.get_logger().info(f"camera pose from tf2: moved {1e3 * moved:.1f} mm; tracker rebuilt")
            self._T_base_camera = T
            self._build_tracker()

    def _on_diagnostics_timer(self) -> None:
        if not self.active:
            return
        level = "ok" if self._frames and self._bad_frames < self._frames else "warn"
        message = "tracking" if self._frames else "no camera images yet"
        self.publish_status(
            level,
            message,
            {"frames": self._frames, "bad_frames": self._bad_frames, "parts_sent": self._parts_sent,
             "processing_ms": round(self._proc_ms, 2)},
        )  # fmt: skip

    # -- helpers ----------------------------------------------------------------------------

    def _build_tracker(self) -> None:
        from factory_ai.vision import PartTracker

        cam = self.cell.camera
        changes: dict[str, Any] = {"T_base_camera": self._T_base_camera}
        if self._intrinsics is not None:
            changes.update(width_px=self._intrinsics.width_px, height_px=self._intrinsics.height_px, K=self._intrinsics.K)
        cell = dataclasses.replace(self.cell, camera=dataclasses.replace(cam, **changes))
        speed = self.p["belt_speed_mps"]
        self.tracker = PartTracker(cell, belt_speed_mps=speed if speed >= 0.0 else None)
        self._last_stamp_s = -1.0


def _same_intrinsics(a: convert.CameraIntrinsics, b: convert.CameraIntrinsics) -> bool:
    return (a.width_px, a.height_px) == (b.width_px, b.height_px) and np.allclose(a.K, b.K)


def main(args: list[str] | None = None) -> None:
    """Entry point of `ros2 run factory_ai vision_node`."""
    run(VisionNode, args)


if __name__ == "__main__":
    main()
