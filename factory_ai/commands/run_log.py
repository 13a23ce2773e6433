"""MCAP log of a simulated run with real ROS 2 message types (opens in Foxglove, `ros2 bag play`).

Messages are built by the same conversions the ROS nodes use (`factory_ai.nodes.convert`, over
rosbags' Jazzy type store), CDR-encoded, and written with the `mcap` library in the `ros2`
profile with `ros2msg` schemas, which is what rosbag2's MCAP storage plugin reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from factory_ai.config import CellDescription
from factory_ai.nodes import convert
from factory_ai.types import Alarm, DefectVerdict, JointState, JointTrajectory, PartObservation

TOPICS = {
    "/camera/image_raw": "sensor_msgs/msg/Image",
    "/camera/camera_info": "sensor_msgs/msg/CameraInfo",
    "/parts": "vision_msgs/msg/Detection2DArray",
    "/verdicts": "vision_msgs/msg/Detection2DArray",
    "/planned_trajectory": "trajectory_msgs/msg/JointTrajectory",
    "/joint_states": "sensor_msgs/msg/JointState",
    "/diagnostics": "diagnostic_msgs/msg/DiagnosticArray",
}


class McapRunLog:
    """Writes the run's topics; images at a reduced rate to keep the file small."""

    def __init__(
        self, path: Path, cell: CellDescription, image_period_s: float = 0.5, joint_state_period_s: float = 0.02
    ) -> None:
        from mcap.writer import Writer

        self.msgs = convert.rosbags_types()
        self.store = self.msgs.typestore
        self.cell = cell
        self.image_period_s = image_period_s
        self.joint_state_period_s = joint_state_period_s
        self._next_image = -1.0
        self._next_js = -1.0
        path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = path.with_suffix(".mcap.tmp")
        self.path = path
        self._fh = open(self._tmp, "wb")  # noqa: SIM115 - closed in close()
        self.writer = Writer(self._fh)
        self.writer.start(profile="ros2", library="factory_ai")
        self._channels: dict[str, int] = {}
        self._seq: dict[str, int] = {}
        for topic, typename in TOPICS.items():
            msgdef, _ = self.store.generate_msgdef(typename, ros_version=2)
            schema = self.writer.register_schema(name=typename, encoding="ros2msg", data=msgdef.encode())
            self._channels[topic] = self.writer.register_channel(topic=topic, message_encoding="cdr", schema_id=schema)
            self._seq[topic] = 0

    def _write(self, topic: str, stamp_s: float, msg: Any) -> None:
        data = self.store.serialize_cdr(msg, TOPICS[topic])
        t_ns = int(round(stamp_s * 1e9))
        self.writer.add_message(self._channels[topic], t_ns, bytes(data), t_ns, self._seq[topic])
        self._seq[topic] += 1

    def frame(
        self, stamp_s: float, rgb: np.ndarray, observations: list[PartObservation], verdicts: list[DefectVerdict]
    ) -> None:
        """Camera frame (reduced rate), tracked parts and new verdicts."""
        cam = self.cell.camera
        if stamp_s >= self._next_image:
            self._next_image = stamp_s + self.image_period_s
            self._write("/camera/image_raw", stamp_s, convert.image_msg(self.msgs, rgb, "rgb8", stamp_s, cam.frame_id))
            self._write("/camera/camera_info", stamp_s, convert.camera_info_from_description(self.msgs, cam, stamp_s))
        by_id = {o.track_id: o for o in observations}
        self._write(
            "/parts", stamp_s, convert.parts_to_detections(self.msgs, observations, stamp_s, cam.frame_id, cam.T_base_camera)
        )
        if verdicts:
            self._write("/verdicts", stamp_s, convert.verdicts_to_detections(self.msgs, verdicts, stamp_s, cam.frame_id, by_id))

    def trajectory(self, stamp_s: float, traj: JointTrajectory) -> None:
        """A trajectory sent to the arm."""
        self._write("/planned_trajectory", stamp_s, convert.trajectory_msg(self.msgs, traj, "base_link"))

    def joint_state(self, stamp_s: float, state: JointState) -> None:
        """Joint states, at `joint_state_period_s`."""
        if stamp_s >= self._next_js:
            self._next_js = stamp_s + self.joint_state_period_s
            self._write("/joint_states", stamp_s, convert.joint_state_msg(self.msgs, state))

    def alarm(self, stamp_s: float, alarm: Alarm) -> None:
        """An alarm as a DiagnosticArray with the part id."""
        self._write("/diagnostics", stamp_s, convert.alarms_to_diagnostics(self.msgs, [alarm], stamp_s, "factory_ai"))

    def close(self) -> None:
        """Finish the file (summary and index) and move it into place."""
        self.writer.finish()
        self._fh.close()
        self._tmp.replace(self.path)
