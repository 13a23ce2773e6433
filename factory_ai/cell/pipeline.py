"""The pick-and-reject pipeline, written once: frames -> vision -> classifier -> planner -> commands.

`CellPipeline` holds no clock and no I/O: the simulated run (`factory_ai.cell.simulated`) and the
ROS nodes call the same stage classes with their own time source and actuators. The rule it
enforces: a part judged defective (or doubtful) ends in the bin or as an explicit `Alarm`, never
as a silent pass.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from factory_ai.types import (
    Alarm,
    DefectVerdict,
    JointState,
    JointTrajectory,
    PartObservation,
    PickOutcome,
    PickResult,
    RejectPlan,
    RejectStatus,
)

log = logging.getLogger(__name__)


class Tracker(Protocol):
    def update(self, rgb: np.ndarray, stamp_s: float) -> list[PartObservation]: ...


class Classifier(Protocol):
    def classify(self, crops: list[np.ndarray], track_ids: list[int], stamp_s: float) -> list[DefectVerdict]: ...


class Planner(Protocol):
    def plan(
        self, state: JointState, targets: list[PartObservation], now_s: float, latency_s: float = 0.0
    ) -> list[RejectPlan]: ...


@dataclass
class PipelineConfig:
    """Knobs of the pipeline (cell clock seconds)."""

    views_per_part: int = 2  # classify this many fully-in-view frames; the most doubtful counts
    max_pick_attempts: int = 2  # then `pick_failed_twice`
    reject_uncertain: bool = True  # doubtful verdicts are rejected (and flagged), not passed
    grasp_check_delay_s: float = 0.15  # after the predicted grasp, vacuum must report a held part
    commit_before_grasp_s: float = 0.25  # no replan this close to a grasp: the arm is committed
    replan_shift_m: float = 0.002  # re-plan when a pending part's predicted position moves this much
    latency_s: float = 0.0  # known frame-to-command latency handed to the planner


@dataclass
class Commands:
    """What the pipeline asks the actuators to do now."""

    trajectory: JointTrajectory | None = None
    suction_on: bool | None = None
    alarms: list[Alarm] = field(default_factory=list)
    released: list[int] = field(default_factory=list)  # track ids released over the bin
    pick_failures: list[int] = field(default_factory=list)


def _motion_start_s(traj: JointTrajectory, now_s: float) -> float:
    """Cell-clock time the arm starts moving on `traj` (a plan may wait for its part first)."""
    moving = np.flatnonzero(np.max(np.abs(traj.qd_radps), axis=1) > 1e-3)
    t0 = traj.start_stamp_s if traj.start_stamp_s > 0.0 else now_s
    return t0 + float(traj.t_s[moving[0]]) if moving.size else now_s


class InspectionStage:
    """Classify every track once it is fully in view, over a few views, most doubtful view wins."""

    def __init__(self, classifier: Classifier, views_per_part: int = 2) -> None:
        self.classifier = classifier
        self.views_per_part = views_per_part
        self._views: dict[int, int] = {}
        self.verdicts: dict[int, DefectVerdict] = {}

    def process(self, observations: list[PartObservation], stamp_s: float) -> list[DefectVerdict]:
        """New or changed verdicts for the given observations (only parts with a crop)."""
        todo = [
            o for o in observations if o.crop is not None and self._views.get(o.track_id, 0) < self.views_per_part
        ]
        if not todo:
            return []
        verdicts = self.classifier.classify([o.crop for o in todo], [o.track_id for o in todo], stamp_s)
        changed = []
        for obs, v in zip(todo, verdicts):
            self._views[obs.track_id] = self._views.get(obs.track_id, 0) + 1
            old = self.verdicts.get(obs.track_id)
            # Conservative fusion over views: a flaw seen in any view is a flaw.
            if old is None or v.p_defect > old.p_defect or (v.reject and not old.reject):
                self.verdicts[obs.track_id] = v
                changed.append(v)
        return changed

    def forget(self, track_id: int) -> None:
        """Drop a track's state once its part has left the cell."""
        self._views.pop(track_id, None)
        self.verdicts.pop(track_id, None)


@dataclass
class _Pending:
    observation: PartObservation
    verdict: DefectVerdict
    attempts: int = 0


class RejectScheduler:
    """Keeps the pending rejects, the active plan and its suction timing; replans on change."""

    def __init__(self, planner: Planner, config: PipelineConfig) -> None:
        self.planner = planner
        self.config = config
        self.pending: dict[int, _Pending] = {}
        self.active: RejectPlan | None = None
        self.phase = "idle"  # idle | approach | grasp | transfer
        self._need_replan = False
        self._planned_obs: dict[int, np.ndarray] = {}
        self.replan_ms: list[float] = []
        self.cycle_start_s: float | None = None
        self.cycles_s: list[float] = []  # motion start to release, per rejected part (s)

    def add(self, observation: PartObservation, verdict: DefectVerdict) -> None:
        """A part to reject (new or updated verdict)."""
        if observation.track_id in self.pending:
            self.pending[observation.track_id].verdict = verdict
            return
        self.pending[observation.track_id] = _Pending(observation, verdict)
        self._need_replan = True

    def update_track(self, observation: PartObservation) -> None:
        """A fresher observation of a pending part; replan if its prediction moved."""
        p = self.pending.get(observation.track_id)
        if p is None:
            return
        p.observation = observation
        old = self._planned_obs.get(observation.track_id)
        if old is not None:
            dt = observation.stamp_s - old[3]
            predicted = old[:3] + dt * np.asarray(observation.v_base_mps)
            if np.linalg.norm(predicted - observation.p_base_m) > self.config.replan_shift_m:
                self._need_replan = True

    def _replan(self, now_s: float, state: JointState, out: Commands) -> None:
        targets = [p.observation for p in self.pending.values()]
        t0 = time.perf_counter()
        plans = self.planner.plan(state, targets, now_s, self.config.latency_s)
        self.replan_ms.append((time.perf_counter() - t0) * 1e3)
        self._need_replan = False
        first: RejectPlan | None = None
        for plan in plans:
            if plan.status == RejectStatus.CANNOT_REJECT:
                out.alarms.append(Alarm(plan.track_id, now_s, "cannot_reject", plan.reason))
                self.pending.pop(plan.track_id, None)
            elif first is None and plan.trajectory is not None:
                first = plan
        if first is None:
            return
        same_target = self.active is not None and self.active.track_id == first.track_id
        self.active = first
        self.phase = "approach"
        if not same_target:
            self.cycle_start_s = _motion_start_s(first.trajectory, now_s)
        for tid, p in self.pending.items():
            o = p.observation
            self._planned_obs[tid] = np.r_[o.p_base_m, o.stamp_s]
        out.trajectory = first.trajectory

    def tick(self, now_s: float, state: JointState, vacuum_on: bool, part_held: bool) -> Commands:
        """Advance the active plan's phases and replan when allowed."""
        out = Commands()
        a = self.active
        if a is not None:
            if self.phase == "approach" and now_s >= a.suction_on_s:
                out.suction_on = True
                self.phase = "grasp"
            elif self.phase == "grasp" and now_s >= a.grasp_time_s + self.config.grasp_check_delay_s:
                if part_held:
                    self.phase = "transfer"
                else:
                    self._fail(a.track_id, now_s, out, "missed")
            elif self.phase == "transfer":
                if not part_held and now_s < a.suction_off_s:
                    self._fail(a.track_id, now_s, out, "dropped")
                elif now_s >= a.suction_off_s:
                    out.suction_on = False
                    out.released.append(a.track_id)
                    if self.cycle_start_s is not None:
                        self.cycles_s.append(now_s - self.cycle_start_s)
                    self.pending.pop(a.track_id, None)
                    self._planned_obs.pop(a.track_id, None)
                    self.active = None
                    self.phase = "idle"
                    self._need_replan = bool(self.pending)
        if out.released or out.pick_failures:
            # Replan on the next tick, after the caller has fed these outcomes to the learner,
            # so the next plan uses the corrections they produce.
            return out
        movable = self.active is None or (
            self.phase == "approach" and now_s < self.active.grasp_time_s - self.config.commit_before_grasp_s
        )
        if self._need_replan and self.pending and movable:
            self._replan(now_s, state, out)
        return out

    def _fail(self, track_id: int, now_s: float, out: Commands, why: str) -> None:
        out.suction_on = False
        out.pick_failures.append(track_id)
        self.active = None
        self.phase = "idle"
        p = self.pending.get(track_id)
        if p is None:
            return
        p.attempts += 1
        if p.attempts >= self.config.max_pick_attempts:
            out.alarms.append(Alarm(track_id, now_s, "pick_failed_twice", f"last attempt {why}"))
            self.pending.pop(track_id, None)
        self._need_replan = bool(self.pending)


class CellPipeline:
    """Vision, inspection and scheduling glued together; learner hooks for outcomes and labels."""

    def __init__(
        self,
        tracker: Tracker,
        classifier: Classifier,
        planner: Planner,
        learner: Any | None = None,
        config: PipelineConfig | None = None,
    ) -> None:
        self.config = config or PipelineConfig()
        self.tracker = tracker
        self.classifier = classifier
        self.inspection = InspectionStage(classifier, self.config.views_per_part)
        self.scheduler = RejectScheduler(planner, self.config)
        self.learner = learner
        self.planner = planner
        self.observations: dict[int, PartObservation] = {}
        self.alarms: list[Alarm] = []
        self.perception_ms: list[float] = []
        self._applied: dict[int, Any] = {}  # track id -> learner corrections its plan used

    def on_frame(self, rgb: np.ndarray, stamp_s: float) -> tuple[list[PartObservation], list[DefectVerdict], list[Alarm]]:
        """Process one camera frame: track, classify new views, queue rejects."""
        t0 = time.perf_counter()
        alarms: list[Alarm] = []
        try:
            observations = self.tracker.update(rgb, stamp_s)
        except ValueError as exc:
            # A corrupt frame: no part is judged on it; the tracks carry on with the next frame.
            alarms.append(Alarm(-1, stamp_s, "bad_input", str(exc)))
            self.alarms.extend(alarms)
            return [], [], alarms
        for o in observations:
            self.observations[o.track_id] = o
            self.scheduler.update_track(o)
        live = getattr(self.learner, "live_model", None)
        if live is not None:  # promotions and rollbacks swap the live model
            self.inspection.classifier = live
        verdicts = self.inspection.process(observations, stamp_s)
        self.perception_ms.append((time.perf_counter() - t0) * 1e3)
        by_id = {o.track_id: o for o in observations}
        for v in verdicts:
            if self.learner is not None:
                self.learner.record_verdict(v, crop=by_id[v.track_id].crop)
            if v.reject or (v.uncertain and self.config.reject_uncertain):
                if v.uncertain:
                    alarms.append(Alarm(v.track_id, stamp_s, "uncertain_verdict", f"p_defect={v.p_defect:.3f}"))
                self.scheduler.add(by_id[v.track_id], v)
        self.alarms.extend(alarms)
        return observations, verdicts, alarms

    def tick(self, now_s: float, state: JointState, vacuum_on: bool, part_held: bool) -> Commands:
        """Advance the scheduler; alarms it raises are kept for the report."""
        cmds = self.scheduler.tick(now_s, state, vacuum_on, part_held)
        self.alarms.extend(cmds.alarms)
        active = self.scheduler.active
        if cmds.trajectory is not None and active is not None and hasattr(self.learner, "corrections"):
            # What this plan was made with: the learner must not count it twice.
            self._applied[active.track_id] = self.learner.corrections
        return cmds

    def on_pick_outcome(self, outcome: PickOutcome) -> None:
        """Feed a pick outcome to the learner; apply the corrections it returns to the planner."""
        if self.learner is None or outcome.result == PickResult.NOT_ATTEMPTED:
            return
        corrections = self.learner.record_pick(outcome, self._applied.pop(outcome.track_id, None))
        if corrections is not None and hasattr(self.planner, "set_corrections"):
            self.planner.set_corrections(corrections)

    def on_label(self, label: Any) -> None:
        """Feed a downstream inspection label to the learner."""
        if self.learner is not None:
            self.learner.record_label(label)

    def learn(self) -> Any:
        """Let the learner recalibrate / fine-tune if due (off the hot path: call between parts)."""
        return self.learner.maybe_update() if self.learner is not None else None

    def forget(self, track_id: int) -> None:
        """Drop a track's state once its part has left the cell."""
        self.inspection.forget(track_id)
        self.observations.pop(track_id, None)
