"""From raw network outputs to calibrated defect probabilities and a threshold an operator can read.

Raw scores: the supervised logit s = logsumexp(defect class logits) - ok logit, and the anomaly
z-score z = (max of the anomaly map - median over held-out good parts) / robust spread.

Calibrated probabilities (Platt scaling = temperature + bias, fitted on validation data):
    supervised_score = sigmoid(a_s * s + b_s),  anomaly_score = sigmoid(a_a * z + b_a)
    combined: fusion of the two, then Platt again:
      "noisy_or": p = 1 - (1 - p_sup)(1 - p_anom)  (either branch alone can reject: a defect
                  type the supervised head never saw is still caught by the anomaly branch)
      "lr":       logistic regression on [s, z] (best ranking on the known types, but it may
                  learn to ignore the anomaly branch when the head already separates them)
The decision threshold on the combined probability is chosen on validation data to meet a
target escape rate (share of defective parts passed). Without defective validation data
(good-only training) the threshold meets a target false-reject rate instead, and the
probabilities are good-tail scores, not calibrated probabilities; the model card says so.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

import numpy as np

from factory_ai.inspection.metrics import (
    rates_at_threshold,
    threshold_for_escape_rate,
    threshold_for_false_reject,
)

log = logging.getLogger(__name__)

FUSIONS = ("noisy_or", "lr")
SCORE_KINDS = ("combined", "supervised", "anomaly")
_EPS = 1e-7


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Numerically safe logistic function."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=np.float64)))


def logit(p: np.ndarray) -> np.ndarray:
    """Inverse of `sigmoid`, clipped away from 0 and 1."""
    p = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1.0 - _EPS)
    return np.log(p) - np.log1p(-p)


def supervised_logit(class_logits: np.ndarray) -> np.ndarray:
    """log P(any defect class) - log P(ok) from class logits (B, K), class 0 = ok."""
    z = np.asarray(class_logits, dtype=np.float64)
    m = z[:, 1:].max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(z[:, 1:] - m).sum(axis=1))
    return lse - z[:, 0]


def _platt(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(a, b) with sigmoid(a x + b) ~ P(y | x); mild L2 keeps separable data finite."""
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=1.0, max_iter=1000)
    lr.fit(np.asarray(x, dtype=np.float64).reshape(-1, 1), np.asarray(y, dtype=int))
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


@dataclass
class Calibration:
    """Everything between raw scores and the reject decision (saved with the weights)."""

    anomaly_center: float = 0.0
    anomaly_scale: float = 1.0
    sup_coef: tuple[float, float] = (1.0, 0.0)
    anom_coef: tuple[float, float] = (1.0, 0.0)
    fusion: str = "noisy_or"
    fuse_coef: tuple[float, float, float] = (1.0, 1.0, 0.0)  # lr: w_s, w_z, bias
    final_coef: tuple[float, float] = (1.0, 0.0)  # Platt on the fused logit
    thresholds: dict[str, float] = field(default_factory=lambda: {k: 0.5 for k in SCORE_KINDS})
    uncertain_band_logit: float = 1.0
    target_escape: float = 0.005
    target_false_reject: float = 0.01
    threshold_basis: str = "escape_rate"  # or "false_reject_rate" (no defective validation data)
    has_supervised: bool = True
    validation: dict[str, float] = field(default_factory=dict)

    # -- scores --------------------------------------------------------------------------------

    def anomaly_z(self, raw: np.ndarray) -> np.ndarray:
        """Anomaly z-score of raw map maxima (B,)."""
        return (np.asarray(raw, dtype=np.float64) - self.anomaly_center) / self.anomaly_scale

    def p_supervised(self, s: np.ndarray) -> np.ndarray:
        """Calibrated supervised probability of defect (B,)."""
        a, b = self.sup_coef
        return sigmoid(a * np.asarray(s, dtype=np.float64) + b)

    def p_anomaly(self, z: np.ndarray) -> np.ndarray:
        """Calibrated anomaly probability of defect (B,)."""
        a, b = self.anom_coef
        return sigmoid(a * np.asarray(z, dtype=np.float64) + b)

    def fused_logit(self, s: np.ndarray, z: np.ndarray) -> np.ndarray:
        """The fused score before the final Platt step (B,)."""
        if not self.has_supervised:
            return logit(self.p_anomaly(z))
        if self.fusion == "lr":
            ws, wz, b = self.fuse_coef
            return ws * np.asarray(s, dtype=np.float64) + wz * np.asarray(z, dtype=np.float64) + b
        p = 1.0 - (1.0 - self.p_supervised(s)) * (1.0 - self.p_anomaly(z))
        return logit(p)

    def p_combined(self, s: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Calibrated combined probability of defect (B,): the score the cell decides on."""
        a, b = self.final_coef
        return sigmoid(a * self.fused_logit(s, z) + b)

    def probabilities(self, s: np.ndarray, raw_anomaly: np.ndarray) -> dict[str, np.ndarray]:
        """{"combined", "supervised", "anomaly"} -> (B,) calibrated probabilities."""
        z = self.anomaly_z(raw_anomaly)
        sup = self.p_supervised(s) if self.has_supervised else np.full(z.shape, np.nan)
        return {"combined": self.p_combined(s, z), "supervised": sup, "anomaly": self.p_anomaly(z)}

    def uncertain(self, p: np.ndarray, kind: str = "combined") -> np.ndarray:
        """True where p lies within the band around the threshold (logit units)."""
        return np.abs(logit(p) - logit(self.thresholds[kind])) < self.uncertain_band_logit

    # -- persistence ---------------------------------------------------------------------------

    def to_dict(self) -> dict:
        """Plain dict of floats, strings and lists (loads with weights_only=True)."""
        d = asdict(self)
        for k in ("sup_coef", "anom_coef", "fuse_coef", "final_coef"):
            d[k] = [float(v) for v in d[k]]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Calibration:
        """Inverse of `to_dict`; unknown keys are an error (an incompatible file)."""
        extra = set(d) - set(cls.__dataclass_fields__)
        if extra:
            msg = f"unknown calibration fields {sorted(extra)}"
            raise ValueError(msg)
        d = dict(d)
        for k in ("sup_coef", "anom_coef", "fuse_coef", "final_coef"):
            if k in d:
                d[k] = tuple(float(v) for v in d[k])
        return cls(**d)


def fit_calibration(
    sup_logit: np.ndarray | None,
    raw_anomaly: np.ndarray,
    defective: np.ndarray,
    target_escape: float = 0.005,
    target_false_reject: float = 0.01,
    fusion: str = "noisy_or",
    uncertain_band_logit: float = 1.0,
) -> Calibration:
    """Fit the calibration on held-out validation scores.

    Args:
        sup_logit: (N,) supervised logits, or None for a good-only model.
        raw_anomaly: (N,) anomaly map maxima; the parts must not be in the memory bank.
        defective: (N,) bool labels; may be all False (good-only: threshold by false rejects).
        target_escape: share of defective parts allowed to pass at the threshold.
        target_false_reject: used only without defective validation parts.
        fusion: "noisy_or" or "lr" (see the module docstring).
        uncertain_band_logit: half-width of the uncertain band around the threshold (logit).
    """
    if fusion not in FUSIONS:
        msg = f"fusion must be one of {FUSIONS}, got {fusion!r}"
        raise ValueError(msg)
    y = np.asarray(defective, dtype=bool)
    raw = np.asarray(raw_anomaly, dtype=np.float64)
    if raw.shape != y.shape or (~y).sum() < 2:
        msg = f"fit_calibration needs >= 2 good validation parts and matching shapes, got {(~y).sum()} good, shapes {raw.shape} {y.shape}"
        raise ValueError(msg)
    good = raw[~y]
    center = float(np.median(good))
    # Robust spread (MAD), floored so a near-constant good set cannot blow z up.
    scale = float(max(1.4826 * np.median(np.abs(good - center)), 1e-3 * max(abs(center), 1e-6), 1e-9))
    cal = Calibration(
        anomaly_center=center, anomaly_scale=scale, fusion=fusion, target_escape=float(target_escape),
        target_false_reject=float(target_false_reject), uncertain_band_logit=float(uncertain_band_logit),
        has_supervised=sup_logit is not None,
    )  # fmt: skip
    z = cal.anomaly_z(raw)
    s = np.zeros_like(z) if sup_logit is None else np.asarray(sup_logit, dtype=np.float64)
    if not y.any():
        # Good-only: no escape rate to measure. Centre the anomaly score on the good-part
        # quantile that gives the target false-reject rate; p = 0.5 there.
        z_thr = threshold_for_false_reject(z, target_false_reject)
        cal.anom_coef = (2.0, -2.0 * z_thr)
        cal.thresholds = {k: 0.5 for k in SCORE_KINDS}
        cal.threshold_basis = "false_reject_rate"
        if sup_logit is not None:
            cal.sup_coef = _platt_or_identity(s, y)
        cal.validation = _validation_summary(cal, s, raw, y)
        return cal
    cal.anom_coef = _platt(z, y)
    if sup_logit is not None:
        cal.sup_coef = _platt(s, y)
        if fusion == "lr":
            from sklearn.linear_model import LogisticRegression

            lr = LogisticRegression(C=1.0, max_iter=1000).fit(np.column_stack([s, z]), y.astype(int))
            # A negative weight would make a more anomalous part look *better*: never allow it.
            ws, wz = (max(float(w), 0.0) for w in lr.coef_[0])
            cal.fuse_coef = (ws, wz, float(lr.intercept_[0]))
    cal.final_coef = _platt(cal.fused_logit(s, z), y)
    probs = cal.probabilities(s, raw)
    cal.thresholds = {
        k: (float(threshold_for_escape_rate(p[y], target_escape)) if np.all(np.isfinite(p)) else 0.5)
        for k, p in probs.items()
    }
    cal.threshold_basis = "escape_rate"
    cal.validation = _validation_summary(cal, s, raw, y)
    return cal


def _platt_or_identity(s: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    return _platt(s, y) if y.any() and (~y).any() else (1.0, 0.0)


def _validation_summary(cal: Calibration, s: np.ndarray, raw: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Rates of the chosen thresholds on the data they were chosen on (for the model card)."""
    out: dict[str, float] = {"n_good": int((~y).sum()), "n_defect": int(y.sum())}
    for kind, p in cal.probabilities(s, raw).items():
        if not np.all(np.isfinite(p)):
            continue
        esc, fr = rates_at_threshold(p, y, cal.thresholds[kind])
        out[f"{kind}_escape_rate"] = esc
        out[f"{kind}_false_reject_rate"] = fr
    return out
