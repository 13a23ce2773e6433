"""Held-out evaluation of a classifier and the promotion gate (live vs candidate)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from sklearn.metrics import roc_auc_score


@dataclass(frozen=True)
class EvalMetrics:
    """A model's figures on the held-out replay buffer at one decision threshold."""

    auroc: float  # nan when the buffer holds a single class
    escape_rate: float  # defective parts scored below the threshold / defective parts
    false_reject_rate: float  # good parts scored at or above the threshold / good parts
    n_defect: int
    n_good: int
    threshold: float

    def as_dict(self) -> dict:
        """JSON-friendly form (nan -> None)."""
        return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in asdict(self).items()}


def evaluate_scores(scores: np.ndarray, defective: np.ndarray, threshold: float) -> EvalMetrics:
    """AUROC and escape / false-reject rates of scores at a threshold.

    Args:
        scores: (B,) calibrated p_defect.
        defective: (B,) bool labels.
        threshold: reject when score >= threshold.
    """
    s = np.asarray(scores, dtype=float).reshape(-1)
    d = np.asarray(defective, dtype=bool).reshape(-1)
    if s.shape != d.shape:
        msg = f"evaluate_scores: scores {s.shape} and defective {d.shape} differ in shape"
        raise ValueError(msg)
    n_d, n_g = int(d.sum()), int((~d).sum())
    auroc = float(roc_auc_score(d, s)) if n_d and n_g else float("nan")
    escape = float(np.mean(s[d] < threshold)) if n_d else float("nan")
    fr = float(np.mean(s[~d] >= threshold)) if n_g else float("nan")
    return EvalMetrics(auroc, escape, fr, n_d, n_g, float(threshold))


@dataclass(frozen=True)
class GateConfig:
    """A candidate may replace the live model only if it is not worse by more than these."""

    auroc_tolerance: float = 0.01
    escape_tolerance: float = 0.0  # no more missed held-out defects than the live model
    false_reject_tolerance: float = 0.02


@dataclass(frozen=True)
class GateResult:
    """The gate's decision with both models' figures."""

    promote: bool
    reasons: tuple[str, ...]  # why it was refused (empty when promoted)
    live: EvalMetrics
    candidate: EvalMetrics

    def as_dict(self) -> dict:
        """JSON-friendly form for the model registry."""
        return {"promote": self.promote, "reasons": list(self.reasons),
                "live": self.live.as_dict(), "candidate": self.candidate.as_dict()}


def promotion_gate(live: EvalMetrics, candidate: EvalMetrics, config: GateConfig | None = None) -> GateResult:
    """Promote only if the candidate is not worse than the live model (within tolerances)."""
    cfg = config or GateConfig()
    reasons = []
    if not np.isfinite(candidate.auroc) or not np.isfinite(live.auroc):
        reasons.append("held-out buffer lacks one class: AUROC undefined")
    elif candidate.auroc < live.auroc - cfg.auroc_tolerance:
        reasons.append(f"AUROC {candidate.auroc:.4f} < live {live.auroc:.4f} - {cfg.auroc_tolerance}")
    if candidate.escape_rate > live.escape_rate + cfg.escape_tolerance + 1e-12:
        reasons.append(f"escape rate {candidate.escape_rate:.4f} > live {live.escape_rate:.4f}")
    if candidate.false_reject_rate > live.false_reject_rate + cfg.false_reject_tolerance + 1e-12:
        reasons.append(
            f"false-reject rate {candidate.false_reject_rate:.4f} > live {live.false_reject_rate:.4f}"
            f" + {cfg.false_reject_tolerance}"
        )
    return GateResult(not reasons, tuple(reasons), live, candidate)
