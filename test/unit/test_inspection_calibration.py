"""Calibration, threshold choice and the detection metrics, on synthetic scores."""

from __future__ import annotations

import numpy as np
import pytest

from factory_ai.inspection.calibration import Calibration, fit_calibration, logit, sigmoid, supervised_logit
from factory_ai.inspection.metrics import (
    auroc,
    detection_report,
    rates_at_threshold,
    recall_at_false_reject,
    threshold_for_escape_rate,
    threshold_for_false_reject,
)


def _scores(seed: int, n_good: int = 2000, n_defect: int = 2000):
    """Supervised logits and anomaly maxima: defects score higher on both, with overlap."""
    rng = np.random.default_rng(seed)
    y = np.r_[np.zeros(n_good, bool), np.ones(n_defect, bool)]
    s = np.where(y, rng.normal(2.0, 1.5, y.size), rng.normal(-2.0, 1.5, y.size))
    raw = np.where(y, rng.normal(1.6, 0.4, y.size), rng.normal(1.0, 0.15, y.size))
    return s, raw, y


def test_threshold_meets_the_target_escape_rate_on_validation_data():
    s, raw, y = _scores(0)
    cal = fit_calibration(s, raw, y, target_escape=0.005)
    p = cal.probabilities(s, raw)["combined"]
    escape, false_reject = rates_at_threshold(p, y, cal.thresholds["combined"])
    assert escape <= 0.005
    # The threshold is as high as the target allows: one more escape would break it.
    assert np.sum(p[y] <= cal.thresholds["combined"]) == int(np.floor(0.005 * y.sum()))
    assert 0.0 < false_reject < 1.0


def test_threshold_generalizes_to_fresh_parts_from_the_same_process():
    s, raw, y = _scores(0)
    cal = fit_calibration(s, raw, y, target_escape=0.01)
    s2, raw2, y2 = _scores(1)
    escape, _ = rates_at_threshold(cal.probabilities(s2, raw2)["combined"], y2, cal.thresholds["combined"])
    assert escape <= 0.02  # target 1%, sampling noise on 2000 defects


@pytest.mark.parametrize("fusion", ["noisy_or", "lr"])
def test_combined_probability_is_calibrated(fusion):
    s, raw, y = _scores(0)
    cal = fit_calibration(s, raw, y, fusion=fusion)
    s2, raw2, y2 = _scores(2)
    p = cal.probabilities(s2, raw2)["combined"]
    # Reliability: in each probability bin the share of defects matches the mean probability.
    bins = np.digitize(p, [0.1, 0.3, 0.5, 0.7, 0.9])
    for b in np.unique(bins):
        m = bins == b
        if m.sum() >= 100:
            assert abs(p[m].mean() - y2[m].mean()) < 0.1


def test_noisy_or_rejects_an_anomaly_the_supervised_head_calls_good():
    s, raw, y = _scores(0)
    cal = fit_calibration(s, raw, y, fusion="noisy_or")
    # Supervised head confident "ok", anomaly far beyond anything seen on good parts.
    p = cal.probabilities(np.array([-6.0]), np.array([3.0]))
    assert p["supervised"][0] < 0.05
    assert p["combined"][0] > cal.thresholds["combined"]


def test_good_only_calibration_meets_the_false_reject_target():
    rng = np.random.default_rng(3)
    raw = rng.normal(1.0, 0.1, 5000)
    cal = fit_calibration(None, raw, np.zeros(raw.size, bool), target_false_reject=0.01)
    assert cal.threshold_basis == "false_reject_rate"
    fresh = rng.normal(1.0, 0.1, 20000)
    p = cal.probabilities(np.zeros(fresh.size), fresh)["combined"]
    fr = float(np.mean(p > cal.thresholds["combined"]))
    assert 0.005 < fr < 0.02
    assert not cal.has_supervised and np.all(np.isnan(cal.probabilities(np.zeros(3), fresh[:3])["supervised"]))


def test_uncertain_band_surrounds_the_threshold():
    s, raw, y = _scores(0)
    cal = fit_calibration(s, raw, y, uncertain_band_logit=0.5)
    t = cal.thresholds["combined"]
    near = sigmoid(logit(t) + np.array([-0.4, 0.4]))
    far = sigmoid(logit(t) + np.array([-2.0, 2.0]))
    assert cal.uncertain(near).all()
    assert not cal.uncertain(far).any()


def test_calibration_round_trips_through_a_plain_dict():
    s, raw, y = _scores(0)
    cal = fit_calibration(s, raw, y, fusion="lr")
    again = Calibration.from_dict(cal.to_dict())
    np.testing.assert_allclose(again.probabilities(s, raw)["combined"], cal.probabilities(s, raw)["combined"])
    with pytest.raises(ValueError, match="unknown calibration fields"):
        Calibration.from_dict({**cal.to_dict(), "bogus": 1})


def test_supervised_logit_is_defect_vs_ok_log_odds():
    logits = np.log(np.array([[0.5, 0.25, 0.25], [0.9, 0.05, 0.05]]))
    np.testing.assert_allclose(supervised_logit(logits), [0.0, np.log(0.1 / 0.9)], atol=1e-9)


def test_metrics_on_a_known_ranking():
    scores = np.array([0.1, 0.2, 0.3, 0.35, 0.8, 0.9])
    y = np.array([0, 0, 0, 1, 1, 1], bool)
    assert auroc(scores, y) == 1.0
    assert recall_at_false_reject(scores, y, 0.0) == 1.0
    assert threshold_for_false_reject(np.array([1.0, 2.0, 3.0, 4.0]), 0.25) == 3.0
    assert threshold_for_escape_rate(np.array([0.5, 0.6]), 0.0) < 0.5
    r = detection_report(scores, y, 0.5)
    assert r["escape_rate_at_threshold"] == pytest.approx(1 / 3)
    assert r["false_reject_rate_at_threshold"] == 0.0
    assert (r["n_good"], r["n_defect"]) == (3, 3)
    with pytest.raises(ValueError, match="NaN"):
        auroc(np.array([0.1, np.nan]), np.array([0, 1], bool))
