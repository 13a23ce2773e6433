"""Threshold recalibration: holds the escape target, stays put on thin evidence, resists label noise."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit, logit
from scipy.stats import norm

from factory_ai.learning import ThresholdConfig, recalibrate_threshold

# Synthetic calibrated scores: logit(p) ~ N(mu, sd) per class.
GOOD_MU, GOOD_SD = -4.0, 1.2
DEFECT_MU, DEFECT_SD = 3.0, 1.5
TARGET = 0.005


def true_escape_rate(t: float) -> float:
    """Share of defective parts scored below t, from the generating distribution."""
    return float(norm.cdf((logit(t) - DEFECT_MU) / DEFECT_SD))


def true_false_reject_rate(t: float) -> float:
    """Share of good parts scored at or above t, from the generating distribution."""
    return float(norm.sf((logit(t) - GOOD_MU) / GOOD_SD))


def labelled_scores(seed: int, n: int, prevalence: float = 0.1, noise: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(scores, noisy labels) for n parts."""
    rng = np.random.default_rng(seed)
    defective = rng.random(n) < prevalence
    lg = np.where(defective, rng.normal(DEFECT_MU, DEFECT_SD, n), rng.normal(GOOD_MU, GOOD_SD, n))
    return expit(lg), defective ^ (rng.random(n) < noise)


def settle(scores: np.ndarray, labels: np.ndarray, start: float, cfg: ThresholdConfig, updates: int = 12) -> float:
    """Apply the recalibration repeatedly (the step bound needs a few updates to travel)."""
    t = start
    for _ in range(updates):
        t = recalibrate_threshold(scores, labels, t, cfg).threshold
    return t


@pytest.mark.parametrize("noise", [0.0, 0.02])
@pytest.mark.parametrize("start", [0.05, 0.6])
def test_holds_escape_target_with_many_labels(noise: float, start: float) -> None:
    scores, labels = labelled_scores(seed=1, n=60_000, noise=noise)
    cfg = ThresholdConfig(target_escape_rate=TARGET, label_noise_rate=noise)
    t = settle(scores, labels, start, cfg)
    # The true escape rate stays under the target, and the conservative bound does not buy
    # it with an absurd false-reject rate (the oracle threshold rejects 0.45 % of good parts).
    assert true_escape_rate(t) <= TARGET
    assert true_false_reject_rate(t) <= cfg.max_false_reject_rate + 0.002
    oracle = float(expit(DEFECT_MU + DEFECT_SD * norm.ppf(TARGET)))
    assert t >= 0.5 * oracle


def test_never_raises_on_few_defect_labels() -> None:
    # 20 defects, all caught far above the threshold: no evidence that a higher one is safe.
    scores, labels = labelled_scores(seed=2, n=200)
    assert labels.sum() >= 10
    decision = recalibrate_threshold(scores, labels, 0.05, ThresholdConfig())
    assert decision.threshold == 0.05
    assert decision.reason in ("hold", "floor")


def test_lowers_under_a_missed_defect_in_bounded_steps() -> None:
    scores, labels = labelled_scores(seed=3, n=300)
    scores = np.append(scores, 0.45)  # a clear escape: above every good part, below 0.6
    labels = np.append(labels, True)
    assert scores[~labels].max() < 0.45
    cfg = ThresholdConfig()
    first = recalibrate_threshold(scores, labels, 0.6, cfg)
    assert first.reason == "escapes"
    assert abs(logit(first.threshold) - logit(0.6)) <= cfg.max_step_logit + 1e-9
    t = settle(scores, labels, 0.6, cfg)
    assert t < 0.45  # the missed part would now be rejected
    assert t >= np.quantile(scores[~labels], 1.0 - cfg.max_false_reject_rate)


def test_a_lone_flipped_label_does_not_drag_the_threshold_into_good_parts() -> None:
    scores, labels = labelled_scores(seed=4, n=300)
    good = np.flatnonzero(~labels)
    labels = labels.copy()
    labels[good[np.argsort(scores[good])[len(good) // 2]]] = True  # a median good part labelled defective
    cfg = ThresholdConfig(label_noise_rate=0.01)
    t = settle(scores, labels, 0.3, cfg)
    assert t == pytest.approx(0.3)
    # Even with noise not modelled, the false-reject floor bounds the damage.
    t_unmodelled = settle(scores, labels, 0.3, ThresholdConfig(label_noise_rate=0.0))
    n_good = int((~labels).sum())
    assert np.mean(scores[~labels] >= t_unmodelled) <= ThresholdConfig().max_false_reject_rate + 1.0 / n_good


def test_no_labels_keeps_the_threshold() -> None:
    decision = recalibrate_threshold(np.array([]), np.array([], dtype=bool), 0.4)
    assert decision.threshold == 0.4
    assert decision.reason == "no_labels"


def test_rejects_mismatched_inputs() -> None:
    with pytest.raises(ValueError, match="shape"):
        recalibrate_threshold(np.zeros(3), np.zeros(2, dtype=bool), 0.5)
    with pytest.raises(ValueError, match="current threshold"):
        recalibrate_threshold(np.zeros(3), np.zeros(3, dtype=bool), 1.5)
