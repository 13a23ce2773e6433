"""The feedback learner: persists outcomes, recalibrates the threshold, fine-tunes with a gate.

Typical use by the cell (one process, simulated or ROS time):

    learner = FeedbackLearner("run/learner.db", initial_model=DefectClassifier.load())
    classifier = learner.live_model            # may be a newer version restored from disk
    ... per part: learner.record_verdict(verdict, crop); later learner.record_label(label)
    ... per pick: corrections = learner.record_pick(outcome, applied=planner_corrections)
    ... between parts: report = learner.maybe_update()   # cheap when nothing is due
        if report.promoted: classifier = learner.live_model

or `BackgroundUpdater(learner).start()` to run `maybe_update` on a thread.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from factory_ai.learning.evaluation import GateConfig, GateResult, evaluate_scores, promotion_gate
from factory_ai.learning.process import Corrections, ProcessConfig, ProcessEstimator
from factory_ai.learning.protocols import CorrectionsConsumer, ModelLoader, ScoringModel
from factory_ai.learning.replay import ReplayConfig, balanced_training_set, load_crop, save_crop
from factory_ai.learning.store import (
    LearningStore,
    ModelStatus,
    ModelVersion,
    RecoveryReport,
    StoreError,
    atomic_write,
    sha256_file,
)
from factory_ai.learning.threshold import ThresholdConfig, ThresholdDecision, recalibrate_threshold
from factory_ai.types import DefectVerdict, InspectionLabel, PickOutcome

logger = logging.getLogger(__name__)

_META_LAST_RECAL = "last_recalibration_label_id"
_META_LAST_FINETUNE = "last_finetune_label_id"


class LearnerError(RuntimeError):
    """The learner cannot do what was asked (no model to fall back to, nothing to roll back to)."""


class ModelFileError(LearnerError):
    """A registered model file is missing, altered or unloadable."""


@dataclass(frozen=True)
class LearnerConfig:
    """The learner's policies (see each sub-config)."""

    threshold: ThresholdConfig = field(default_factory=ThresholdConfig)
    gate: GateConfig = field(default_factory=GateConfig)
    process: ProcessConfig = field(default_factory=ProcessConfig)
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    recalibrate_every_labels: int = 10  # recalibrate after this many new labels (or any escape)
    store_crops: bool = True  # keep crops for the replay buffer (needed for fine-tuning)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.recalibrate_every_labels < 1:
            msg = f"LearnerConfig.recalibrate_every_labels must be >= 1, got {self.recalibrate_every_labels}"
            raise ValueError(msg)


@dataclass(frozen=True)
class FinetuneReport:
    """One fine-tune and its gate decision."""

    candidate_version: int
    promoted: bool
    gate: GateResult
    n_train: int
    n_holdout: int
    seconds: float


@dataclass(frozen=True)
class UpdateReport:
    """What one maybe_update() did (both None: nothing was due)."""

    threshold: ThresholdDecision | None = None
    finetune: FinetuneReport | None = None

    @property
    def promoted(self) -> bool:
        """A new model is live: the cell should take `learner.live_model`."""
        return self.finetune is not None and self.finetune.promoted


def _offset_xyz_m(offset: np.ndarray | None) -> tuple[float, float, float] | None:
    """A (2,) or (3,) part-cup offset as an (x, y, z) tuple (z = 0 when absent)."""
    if offset is None:
        return None
    a = np.asarray(offset, dtype=float).reshape(-1)
    return (float(a[0]), float(a[1]), float(a[2]) if a.size > 2 else 0.0)


class FeedbackLearner:
    """Learns from outcomes without an operator; every record is durable when the call returns.

    Args:
        db_path: SQLite file. Models go to `<stem>_models/`, replay crops to `<stem>_crops/`
            next to it (override with model_dir / crop_dir).
        initial_model: the model to start from when the database has no valid live model
            (a fresh run, or every registered file corrupt). Otherwise the restored live
            version is used and this one is ignored: read `live_model`.
        load_model: loads a saved model (default: `type(initial_model).load`).
        config: policies.
        corrections_consumer: gets `set_corrections(...)` after every pick (e.g. the planner).
    """

    def __init__(
        self,
        db_path: str | Path,
        *,
        initial_model: ScoringModel | None = None,
        load_model: ModelLoader | Callable[[Path], ScoringModel] | None = None,
        config: LearnerConfig | None = None,
        model_dir: str | Path | None = None,
        crop_dir: str | Path | None = None,
        corrections_consumer: CorrectionsConsumer | None = None,
    ) -> None:
        db_path = Path(db_path)
        self.config = config or LearnerConfig()
        self.model_dir = Path(model_dir) if model_dir is not None else db_path.with_name(f"{db_path.stem}_models")
        self.crop_dir = Path(crop_dir) if crop_dir is not None else db_path.with_name(f"{db_path.stem}_crops")
        self.model_dir.mkdir(parents=True, exist_ok=True)
        self.crop_dir.mkdir(parents=True, exist_ok=True)
        if load_model is None:
            if initial_model is None:
                msg = "FeedbackLearner needs load_model or initial_model (whose type's .load is used)"
                raise ValueError(msg)
            load_model = type(initial_model).load  # type: ignore[attr-defined]
        self._load_model = load_model
        self._consumer = corrections_consumer
        self._update_lock = threading.Lock()  # one maybe_update / rollback at a time
        self._new_verdicts = 0
        self._finetune_skipped_at = -1

        self.store = LearningStore(db_path)
        self._last_stamp_s = self.store.latest_stamp_s()
        self.recovery: RecoveryReport = self.store.recover(self.model_dir, self.crop_dir)
        self._live, self._live_version = self._restore_live(initial_model)
        stored = self.store.latest_threshold()
        self._threshold = float(stored if stored is not None else getattr(self._live, "threshold", 0.5))
        self._live.set_threshold(self._threshold)
        self.estimator = ProcessEstimator(self.config.process)
        est = self.store.latest_estimate()
        if est is not None:
            self.estimator.load_state_dict(est[0])
        logger.info(
            "learner ready: live model v%d, threshold %.4f, %d verdicts, %d labels, %d picks on record",
            self._live_version, self._threshold, self.store.count("verdicts"), self.store.count("labels"),
            self.store.count("picks"),
        )

    # -- state ----------------------------------------------------------------------------

    @property
    def live_model(self) -> ScoringModel:
        """The model in force (changes on promotion and rollback)."""
        return self._live

    @property
    def live_version(self) -> int:
        """The learner's integer version of the live model."""
        return self._live_version

    @property
    def threshold(self) -> float:
        """The decision threshold in force (also set on the live model)."""
        return self._threshold

    @property
    def corrections(self) -> Corrections:
        """The bounded process corrections in force."""
        return self.estimator.corrections()

    def close(self) -> None:
        """Close the database (everything is already durable)."""
        self.store.close()

    # -- model registry -------------------------------------------------------------------

    def _model_path(self, mv: ModelVersion) -> Path:
        return self.model_dir / mv.file

    def _load_validated(self, mv: ModelVersion) -> ScoringModel:
        path = self._model_path(mv)
        if not path.is_file():
            msg = f"model v{mv.version}: file {path} is missing"
            raise ModelFileError(msg)
        digest = sha256_file(path)
        if digest != mv.sha256:
            msg = f"model v{mv.version}: {path} has sha256 {digest[:12]}, registry says {str(mv.sha256)[:12]}"
            raise ModelFileError(msg)
        try:
            return self._load_model(path)
        except Exception as e:  # noqa: BLE001 - any loader failure means the file is unusable
            msg = f"model v{mv.version}: {path} does not load: {e}"
            raise ModelFileError(msg) from e

    def _restore_live(self, initial_model: ScoringModel | None) -> tuple[ScoringModel, int]:
        """Load the live version; fall back to the last good one, or register initial_model."""
        live = self.store.live_model_version()
        if live is not None:
            try:
                return self._load_validated(live), live.version
            except ModelFileError as e:
                logger.error("%s; falling back to the previous good version", e)
                self.store.set_model_status(live.version, ModelStatus.CORRUPT)
                self.store.add_event(self._last_stamp_s, "corrupt", {"version": live.version, "error": str(e)})
        for mv in self.store.fallback_chain():
            try:
                model = self._load_validated(mv)
            except ModelFileError as e:
                logger.error("%s; trying an older version", e)
                self.store.set_model_status(mv.version, ModelStatus.CORRUPT)
                continue
            self.store.promote(mv.version, self._last_stamp_s, kind="fallback")
            logger.warning("live model is now v%d (fallback)", mv.version)
            return model, mv.version
        if initial_model is None:
            msg = f"no valid live model in {self.store.path} and no initial_model to start from"
            raise LearnerError(msg)
        mv = self.register_candidate(initial_model, parent=None)
        self.store.promote(mv.version, self._last_stamp_s, metrics={"source": "initial_model"}, kind="bootstrap")
        logger.info("registered the initial model as v%d", mv.version)
        return initial_model, mv.version

    def register_candidate(self, model: ScoringModel, parent: int | None) -> ModelVersion:
        """Save a model durably and register it as a `candidate` version."""
        mv = self.store.begin_model_version(str(getattr(model, "version", "")), parent)
        digest = atomic_write(self._model_path(mv), model.save)
        self.store.finish_model_save(mv.version, digest)
        return self.store.model_version(mv.version)

    def promote(self, version: int, model: ScoringModel | None = None, metrics: dict | None = None) -> None:
        """Make a candidate version live (loads it from disk when `model` is not given)."""
        with self._update_lock:
            mv = self.store.model_version(version)
            model = model if model is not None else self._load_validated(mv)
            model.set_threshold(self._threshold)
            self.store.promote(version, self._last_stamp_s, metrics)
            self._live, self._live_version = model, version
        logger.info("promoted model v%d to live", version)

    def rollback(self) -> int:
        """Return to the previously live version; the current one becomes `rolled_back`.

        Returns:
            The version now live.
        """
        with self._update_lock:
            for mv in self.store.fallback_chain():
                try:
                    model = self._load_validated(mv)
                except ModelFileError as e:
                    logger.error("%s; skipping it for rollback", e)
                    self.store.set_model_status(mv.version, ModelStatus.CORRUPT)
                    continue
                old = self._live_version
                self.store.replace_live(mv.version, ModelStatus.ROLLED_BACK, self._last_stamp_s, "rollback")
                model.set_threshold(self._threshold)
                self._live, self._live_version = model, mv.version
                logger.warning("rolled back the live model from v%d to v%d", old, mv.version)
                return mv.version
        msg = f"rollback: no previous valid version before v{self._live_version}"
        raise LearnerError(msg)

    # -- records (hot path: one transaction each) -----------------------------------------

    def record_verdict(
        self, verdict: DefectVerdict, crop: np.ndarray | None = None, model_version: int | None = None
    ) -> int:
        """Persist a verdict (and its crop for the replay buffer); returns the record id.

        Args:
            verdict: the classifier's decision.
            crop: the canonical crop it was made on (HxWx3 uint8), or None.
            model_version: learner version of the model that made it (default: live).
        """
        if not np.isfinite(verdict.p_defect):
            msg = f"record_verdict: track {verdict.track_id} has p_defect={verdict.p_defect}"
            raise ValueError(msg)
        crop_file = save_crop(self.crop_dir, crop) if crop is not None and self.config.store_crops else None
        self._last_stamp_s = max(self._last_stamp_s, float(verdict.stamp_s))
        self._new_verdicts += crop_file is not None
        return self.store.add_verdict(
            verdict.track_id, verdict.stamp_s, verdict.p_defect, verdict.reject, verdict.uncertain,
            getattr(verdict.defect_type, "value", str(verdict.defect_type)),
            self._live_version if model_version is None else int(model_version), self._threshold, crop_file,
        )

    def record_label(self, label: InspectionLabel) -> int:
        """Persist a downstream label (joined to the part's latest verdict); returns its id."""
        self._last_stamp_s = max(self._last_stamp_s, float(label.stamp_s))
        label_id, verdict_id, _ = self.store.add_label(
            label.track_id, label.stamp_s, label.defective,
            getattr(label.defect_type, "value", str(label.defect_type)), self.config.replay.holdout_every,
        )
        if verdict_id is None:
            logger.warning("label for track %d matches no unlabelled verdict: kept, not joined", label.track_id)
        return label_id

    def record_pick(self, outcome: PickOutcome, applied: Corrections | None = None) -> Corrections:
        """Persist a pick outcome, update the process estimate, and return the new corrections.

        Args:
            outcome: the pick's result and part-cup offset.
            applied: the corrections the planner used for this pick (default: the ones in force).
        """
        applied = self.corrections if applied is None else applied
        self._last_stamp_s = max(self._last_stamp_s, float(outcome.stamp_s))
        self.estimator.update_from_outcome(outcome, applied)
        new = self.estimator.corrections()
        self.store.add_pick(
            outcome.track_id, outcome.stamp_s, getattr(outcome.result, "value", str(outcome.result)),
            _offset_xyz_m(outcome.offset_part_cup_base_m), outcome.predicted_grasp_time_s, getattr(outcome, "v_belt_pred_mps", float("nan")),
            getattr(outcome, "lead_time_s", float("nan")), applied.as_dict(), self.estimator.state_dict(),
            new.as_dict(),
        )
        if self._consumer is not None:
            self._consumer.set_corrections(new)
        return new

    # -- updates (off the hot path) -------------------------------------------------------

    def maybe_update(self) -> UpdateReport:
        """Recalibrate and/or fine-tune when due; cheap (two count queries) when nothing is."""
        with self._update_lock:
            cfg = self.config
            decision = None
            last = int(self.store.get_meta(_META_LAST_RECAL, "0"))
            n_new, n_escaped = self.store.label_counts_since(last)
            if n_new >= cfg.recalibrate_every_labels or n_escaped > 0:
                decision = self._update_threshold_locked()
            finetune = None
            last_ft = int(self.store.get_meta(_META_LAST_FINETUNE, "0"))
            n_new_ft, n_esc_ft = self.store.label_counts_since(last_ft)
            due = n_new_ft >= cfg.replay.finetune_every_labels or n_esc_ft >= cfg.replay.finetune_on_escapes
            newest = self.store.max_label_id() if due else -1
            if due and newest != self._finetune_skipped_at:
                finetune = self._fine_tune_locked()
                # Too few labelled crops: look again only once more labels have arrived.
                self._finetune_skipped_at = newest if finetune is None else -1
                if finetune is not None and finetune.promoted:
                    decision = self._update_threshold_locked()  # the new model's own calibration
            if self._new_verdicts >= 20:
                self._evict()
            return UpdateReport(decision, finetune)

    def recalibrated_threshold(self, target_escape_rate: float | None = None) -> ThresholdDecision:
        """What the labels say the threshold should be (nothing applied or persisted).

        Args:
            target_escape_rate: override of config.threshold.target_escape_rate.
        """
        cfg = self.config.threshold
        if target_escape_rate is not None:
            cfg = dataclasses.replace(cfg, target_escape_rate=float(target_escape_rate))
        scores, defective = self.store.labelled_scores(self._live_version)
        return recalibrate_threshold(np.asarray(scores), np.asarray(defective, dtype=bool), self._threshold, cfg)

    def update_threshold(self) -> ThresholdDecision:
        """Recalibrate now: apply, log and persist the decision."""
        with self._update_lock:
            return self._update_threshold_locked()

    def _update_threshold_locked(self) -> ThresholdDecision:
        mark = self.store.max_label_id()
        decision = self.recalibrated_threshold()
        if decision.threshold != self._threshold:
            log = logger.warning if decision.threshold < self._threshold else logger.info
            log(
                "threshold %.4f -> %.4f (%s; %d defect / %d good labels, escape UCB %.4f, est. false rejects %.3f)",
                self._threshold, decision.threshold, decision.reason, decision.n_defect_labels,
                decision.n_good_labels, decision.escape_ucb, decision.false_reject_est,
            )
        self.store.add_threshold(
            self._last_stamp_s, self._live_version, decision.threshold, self._threshold, decision.as_dict()
        )
        self._threshold = decision.threshold
        self._live.set_threshold(self._threshold)
        self.store.set_meta(_META_LAST_RECAL, str(mark))
        return decision

    def fine_tune(self) -> FinetuneReport | None:
        """Fine-tune now (if the replay buffer allows it) and gate the candidate."""
        with self._update_lock:
            return self._fine_tune_locked()

    def _fine_tune_locked(self) -> FinetuneReport | None:
        rc = self.config.replay
        train_all = self.store.replay_items("train")
        hold = self.store.replay_items("holdout")
        n_hold_def = sum(it.defective for it in hold)
        if (
            sum(it.defective for it in train_all) < rc.min_train_defects
            or n_hold_def < rc.min_holdout_defects
            or len(hold) - n_hold_def < rc.min_holdout_good
        ):
            return None  # not enough labelled crops yet; stays due
        t0 = time.perf_counter()
        mark = self.store.max_label_id()
        train = balanced_training_set(train_all, rc.good_per_defect)
        x_train = [load_crop(self.crop_dir, it.crop_file) for it in train]
        y_train = np.array([it.defective for it in train], dtype=bool)
        x_hold = [load_crop(self.crop_dir, it.crop_file) for it in hold]
        y_hold = np.array([it.defective for it in hold], dtype=bool)
        seed = self.config.seed + len(self.store.model_versions())
        live, live_version = self._live, self._live_version
        candidate = live.fine_tuned(x_train, y_train, epochs=rc.epochs, seed=seed)
        candidate.set_threshold(self._threshold)
        s_live = np.asarray(live.scores(x_hold), dtype=float)
        s_cand = np.asarray(candidate.scores(x_hold), dtype=float)
        gate = promotion_gate(
            evaluate_scores(s_live, y_hold, self._threshold), evaluate_scores(s_cand, y_hold, self._threshold),
            self.config.gate,
        )
        mv = self.register_candidate(candidate, parent=live_version)
        metrics = {"gate": gate.as_dict(), "n_train": len(train), "n_holdout": len(hold), "seed": seed}
        if gate.promote:
            self.store.promote(mv.version, self._last_stamp_s, metrics)
            self.store.add_calibration(mv.version, s_cand.tolist(), y_hold.tolist())
            self._live, self._live_version = candidate, mv.version
            logger.info(
                "promoted v%d over v%d: held-out AUROC %.4f vs %.4f, escapes %.3f vs %.3f, false rejects %.3f vs %.3f",
                mv.version, live_version, gate.candidate.auroc, gate.live.auroc, gate.candidate.escape_rate,
                gate.live.escape_rate, gate.candidate.false_reject_rate, gate.live.false_reject_rate,
            )
        else:
            self.store.set_model_status(mv.version, ModelStatus.REJECTED, metrics)
            self.store.add_event(self._last_stamp_s, "reject_candidate", {"version": mv.version, **metrics})
            self._model_path(mv).unlink(missing_ok=True)  # the registry row keeps the metrics
            logger.info("candidate v%d rejected: %s", mv.version, "; ".join(gate.reasons))
        self.store.set_meta(_META_LAST_FINETUNE, str(mark))
        return FinetuneReport(mv.version, gate.promote, gate, len(train), len(hold), time.perf_counter() - t0)

    def _evict(self) -> None:
        rc = self.config.replay
        files = self.store.evict_crops(
            {"train": rc.max_train_per_class, "holdout": rc.max_holdout_per_class}, rc.max_pending
        )
        for name in files:
            (self.crop_dir / name).unlink(missing_ok=True)
        self._new_verdicts = 0

    # -- summary --------------------------------------------------------------------------

    def summary(self) -> dict:
        """Figures for logs and the run report."""
        return {
            "live_version": self._live_version,
            "threshold": self._threshold,
            "corrections": self.corrections.as_dict(),
            "corrections_std": self.estimator.std(),
            "verdicts": self.store.count("verdicts"),
            "labels": self.store.count("labels"),
            "picks": self.store.count("picks"),
            "model_versions": [(v.version, v.status.value) for v in self.store.model_versions()],
        }


class BackgroundUpdater:
    """Runs `learner.maybe_update()` every `period_s` on a daemon thread (for the ROS nodes).

    A promotion swaps `learner.live_model`; the caller picks it up on its next part.
    """

    def __init__(self, learner: FeedbackLearner, period_s: float = 1.0) -> None:
        if period_s <= 0.0:
            msg = f"BackgroundUpdater.period_s must be > 0, got {period_s}"
            raise ValueError(msg)
        self.learner = learner
        self.period_s = float(period_s)
        self.last_report: UpdateReport | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="feedback-learner", daemon=True)

    def start(self) -> BackgroundUpdater:
        """Start the thread; returns self."""
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        """Ask the thread to stop and wait for it (a running fine-tune finishes first)."""
        self._stop.set()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            try:
                self.last_report = self.learner.maybe_update()
            except Exception:
                logger.exception("background learner update failed; will retry")


__all__ = [
    "BackgroundUpdater",
    "FeedbackLearner",
    "FinetuneReport",
    "LearnerConfig",
    "LearnerError",
    "ModelFileError",
    "StoreError",
    "UpdateReport",
]
