"""Decision threshold from late, noisy downstream labels, held to a target escape rate.

The escape rate at threshold t is the share of defective parts scored below t (missed). The
estimate is conservative:

* Certification (the only way UP, and also down once data suffice): the Clopper-Pearson
  upper bound of the escape rate, at `confidence`, must stay under the target. With k escapes
  among n defects the bound is Beta.ppf(confidence, k + 1, n - k); for k = 0 it needs
  n >= ~600 defect labels at a 0.5 % target (rule of three), so a small run never raises the
  threshold. `min_defects_to_raise` is a second guard on top.
* Evidence of escapes (DOWN, before certification is possible): when at least one missed
  defect is not explained by label noise, the threshold moves just under the missed defects'
  scores (a margin in logit space). With fewer than 1/target defects this is the only
  point estimate that can be under the target: "no unexplained escape".
* Label noise: a downstream label is flipped with probability `label_noise_rate`. A flipped
  good part is a "defect" with a good-looking score, which would read as an escape. Below t
  we expect eps * G * F_good(t) such labels (G good parts, F_good the good-score CDF). The
  expected count is subtracted when deciding to lower (robust to a lone flipped label), a
  lower Poisson bound of it when certifying (subtracting less = conservative). Both are done
  separately inside the bulk of good scores and above it: above the bulk almost no flipped
  labels are expected, so a small run cannot explain a real escape away as noise.
* Cost bound: the threshold never goes below the good-score quantile that would reject more
  than `max_false_reject_rate` of good parts. A defect that scores like a good part cannot be
  caught by a threshold; fine-tuning (and the cell's alarms) must handle it, and the decision
  says so (`floor_limited`). The floor wins over the target (set max_false_reject_rate = 1 to
  let the target win); it lifts a threshold only once there are `min_defects_to_raise` labels.
* Steps are bounded in logit space per update, and the result is clipped to
  [min_threshold, max_threshold].
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np
from scipy.special import expit, logit
from scipy.stats import beta, norm

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ThresholdConfig:
    """How the threshold follows the labels (see the module docstring)."""

    target_escape_rate: float = 0.005  # share of defective parts the classifier may miss
    confidence: float = 0.95  # one-sided level of the escape-rate upper bound
    label_noise_rate: float = 0.01  # probability a downstream label is flipped
    min_defects_to_raise: int = 100  # never raise with fewer (noise-corrected) defect labels
    max_false_reject_rate: float = 0.01  # never go below the good-score quantile beyond this
    min_good_for_floor: int = 20  # good labels needed before the false-reject floor applies
    max_step_logit: float = 1.0  # bound on |logit(new) - logit(old)| per update
    lower_margin_logit: float = 0.3  # land this far under a missed defect's score
    min_threshold: float = 0.02
    max_threshold: float = 0.95

    def __post_init__(self) -> None:
        if not 0.0 < self.target_escape_rate < 1.0:
            msg = f"ThresholdConfig.target_escape_rate must be in (0, 1), got {self.target_escape_rate}"
            raise ValueError(msg)
        if not 0.5 <= self.confidence < 1.0:
            msg = f"ThresholdConfig.confidence must be in [0.5, 1), got {self.confidence}"
            raise ValueError(msg)
        if not 0.0 <= self.label_noise_rate < 0.5:
            msg = f"ThresholdConfig.label_noise_rate must be in [0, 0.5), got {self.label_noise_rate}"
            raise ValueError(msg)
        if not 0.0 < self.min_threshold < self.max_threshold < 1.0:
            msg = (f"ThresholdConfig needs 0 < min_threshold < max_threshold < 1, got "
                   f"{self.min_threshold}, {self.max_threshold}")
            raise ValueError(msg)
        if self.max_step_logit <= 0.0:
            msg = f"ThresholdConfig.max_step_logit must be > 0, got {self.max_step_logit}"
            raise ValueError(msg)


@dataclass(frozen=True)
class ThresholdDecision:
    """One recalibration: the new threshold and the evidence behind it."""

    threshold: float  # the threshold to use (after step bound and clipping)
    previous: float
    desired: float  # where the evidence points, before the step bound
    reason: str  # "certified", "escapes", "floor", "hold", "no_labels"
    n_defect_labels: int
    n_good_labels: int
    defects_est: float  # noise-corrected number of truly defective labelled parts
    escape_ucb: float  # upper confidence bound of the escape rate at `threshold` (nan: no defects)
    escape_point: float  # noise-corrected point estimate at `threshold`
    false_reject_est: float  # share of good-labelled scores at or above `threshold`
    floor_limited: bool  # the false-reject floor stopped a lowering: target not reachable by threshold

    def as_dict(self) -> dict:
        """JSON-friendly form for the store and the log."""
        return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in asdict(self).items()}


def _escape_stats(
    t: np.ndarray, s_def: np.ndarray, s_good: np.ndarray, bulk: float, cfg: ThresholdConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Noise-corrected escape counts at candidate thresholds.

    Args:
        t: (T,) candidate thresholds.
        s_def: (n_d,) scores of defect-labelled parts. s_good: (n_g,) scores of good-labelled.
        bulk: score above which good parts are rare (edge of the good-score bulk).

    Returns:
        (k_mean (T,) escapes minus the expected flipped labels,
         k_cons (T,) escapes minus a lower bound of the flipped labels (conservative),
         ucb (T,) Clopper-Pearson upper bound of the escape rate from k_cons,
         defects_est: noise-corrected number of truly defective labelled parts).
    """
    eps = cfg.label_noise_rate
    n_d, n_g = s_def.size, s_good.size
    n = n_d + n_g
    # Invert the flip model n_d = (1 - eps) D + eps G, n_g = (1 - eps) G + eps D.
    d_est = max((n_d - eps * n) / (1.0 - 2.0 * eps), 1.0)
    g_est = max(n - d_est, 0.0)
    s_def_sorted = np.sort(s_def)
    s_good_sorted = np.sort(s_good)

    def below(sorted_scores: np.ndarray, x: np.ndarray) -> np.ndarray:
        return np.searchsorted(sorted_scores, x, side="left").astype(float)

    def cdf_good(x: np.ndarray) -> np.ndarray:
        return below(s_good_sorted, x) / n_g if n_g else np.zeros_like(x, dtype=float)

    t_low = np.minimum(t, bulk)
    k_obs = [below(s_def_sorted, t_low), below(s_def_sorted, t) - below(s_def_sorted, t_low)]
    flips = [eps * g_est * cdf_good(t_low), eps * g_est * np.maximum(cdf_good(t) - cdf_good(t_low), 0.0)]
    z = norm.ppf(cfg.confidence)
    k_mean = sum(np.maximum(k - f, 0.0) for k, f in zip(k_obs, flips, strict=True))
    # Subtract less than expected (a lower Poisson bound of the flips): the conservative count.
    k_cons = sum(np.maximum(k - np.maximum(f - z * np.sqrt(f), 0.0), 0.0) for k, f in zip(k_obs, flips, strict=True))
    k_mean, k_cons = np.minimum(k_mean, d_est), np.minimum(k_cons, d_est)
    ucb = beta.ppf(cfg.confidence, k_cons + 1.0, np.maximum(d_est - k_cons, 1e-9))
    return k_mean, k_cons, ucb, d_est


def recalibrate_threshold(
    scores: np.ndarray, defective: np.ndarray, current: float, config: ThresholdConfig | None = None
) -> ThresholdDecision:
    """The next decision threshold from labelled scores (pure function; see module docstring).

    Args:
        scores: (N,) calibrated p_defect the live model gave the labelled parts.
        defective: (N,) bool downstream labels (possibly late and noisy).
        current: the threshold in force (probability).
        config: policy; defaults to ThresholdConfig().

    Returns:
        The decision with its evidence.
    """
    cfg = config or ThresholdConfig()
    s = np.asarray(scores, dtype=float).reshape(-1)
    d = np.asarray(defective, dtype=bool).reshape(-1)
    if s.shape != d.shape:
        msg = f"recalibrate_threshold: scores {s.shape} and defective {d.shape} differ in shape"
        raise ValueError(msg)
    if not 0.0 < current < 1.0:
        msg = f"recalibrate_threshold: current threshold must be in (0, 1), got {current}"
        raise ValueError(msg)
    s = np.clip(s, 1e-6, 1.0 - 1e-6)
    s_def, s_good = s[d], s[~d]
    n_d, n_g = int(s_def.size), int(s_good.size)
    nan = float("nan")
    if n_d == 0 and n_g == 0:
        return ThresholdDecision(current, current, current, "no_labels", 0, 0, 0.0, nan, nan, nan, False)

    # The false-reject floor, and the edge of the good-score bulk where flipped labels live.
    floor, bulk = cfg.min_threshold, (float(s_good.max()) if n_g else 1.0)
    if n_g >= cfg.min_good_for_floor:
        floor = max(floor, float(np.quantile(s_good, 1.0 - cfg.max_false_reject_rate)))
        bulk = floor

    cand = np.unique(np.concatenate([s_def, [current, cfg.min_threshold, cfg.max_threshold]]))
    k_mean, _, ucb, d_est = _escape_stats(cand, s_def, s_good, bulk, cfg)
    ok = ucb <= cfg.target_escape_rate
    # Largest t such that every lower candidate is certified too (the first violation stops it).
    n_ok = int(np.argmin(ok)) if not ok.all() else ok.size
    t_cert = float(cand[n_ok - 1]) if n_ok > 0 else None
    i_cur = int(np.searchsorted(cand, current))

    enough = n_d > 0 and min(n_d, d_est) >= cfg.min_defects_to_raise
    if enough and t_cert is not None:
        desired, reason = t_cert, "certified"
    elif n_d and k_mean[i_cur] > 0.5:
        # At least one escape that label noise does not explain: go just under the missed
        # defects (highest candidate with no unexplained escape), never up.
        idx = np.flatnonzero((k_mean <= 0.5) & (cand <= current))
        t_ok = float(cand[idx[-1]]) if idx.size else cfg.min_threshold
        desired, reason = float(expit(logit(t_ok) - cfg.lower_margin_logit)), "escapes"
    else:
        desired, reason = current, "hold"
    # The false-reject floor wins over the escape target (set max_false_reject_rate = 1 to let
    # the target win). With few labels it only stops a lowering; with enough it may also lift
    # a threshold that sits inside the good-score bulk.
    floor_limited = desired < floor and (desired < current or enough)
    if floor_limited:
        desired = floor if (floor <= current or enough) else current
        if reason == "hold":
            reason = "floor"

    desired = float(np.clip(desired, cfg.min_threshold, cfg.max_threshold))
    if desired == current:
        new = float(current)  # no logit round trip: an unchanged threshold stays bit-identical
    else:
        step = float(np.clip(logit(desired) - logit(current), -cfg.max_step_logit, cfg.max_step_logit))
        new = float(np.clip(expit(logit(current) + step), cfg.min_threshold, cfg.max_threshold))
    k_new, _, ucb_new, _ = _escape_stats(np.array([new]), s_def, s_good, bulk, cfg)
    decision = ThresholdDecision(
        threshold=new, previous=float(current), desired=desired, reason=reason,
        n_defect_labels=n_d, n_good_labels=n_g, defects_est=float(d_est),
        escape_ucb=float(ucb_new[0]) if n_d else nan, escape_point=float(k_new[0] / d_est) if n_d else nan,
        false_reject_est=float(np.mean(s_good >= new)) if n_g else nan, floor_limited=floor_limited,
    )
    if floor_limited:
        logger.warning(
            "threshold: the escape target needs a threshold under the false-reject floor %.4f "
            "(max %.1f %% of good parts rejected); holding the floor, fine-tuning must close the gap",
            floor, 100.0 * cfg.max_false_reject_rate,
        )
    return decision
