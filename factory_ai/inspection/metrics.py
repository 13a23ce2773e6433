"""Detection metrics and threshold choice, in the terms an operator uses.

Escape rate = share of defective parts that pass (missed); false reject rate = share of good
parts rejected. A threshold is chosen to meet a target escape rate on validation data, not as a
raw score nobody can interpret.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score


def _check(scores: np.ndarray, defective: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(defective).astype(bool).ravel()
    if s.shape != y.shape:
        msg = f"scores and labels must have the same length, got {s.shape} and {y.shape}"
        raise ValueError(msg)
    if not np.all(np.isfinite(s)):
        msg = "scores contain NaN or inf"
        raise ValueError(msg)
    return s, y


def auroc(scores: np.ndarray, defective: np.ndarray) -> float:
    """Area under the ROC curve (defective = positive); NaN when one class is missing."""
    s, y = _check(scores, defective)
    if y.all() or not y.any():
        return float("nan")
    return float(roc_auc_score(y, s))


def recall_at_false_reject(scores: np.ndarray, defective: np.ndarray, false_reject: float = 0.01) -> float:
    """Share of defective parts caught at the threshold that rejects `false_reject` of good parts.

    The threshold is the smallest one whose false reject rate on the good parts is <= the
    target (ties count as rejected), so the figure never flatters the model.
    """
    s, y = _check(scores, defective)
    if y.all() or not y.any():
        return float("nan")
    thr = threshold_for_false_reject(s[~y], false_reject)
    return float(np.mean(s[y] > thr))


def threshold_for_false_reject(good_scores: np.ndarray, false_reject: float) -> float:
    """Lowest threshold t with mean(good > t) <= false_reject (reject when score > t)."""
    g = np.sort(np.asarray(good_scores, dtype=np.float64))
    n_allowed = int(np.floor(false_reject * g.size + 1e-9))
    return float(g[g.size - 1 - n_allowed]) if n_allowed < g.size else float(-np.inf)


def threshold_for_escape_rate(defect_scores: np.ndarray, target_escape: float) -> float:
    """Highest threshold t with mean(defect <= t) <= target_escape (reject when score > t).

    Args:
        defect_scores: (N,) scores of the defective validation parts.
        target_escape: allowed share of defective parts that pass, e.g. 0.005.
    """
    d = np.sort(np.asarray(defect_scores, dtype=np.float64))
    if d.size == 0:
        msg = "threshold_for_escape_rate needs at least one defective validation score"
        raise ValueError(msg)
    n_allowed = int(np.floor(target_escape * d.size + 1e-9))
    # Passing the n_allowed lowest defects is allowed: the threshold sits just below the next one.
    nxt = d[n_allowed]
    return float(np.nextafter(nxt, -np.inf))


def rates_at_threshold(scores: np.ndarray, defective: np.ndarray, threshold: float) -> tuple[float, float]:
    """(escape rate, false reject rate) when parts with score > threshold are rejected."""
    s, y = _check(scores, defective)
    reject = s > threshold
    escape = float(np.mean(~reject[y])) if y.any() else float("nan")
    false_reject = float(np.mean(reject[~y])) if (~y).any() else float("nan")
    return escape, false_reject


def detection_report(scores: np.ndarray, defective: np.ndarray, threshold: float) -> dict[str, float | int]:
    """The figures `factory-ai eval` prints: AUROC, recall at 1% FR, rates at the threshold."""
    s, y = _check(scores, defective)
    escape, false_reject = rates_at_threshold(s, y, threshold)
    return {
        "auroc": auroc(s, y),
        "recall_at_1pct_false_reject": recall_at_false_reject(s, y, 0.01),
        "escape_rate_at_threshold": escape,
        "false_reject_rate_at_threshold": false_reject,
        "threshold": float(threshold),
        "n_good": int((~y).sum()),
        "n_defect": int(y.sum()),
    }
