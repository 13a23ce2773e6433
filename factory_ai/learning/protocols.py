"""What the learner needs from the classifier and the planner (structural types, no imports).

The learner is written against these small protocols so that it works with
`factory_ai.inspection.DefectClassifier` and `factory_ai.planning.RejectPlanner`, and with the
small fakes the tests use, without depending on either concern's internals.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from factory_ai.learning.process import Corrections


@runtime_checkable
class ScoringModel(Protocol):
    """A defect classifier the learner can score with, fine-tune, save and re-threshold."""

    @property
    def version(self) -> str:
        """Free-form model tag (the learner keeps its own integer versions)."""
        ...

    @property
    def threshold(self) -> float:
        """Decision threshold on the calibrated defect probability."""
        ...

    def set_threshold(self, p: float) -> None:
        """Set the decision threshold (probability in (0, 1))."""
        ...

    def scores(self, crops: list[np.ndarray]) -> np.ndarray:
        """Calibrated p_defect for each canonical crop, shape (B,)."""
        ...

    def fine_tuned(
        self, crops: list[np.ndarray], defective: np.ndarray, epochs: int, seed: int
    ) -> ScoringModel:
        """A NEW model fine-tuned on (crops, defective (B,) bool); self stays unchanged."""
        ...

    def save(self, path: str | Path) -> None:
        """Write the model to `path` (loadable with torch.load(weights_only=True))."""
        ...


class ModelLoader(Protocol):
    """Loads a saved model, e.g. `DefectClassifier.load`."""

    def __call__(self, path: Path) -> ScoringModel: ...


@runtime_checkable
class CorrectionsConsumer(Protocol):
    """Something that applies process corrections, e.g. the reject planner."""

    def set_corrections(self, corrections: Corrections) -> None:
        """Use these corrections for every plan from now on."""
        ...
