"""feedback_learner_node: outcomes -> better thresholds and process corrections, pushed to the cell.

Subscribes `verdicts` and `inspection_labels` (vision_msgs/Detection2DArray) and `pick_outcomes`
(diagnostic_msgs/DiagnosticArray); records them in `learning.FeedbackLearner` (SQLite, durable),
whose `BackgroundUpdater` thread recalibrates the threshold and fine-tunes off the executor. New
thresholds and promoted model files go to the classifier node, process corrections to the planner
node, through their parameter services (rcl_interfaces/srv/SetParameters, asynchronous).
Diagnostics: model version, threshold, escape-rate estimate, record counts.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from rclpy.lifecycle import State, TransitionCallbackReturn
from rclpy.parameter_client import AsyncParameterClient

from factory_ai.nodes import convert
from factory_ai.nodes.common import DEPTH, CellNode, guarded, run
from factory_ai.nodes.params import Param

PARAMS: dict[str, Param] = {
    "db_path": Param("~/.ros/factory_ai/learner.sqlite", "learner database; models and replay crops go next to it"),
    "model_path": Param("", "classifier the learner starts from on a fresh database; empty = shipped weights"),
    "target_escape_rate": Param(0.005, "share of defective parts the classifier may let through", "fraction", 1e-5, 0.5),
    "recalibrate_every_labels": Param(10, "recalibrate the threshold after this many new labels (or any escape)", "labels", 1, 100000),
    "update_period_s": Param(5.0, "how often the background thread checks whether an update is due", "s", 0.1, 3600.0),
    "push_period_s": Param(1.0, "how often new thresholds / models / corrections are pushed", "s", 0.05, 600.0),
    "classifier_node": Param("defect_classifier_node", "node whose 'threshold' and 'model_path' the learner sets"),
    "planner_node": Param("trajectory_planner_node", "node whose correction parameters the learner sets"),
    "push_corrections": Param(True, "push camera offset / latency / belt speed corrections to the planner"),
}


class FeedbackLearnerNode(CellNode):
    """Managed node around `factory_ai.learning.FeedbackLearner`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("feedback_learner_node", PARAMS, **kwargs)
        self.p: dict[str, Any] = {}
        self.learner = self.updater = None
        self.classifier_params = self.planner_params = None
        self._pushed: dict[str, Any] = {}
        self._n_failed_pushes = 0

    # -- lifecycle ----------------------------------------------------------------------------

    def on_configure(self, state: State) -> TransitionCallbackReturn:
        """Open (or recover) the learner database and load the live model."""
        self.p = self.read_parameters()
        try:
            self._build_learner()
        except Exception as exc:  # noqa: BLE001
            return self.configure_failed("cannot open the learner", exc)
        m = self.msgs
        self.classifier_params = AsyncParameterClient(self, self.p["classifier_node"])
        self.planner_params = AsyncParameterClient(self, self.p["planner_node"])
        self.create_diagnostics_publisher()
        self.track(self.create_subscription(m.Detection2DArray.cls, "verdicts", self._on_verdicts, DEPTH))
        self.track(self.create_subscription(m.Detection2DArray.cls, "inspection_labels", self._on_labels, DEPTH))
        self.track(self.create_subscription(m.DiagnosticArray.cls, "pick_outcomes", self._on_pick_outcomes, DEPTH))
        self.track(self.create_timer(self.p["push_period_s"], self._on_push_timer))
        self.track(self.create_timer(1.0, self._on_diagnostics_timer))
        s = self.learner.summary()
        self.get_logger().info(
            f"configured: model v{s['live_version']}, threshold {s['threshold']:.4f}, "
            f"{s['verdicts']} verdicts / {s['labels']} labels / {s['picks']} picks on record"
        )
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        """Start the background updates; push the persisted state on the next push tick."""
        from factory_ai.learning import BackgroundUpdater

        self._pushed.clear()  # after a restart the other nodes must hear the learner's state
        self.updater = BackgroundUpdater(self.learner, self.p["update_period_s"]).start()
        return super().on_activate(state)

    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        """Stop the background thread (a running fine-tune finishes first)."""
        self._stop_updater()
        return super().on_deactivate(state)

    def release(self) -> None:
        """Stop the thread and close the database (everything is already durable)."""
        self._stop_updater()
        if self.learner is not None:
            self.learner.close()
        self.learner = None
        from rclpy.client import Client

        for client in (self.classifier_params, self.planner_params):
            for c in vars(client).values() if client is not None else ():
                if isinstance(c, Client):  # the service clients AsyncParameterClient made
                    self.destroy_client(c)
        self.classifier_params = self.planner_params = None

    # -- inputs -------------------------------------------------------------------------------

    @guarded("verdicts")
    def _on_verdicts(self, msg: Any) -> None:
        for verdict in convert.detections_to_verdicts(msg):
            self.learner.record_verdict(verdict)

    @guarded("inspection_labels")
    def _on_labels(self, msg: Any) -> None:
        for label in convert.detections_to_labels(msg):
            self.learner.record_label(label)

    @guarded("pick_outcomes")
    def _on_pick_outcomes(self, msg: Any) -> None:
        for outcome in convert.diagnostics_to_pick_outcomes(msg):
            self.learner.record_pick(outcome)

    # -- outputs ------------------------------------------------------------------------------

    @guarded("push")
    def _on_push_timer(self) -> None:
        threshold = float(self.learner.threshold)
        if self._changed("threshold", threshold):
            self._push(self.classifier_params, {"threshold": threshold})
        model_file = self._live_model_file()
        if model_file is not None and self._changed("model_path", model_file):
            self._push(self.classifier_params, {"model_path": model_file})
        if self.p["push_corrections"]:
            c = self.learner.corrections
            values = {
                "camera_offset_x_m": float(c.camera_offset_base_m[0]),
                "camera_offset_y_m": float(c.camera_offset_base_m[1]),
                "latency_correction_s": float(c.latency_s),
                "belt_speed_scale": float(c.belt_speed_scale),
            }
            if self._changed("corrections", values):
                self._push(self.planner_params, values)

    def _changed(self, key: str, value: Any) -> bool:
        if self._pushed.get(key) == value:
            return False
        self._pushed[key] = value
        return True

    def _push(self, client: AsyncParameterClient, values: dict[str, Any]) -> None:
        if not client.services_are_ready():
            self.get_logger().warning(
                f"parameter services of '{client.remote_node_name}' not available; will retry", throttle_duration_sec=10.0
            )
            self._pushed.clear()  # retry everything on the next tick
            return
        future = client.set_parameters(convert.parameter_msgs(self.msgs, values))
        future.add_done_callback(lambda f: self._on_push_done(client.remote_node_name, values, f))

    @guarded("set_parameters response")
    def _on_push_done(self, node: str, values: dict[str, Any], future: Any) -> None:
        response = future.result()
        failed = [r.reason for r in response.results if not r.successful] if response is not None else ["no response"]
        if failed:
            self._n_failed_pushes += 1
            self.get_logger().error(f"setting {sorted(values)} on '{node}' failed: {failed}")
            self._pushed.clear()
        else:
            self.get_logger().info(f"set on '{node}': {values}")

    def _live_model_file(self) -> str | None:
        """Path of the live model's file, or None while the initial (shipped) model is live."""
        version = self.learner.live_version
        for mv in self.learner.store.model_versions():
            if mv.version == version and mv.file:
                path = self.learner.model_dir / mv.file
                return str(path) if path.is_file() else None
        return None

    def _on_diagnostics_timer(self) -> None:
        if not self.active or self.learner is None:
            return
        s = self.learner.summary()
        report = self.updater.last_report if self.updater is not None else None
        decision = report.threshold if report is not None else None
        escape = decision.escape_point if decision is not None else math.nan
        escape_ucb = decision.escape_ucb if decision is not None else math.nan
        self.publish_status(
            "ok" if self._n_failed_pushes == 0 else "warn",
            f"model v{s['live_version']}, threshold {s['threshold']:.4f}",
            {"model_version": s["live_version"], "threshold": float(s["threshold"]),
             "escape_rate_estimate": float(escape), "escape_rate_ucb": float(escape_ucb),
             "verdicts": s["verdicts"], "labels": s["labels"], "picks": s["picks"],
             "failed_pushes": self._n_failed_pushes},
        )  # fmt: skip

    # -- construction -------------------------------------------------------------------------

    def _build_learner(self) -> None:
        from factory_ai.inspection import DefectClassifier
        from factory_ai.learning import FeedbackLearner, LearnerConfig, ThresholdConfig

        db = Path(self.p["db_path"]).expanduser()
        db.parent.mkdir(parents=True, exist_ok=True)
        config = LearnerConfig(
            threshold=ThresholdConfig(target_escape_rate=float(self.p["target_escape_rate"])),
            recalibrate_every_labels=int(self.p["recalibrate_every_labels"]),
            store_crops=False,  # verdict messages carry no crops; fine-tuning needs the demo path
        )
        model = DefectClassifier.load(self.p["model_path"] or None)
        self.learner = FeedbackLearner(db, initial_model=model, config=config)

    def _stop_updater(self) -> None:
        if self.updater is not None:
            self.updater.stop()
        self.updater = None


def main(args: list[str] | None = None) -> None:
    """Entry point of `ros2 run factory_ai feedback_learner_node`."""
    run(FeedbackLearnerNode, args)


if __name__ == "__main__":
    main()
