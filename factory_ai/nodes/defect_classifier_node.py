"""defect_classifier_node: image + tracked parts (paired by stamp) -> defect verdicts per part.

Subscribes `camera/image_raw` (sensor-data QoS) and `parts`; pairs each `parts` message with the
image of the same stamp, cuts each part's canonical crop with `vision.canonical_crop`, and
classifies each track over its first `views_per_part` sightings with the cell's
`InspectionStage` (the same class the simulated demo runs; the most doubtful view counts),
publishing each new or changed verdict. Publishes `verdicts`
(vision_msgs/Detection2DArray), `heatmaps` (sensor_msgs/Image rgb8, rejected parts only) and
statuses on `/diagnostics`. The learner sets `threshold` and `model_path` at run time.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import OrderedDict
from typing import Any

from rclpy.lifecycle import State, TransitionCallbackReturn
from rclpy.qos import qos_profile_sensor_data

from factory_ai.nodes import convert
from factory_ai.nodes.common import DEPTH, CellNode, guarded, run
from factory_ai.nodes.params import Param
from factory_ai.nodes.sync import StampPairer

PARAMS: dict[str, Param] = {
    "model_path": Param("", "classifier weights file; empty = the weights shipped in factory_ai/inspection/weights"),
    "threshold": Param(-1.0, "decision threshold on the calibrated defect probability; < 0 = the model's own", "probability", -1.0, 1.0),
    "crop_size_px": Param(96, "side of the canonical crop fed to the classifier (as in training)", "px", 8, 1024),
    "views_per_part": Param(2, "fully-in-view frames of a part that are classified (the most doubtful counts)", "frames", 1, 100),
    "sync_tolerance_s": Param(0.005, "largest stamp difference between an image and its parts message", "s", 0.0, 1.0),
    "sync_queue": Param(30, "unmatched images / parts messages kept while waiting for the partner", "messages", 1, 1000),
    "publish_heatmaps": Param(True, "publish the heatmap of each rejected part on 'heatmaps'"),
    "diagnostics_period_s": Param(1.0, "period of the status on /diagnostics", "s", 0.1, 60.0),
}

_FORGET_AFTER_S = 120.0  # a track unseen this long has left the cell


class DefectClassifierNode(CellNode):
    """Managed node around `factory_ai.inspection.DefectClassifier`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("defect_classifier_node", PARAMS, **kwargs)
        self.p: dict[str, Any] = {}
        self.classifier = self.stage = None
        self.pairer: StampPairer | None = None
        self._last_seen: OrderedDict[int, float] = OrderedDict()
        self._lock = threading.Lock()  # guards the classifier reference (swapped by a reload thread)
        self._n_verdicts = self._n_rejects = self._n_uncertain = 0
        self._classify_ms = 0.0
        self.add_post_set_parameters_callback(self._on_parameters_set)

    # -- lifecycle ----------------------------------------------------------------------------

    def on_configure(self, state: State) -> TransitionCallbackReturn:
        """Load the classifier, create the topics."""
        self.p = self.read_parameters()
        try:
            from factory_ai.cell.pipeline import InspectionStage

            self.classifier = self._load(self.p["model_path"])
            self.stage = InspectionStage(self.classifier, int(self.p["views_per_part"]))
        except Exception as exc:  # noqa: BLE001
            return self.configure_failed("cannot load the defect classifier", exc)
        self.pairer = StampPairer(self.p["sync_tolerance_s"], self.p["sync_queue"])
        m = self.msgs
        self.verdict_pub = self.track(self.create_lifecycle_publisher(m.Detection2DArray.cls, "verdicts", DEPTH))
        self.heatmap_pub = self.track(self.create_lifecycle_publisher(m.Image.cls, "heatmaps", qos_profile_sensor_data))
        self.create_diagnostics_publisher()
        self.track(self.create_subscription(m.Image.cls, "camera/image_raw", self._on_image, qos_profile_sensor_data))
        self.track(self.create_subscription(m.Detection2DArray.cls, "parts", self._on_parts, DEPTH))
        self.track(self.create_timer(self.p["diagnostics_period_s"], self._on_diagnostics_timer))
        self.get_logger().info(f"configured: model {self._version()}, threshold {self.classifier.threshold:.4f}")
        return TransitionCallbackReturn.SUCCESS

    def release(self) -> None:
        """Drop the model and the waiting messages."""
        self.classifier = self.stage = None
        self.pairer = None
        self._last_seen.clear()

    # -- callbacks ------------------------------------------------------------------------------

    @guarded("camera/image_raw")
    def _on_image(self, msg: Any) -> None:
        pair = self.pairer.add_a(convert.time_to_s(msg.header.stamp), msg)
        if pair is not None:
            self._classify(*pair)

    @guarded("parts")
    def _on_parts(self, msg: Any) -> None:
        if not len(msg.detections):
            return
        pair = self.pairer.add_b(convert.time_to_s(msg.header.stamp), msg)
        if pair is not None:
            self._classify(*pair)

    def _classify(self, image_msg: Any, parts_msg: Any) -> None:
        from factory_ai.vision import canonical_crop

        stamp_s = convert.time_to_s(parts_msg.header.stamp)
        self._forget_old_tracks(parts_msg, stamp_s)
        rgb = convert.image_to_rgb(image_msg)
        geometry = convert.part_crop_geometry(parts_msg)
        size = int(self.p["crop_size_px"])
        observations = []
        for obs in convert.detections_to_parts(parts_msg):
            g = geometry[obs.track_id]
            crop = canonical_crop(rgb, g.center_px, g.angle_rad, size, extent_px=g.extent_px)
            observations.append(dataclasses.replace(obs, crop=crop))
        t0 = time.perf_counter()
        with self._lock:
            verdicts = self.stage.process(observations, stamp_s)
        if not verdicts:
            return
        self._classify_ms = 1e3 * (time.perf_counter() - t0)
        parts = {o.track_id: o for o in observations}
        frame_id = str(image_msg.header.frame_id)
        self.verdict_pub.publish(convert.verdicts_to_detections(self.msgs, verdicts, stamp_s, frame_id, parts))
        self._count(verdicts)
        if self.p["publish_heatmaps"]:
            for v in verdicts:
                if v.reject and v.heatmap is not None:
                    overlay = convert.heatmap_overlay_rgb(parts[v.track_id].crop, v.heatmap)
                    self.heatmap_pub.publish(convert.image_msg(self.msgs, overlay, "rgb8", stamp_s, frame_id))

    def _forget_old_tracks(self, parts_msg: Any, stamp_s: float) -> None:
        for det in parts_msg.detections:
            track = int(str(det.id))
            self._last_seen[track] = stamp_s
            self._last_seen.move_to_end(track)
        while self._last_seen and next(iter(self._last_seen.values())) < stamp_s - _FORGET_AFTER_S:
            track, _ = self._last_seen.popitem(last=False)
            self.stage.forget(track)

    def _count(self, verdicts: list[Any]) -> None:
        self._n_verdicts += len(verdicts)
        self._n_rejects += sum(bool(v.reject) for v in verdicts)
        self._n_uncertain += sum(bool(v.uncertain) for v in verdicts)

    def _on_parameters_set(self, parameters: list[Any]) -> None:
        """Apply a new threshold at once; reload a new model file on a thread (no blocking)."""
        for p in parameters:
            self.p[p.name] = p.value
            if p.name == "threshold" and self.classifier is not None and p.value >= 0.0:
                with self._lock:
                    self.classifier.set_threshold(float(p.value))
                self.get_logger().info(f"threshold set to {p.value:.4f}")
            elif p.name == "model_path" and self.classifier is not None:
                threading.Thread(target=self._reload, args=(str(p.value),), daemon=True).start()

    def _reload(self, path: str) -> None:
        try:
            model = self._load(path)
        except Exception as exc:  # noqa: BLE001 - keep the running model
            self.get_logger().error(f"model {path!r} not loaded, keeping {self._version()}: {exc}")
            return
        with self._lock:
            self.classifier = model
            if self.stage is not None:
                self.stage.classifier = model
        self.get_logger().info(f"model {self._version()} loaded from {path or 'the shipped weights'}")

    def _on_diagnostics_timer(self) -> None:
        if not self.active:
            return
        self.publish_status(
            "ok",
            f"model {self._version()}",
            {"model_version": self._version(), "threshold": float(self.classifier.threshold),
             "verdicts": self._n_verdicts, "rejects": self._n_rejects, "uncertain": self._n_uncertain,
             "classify_ms": round(self._classify_ms, 2), "unpaired_dropped": self.pairer.dropped},
        )  # fmt: skip

    # -- helpers ----------------------------------------------------------------------------

    def _load(self, path: str) -> Any:
        from factory_ai.inspection import DefectClassifier

        model = DefectClassifier.load(path or None)
        if self.p.get("threshold", -1.0) >= 0.0:
            model.set_threshold(float(self.p["threshold"]))
        return model

    def _version(self) -> str:
        return str(getattr(self.classifier, "version", "?"))


def main(args: list[str] | None = None) -> None:
    """Entry point of `ros2 run factory_ai defect_classifier_node`."""
    run(DefectClassifierNode, args)


if __name__ == "__main__":
    main()
