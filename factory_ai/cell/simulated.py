"""Drive the pipeline against a simulated cell in simulated time (the demo and the tests).

The simulator is passed in (duck-typed to `factory_ai.sim.CellSim`'s API), so this module never
imports it. Ground truth is used only to score the run and to play the end-of-line inspection
station (labels) and the pick-offset sensor; the pipeline itself sees only camera frames,
joint states and the vacuum switch, like on a real cell.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from factory_ai.cell.pipeline import CellPipeline
from factory_ai.cell.report import PartRecord, RunRecorder
from factory_ai.types import DefectType, DefectVerdict, InspectionLabel, PickOutcome, PickResult

log = logging.getLogger(__name__)


@dataclass
class RunConfig:
    """How the simulated run is driven."""

    n_parts: int = 200  # stop once this many parts have left the cell (binned, escaped, fell)
    camera_hz: float = 15.0  # frames handed to the pipeline per simulated second
    control_dt_s: float = 0.01  # pipeline tick period (the sim's servo runs at 500 Hz inside)
    frame_delay_s: float = 0.0  # unmodelled capture-to-delivery latency (drift scenario)
    max_sim_time_s: float = 3600.0
    snapshot_every_s: float = 30.0
    max_examples: int = 12
    associate_radius_m: float = 0.03  # ground-truth matching of tracks, for scoring only
    learn_every_s: float = 5.0  # sim seconds between learner updates (taken while the arm is idle)


@dataclass
class _PickWatch:
    track_id: int
    part_id: int | None
    grasp_time_s: float
    offset_m: np.ndarray | None = None
    v_belt_pred_mps: float = float("nan")
    lead_time_s: float = float("nan")


class GroundTruthInspector:
    """Inspection by the twin's ground truth: a diagnostic upper bound, not a classifier.

    It isolates the motion side (vision, planning, execution, process learning) from classifier
    errors, e.g. to measure reject capacity and pick precision. It needs the run's track-to-part
    association, so it only exists in the simulated run (`factory-ai demo --inspection truth`).
    """

    def __init__(self) -> None:
        self.run: SimulatedRun | None = None

    def classify(self, crops: list[np.ndarray], track_ids: list[int], stamp_s: float) -> list[DefectVerdict]:
        """Verdicts from the ground truth of the parts the tracks were matched to."""
        assert self.run is not None, "attach the inspector to a SimulatedRun first"
        truths = self.run._truth_by_id()
        out = []
        for tid in track_ids:
            pid = self.run._part_of(tid)
            truth = truths.get(pid) if pid is not None else None
            if truth is None:  # unmatched track: doubtful, never a silent pass
                out.append(DefectVerdict(tid, stamp_s, 0.5, DefectType.ANOMALY, 0.5, 0.5, reject=False, uncertain=True))
                continue
            bad = bool(truth.defective)
            dtype = truth.defect_type if bad else DefectType.OK
            p = 1.0 if bad else 0.0
            out.append(DefectVerdict(tid, stamp_s, p, dtype, p, p, reject=bad))
        return out


class SimulatedRun:
    """Steps the twin, feeds the pipeline, applies its commands, scores the outcome."""

    def __init__(
        self,
        sim: Any,
        pipeline: CellPipeline,
        tip_position_base_m: Callable[[np.ndarray], np.ndarray],
        config: RunConfig | None = None,
        logger: Any | None = None,
    ) -> None:
        self.sim = sim
        self.pipeline = pipeline
        self.tip_position_base_m = tip_position_base_m
        self.config = config or RunConfig()
        self.logger = logger  # optional: .frame/.observations/.verdicts/.trajectory/.joint_state/.alarm
        self.recorder = RunRecorder()
        self._track_to_part: dict[int, int] = {}
        self._frames: deque = deque()
        self._watch: _PickWatch | None = None
        self._n_events = 0
        self._left = 0
        # Scoring needs each track's true part before the pipeline judges it: match tracks to
        # ground truth right after the tracker, before the classifier sees them.
        tracker = pipeline.tracker
        run = self

        class _ScoredTracker:
            def update(self, rgb: np.ndarray, stamp_s: float) -> list:
                observations = tracker.update(rgb, stamp_s)
                run._associate(observations, run._truth_by_id())
                return observations

        pipeline.tracker = _ScoredTracker()
        if isinstance(getattr(pipeline.inspection, "classifier", None), GroundTruthInspector):
            pipeline.inspection.classifier.run = self
        self._labelled: set[int] = set()

    # -- ground-truth helpers (scoring only) -------------------------------------------------

    def _truth_by_id(self) -> dict[int, Any]:
        return {t.part_id: t for t in self.sim.ground_truth()}

    def _associate(self, observations: list, truths: dict[int, Any]) -> None:
        if not truths:
            return
        ids = np.array(list(truths))
        p = np.array([truths[i].p_base_m[:2] for i in ids])
        for o in observations:
            if o.track_id in self._track_to_part:
                continue
            d = np.linalg.norm(p - np.asarray(o.p_base_m[:2]), axis=1)
            k = int(np.argmin(d))
            if d[k] < self.config.associate_radius_m:
                self._track_to_part[o.track_id] = int(ids[k])
                rec = self.recorder.parts.get(int(ids[k]))
                if rec is not None:
                    rec.track_id = o.track_id

    def _part_of(self, track_id: int) -> int | None:
        return self._track_to_part.get(track_id)

    # -- the loop -------------------------------------------------------------------------------

    def run(self, progress: Callable[[RunRecorder, float], None] | None = None) -> dict:
        """Run until `n_parts` parts have left the cell; returns the metrics."""
        cfg = self.config
        sim = self.sim
        wall0 = time.perf_counter()
        next_frame = sim.time_s
        next_snapshot = sim.time_s + 2.0
        next_learn = sim.time_s + cfg.learn_every_s
        while self._left < cfg.n_parts and sim.time_s < cfg.max_sim_time_s:
            sim.step(cfg.control_dt_s)
            now = sim.time_s
            if now >= next_frame:
                frame = sim.render_camera()
                self._frames.append((now + cfg.frame_delay_s, frame))
                next_frame += 1.0 / cfg.camera_hz
                if now >= next_snapshot and len(self.recorder.snapshots) < 6:
                    self.recorder.snapshots.append((f"overhead camera at t = {now:.1f} s", frame.rgb.copy()))
                    next_snapshot += cfg.snapshot_every_s
            while self._frames and self._frames[0][0] <= now + 1e-9:
                stamp, frame = self._frames.popleft()
                self._process_frame(frame.rgb, stamp)
            self._tick(now)
            self._consume_events(now)
            if now >= next_learn and self.pipeline.scheduler.active is None:
                next_learn = now + cfg.learn_every_s
                self._learn(now)
            if progress is not None:
                progress(self.recorder, now)
        self.recorder.sim_time_s = sim.time_s
        self.recorder.wall_time_s = time.perf_counter() - wall0
        self.recorder.perception_ms = list(self.pipeline.perception_ms)
        self.recorder.replan_ms = list(self.pipeline.scheduler.replan_ms)
        self.recorder.reject_cycles_s = list(self.pipeline.scheduler.cycles_s)
        for a in self.pipeline.alarms:
            pid = self._part_of(a.track_id) if a.track_id >= 0 else None
            if pid is not None and pid in self.recorder.parts:
                self.recorder.parts[pid].alarm = self.recorder.parts[pid].alarm or a.kind
        return self.recorder.metrics()

    def _learn(self, now: float) -> None:
        self.pipeline.learn()
        learner = self.pipeline.learner
        if learner is not None:
            self.recorder.thresholds.append((now, float(learner.threshold)))
            self.recorder.corrections.append((now, learner.corrections.as_dict()))

    def _process_frame(self, rgb: np.ndarray, stamp_s: float) -> None:
        observations, verdicts, alarms = self.pipeline.on_frame(rgb, stamp_s)
        for v in verdicts:
            pid = self._part_of(v.track_id)
            rec = self.recorder.parts.get(pid) if pid is not None else None
            if rec is not None:
                rec.p_defect = v.p_defect
                rec.rejected_decision = v.reject or v.uncertain
            if v.reject and len(self.recorder.examples) < self.config.max_examples:
                obs = self.pipeline.observations.get(v.track_id)
                if obs is not None and obs.crop is not None:
                    caption = f"track {v.track_id}: {v.defect_type.value}, p={v.p_defect:.3f}"
                    self.recorder.examples.append((obs.crop, v.heatmap, caption))
        for a in alarms:
            self.recorder.alarms.append((a.stamp_s, a.track_id, a.kind))
        if self.logger is not None:
            self.logger.frame(stamp_s, rgb, observations, verdicts)

    def _tick(self, now: float) -> None:
        sim = self.sim
        state = sim.joint_state()
        suction = sim.suction()
        held = suction.held_part_id is not None
        cmds = self.pipeline.tick(now, state, suction.vacuum_on, held)
        # Outcomes first: they belong to the plan that was active before this tick, and the
        # same tick may already carry the next plan.
        for tid in cmds.released:
            self._pick_done(tid, now, PickResult.IN_BIN)
        for tid in cmds.pick_failures:
            self._pick_done(tid, now, PickResult.MISSED)
        if cmds.trajectory is not None:
            sim.execute(cmds.trajectory)
            active = self.pipeline.scheduler.active
            if active is not None:
                obs = self.pipeline.observations.get(active.track_id)
                v = float(np.linalg.norm(obs.v_base_mps)) if obs is not None else float("nan")
                lead = active.grasp_time_s - obs.stamp_s if obs is not None else float("nan")
                self._watch = _PickWatch(active.track_id, self._part_of(active.track_id), active.grasp_time_s,
                                         v_belt_pred_mps=v, lead_time_s=lead)
            if self.logger is not None:
                self.logger.trajectory(now, cmds.trajectory)
        if cmds.suction_on is not None:
            sim.set_suction(cmds.suction_on)
        w = self._watch
        if w is not None and w.offset_m is None and now >= w.grasp_time_s and w.part_id is not None:
            truth = self._truth_by_id().get(w.part_id)
            if truth is not None:
                tip = self.tip_position_base_m(state.q_rad)
                w.offset_m = np.asarray(truth.p_base_m, dtype=float)[:3] - tip
                w.offset_m[2] = 0.0
                self.recorder.pick_errors_mm.append((now, float(np.linalg.norm(w.offset_m[:2]) * 1e3)))
        for a in cmds.alarms:
            self.recorder.alarms.append((a.stamp_s, a.track_id, a.kind))
            if self.logger is not None:
                self.logger.alarm(now, a)
        if self.logger is not None:
            self.logger.joint_state(now, state)

    def _pick_done(self, track_id: int, now: float, result: PickResult) -> None:
        w = self._watch
        self.recorder.pick_attempts.append((now, result == PickResult.IN_BIN))
        offset = w.offset_m if (w is not None and w.track_id == track_id) else None
        outcome = PickOutcome(
            track_id=track_id,
            stamp_s=now,
            result=result,
            offset_part_cup_base_m=offset,
            predicted_grasp_time_s=w.grasp_time_s if w is not None else float("nan"),
            v_belt_pred_mps=w.v_belt_pred_mps if w is not None else float("nan"),
            lead_time_s=w.lead_time_s if w is not None else float("nan"),
        )
        self.pipeline.on_pick_outcome(outcome)
        self._watch = None

    def _consume_events(self, now: float) -> None:
        events = self.sim.events()
        for ev in events[self._n_events:]:
            kind = getattr(ev.kind, "value", ev.kind)
            if kind == "spawned":
                truth = self._truth_by_id().get(ev.part_id)
                if truth is not None:
                    self.recorder.parts[ev.part_id] = PartRecord(
                        ev.part_id, bool(truth.defective), getattr(truth.defect_type, "value", str(truth.defect_type))
                    )
                continue
            rec = self.recorder.parts.get(ev.part_id)
            if rec is None:
                continue
            if kind == "in_bin":
                rec.in_bin = True
                rec.left_cell_s = ev.stamp_s
                self.recorder.in_bin_times_s.append(ev.stamp_s)
                self._left += 1
            elif kind in ("escaped", "fell_off") and rec.left_cell_s is None:
                rec.left_cell_s = ev.stamp_s
                self._left += 1
            if rec.left_cell_s is not None and rec.track_id is not None:
                self.pipeline.forget(rec.track_id)
        self._n_events = len(events)
        for label in self._due_labels(now):
            self.pipeline.on_label(label)

    def _due_labels(self, now: float) -> list[InspectionLabel]:
        # The twin plays the end-of-line station: truth about parts that left, late and noisy.
        out = []
        for lab in self.sim.labels():
            if lab.track_id in self._labelled:
                continue
            rec = self.recorder.parts.get(lab.track_id)  # the twin labels by its part id
            if rec is None or rec.track_id is None:
                continue
            self._labelled.add(lab.track_id)
            out.append(InspectionLabel(rec.track_id, lab.stamp_s, lab.defective, lab.defect_type))
        return out
