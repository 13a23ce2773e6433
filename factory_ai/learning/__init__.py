"""Learning: the feedback learner (threshold recalibration, gated fine-tuning, precision estimates).

Public API:
- `FeedbackLearner` (learner.py): records verdicts, labels and pick outcomes durably in SQLite,
  recalibrates the threshold, fine-tunes with a promotion gate, rollback, process corrections.
- `ProcessEstimator`, `Corrections` (process.py): camera offset / latency / belt speed scale.
- `recalibrate_threshold` (threshold.py), `evaluate_scores` / `promotion_gate` (evaluation.py):
  the pure decision functions.
- `LearningStore`, `atomic_write` (store.py): the crash-safe persistence.
- `ScoringModel`, `CorrectionsConsumer` (protocols.py): what the learner needs from the
  classifier and the planner.
"""

from factory_ai.learning.evaluation import EvalMetrics, GateConfig, GateResult, evaluate_scores, promotion_gate
from factory_ai.learning.learner import (
    BackgroundUpdater,
    FeedbackLearner,
    FinetuneReport,
    LearnerConfig,
    LearnerError,
    ModelFileError,
    UpdateReport,
)
from factory_ai.learning.process import Corrections, ProcessConfig, ProcessEstimator
from factory_ai.learning.protocols import CorrectionsConsumer, ModelLoader, ScoringModel
from factory_ai.learning.replay import ReplayConfig
from factory_ai.learning.store import LearningStore, ModelStatus, ModelVersion, StoreError, atomic_write
from factory_ai.learning.threshold import ThresholdConfig, ThresholdDecision, recalibrate_threshold

__all__ = [
    "BackgroundUpdater",
    "Corrections",
    "CorrectionsConsumer",
    "EvalMetrics",
    "FeedbackLearner",
    "FinetuneReport",
    "GateConfig",
    "GateResult",
    "LearnerConfig",
    "LearnerError",
    "LearningStore",
    "ModelFileError",
    "ModelLoader",
    "ModelStatus",
    "ModelVersion",
    "ProcessConfig",
    "ProcessEstimator",
    "ReplayConfig",
    "ScoringModel",
    "StoreError",
    "ThresholdConfig",
    "ThresholdDecision",
    "UpdateReport",
    "atomic_write",
    "evaluate_scores",
    "promotion_gate",
    "recalibrate_threshold",
]
