"""Process estimator: recovers camera offset and latency from pick offsets, bounded and persistent."""

from __future__ import annotations

import numpy as np
import pytest

from factory_ai.learning import Corrections, ProcessConfig, ProcessEstimator
from factory_ai.types import PickOutcome, PickResult

TRUE_OFFSET_M = np.array([0.005, -0.002])  # camera extrinsic error, base x (along belt), y
TRUE_LATENCY_S = 0.040
NOISE_M = 0.0005  # std of one measured part-cup offset per axis


def raw_offset_m(v_mps: float, lead_s: float, scale: float = 1.0) -> np.ndarray:
    """Part-cup offset the systematic errors cause (module docstring of process.py)."""
    return TRUE_OFFSET_M + np.array([v_mps * TRUE_LATENCY_S + (scale - 1.0) * v_mps * lead_s, 0.0])


def planner_correction_m(c: Corrections, v_mps: float, lead_s: float) -> np.ndarray:
    """How far a planner applying `c` moves its aim point (first order)."""
    off = np.asarray(c.camera_offset_base_m)
    return off + np.array([v_mps * c.latency_s + (c.belt_speed_scale - 1.0) * v_mps * lead_s, 0.0])


def run_picks(seed: int, n: int, closed_loop: bool, v_range=(0.05, 0.5), scale: float = 1.0) -> ProcessEstimator:
    """n simulated picks at varying belt speed and lead time; closed loop applies corrections."""
    rng = np.random.default_rng(seed)
    est = ProcessEstimator()
    for _ in range(n):
        v, lead = rng.uniform(*v_range), rng.uniform(0.4, 1.5)
        applied = est.corrections() if closed_loop else Corrections()
        e = raw_offset_m(v, lead, scale) - planner_correction_m(applied, v, lead) + rng.normal(0.0, NOISE_M, 2)
        est.update(e, v, lead, applied)
    return est


def errors(est: ProcessEstimator) -> tuple[float, float]:
    c = est.corrections()
    return float(np.max(np.abs(np.asarray(c.camera_offset_base_m) - TRUE_OFFSET_M))), abs(c.latency_s - TRUE_LATENCY_S)


@pytest.mark.parametrize("closed_loop", [False, True])
def test_converges_within_20_picks_to_1mm_and_5ms(closed_loop: bool) -> None:
    # Belt speed varies over the supported 0.05..0.5 m/s, so offset and latency separate.
    results = np.array([errors(run_picks(seed, 20, closed_loop)) for seed in range(100)])
    ok = (results[:, 0] < 0.001) & (results[:, 1] < 0.005)
    print(f"within 1 mm / 5 ms after 20 picks: {ok.mean():.0%} of 100 runs; "
          f"median errors {1e3 * np.median(results[:, 0]):.2f} mm, {1e3 * np.median(results[:, 1]):.2f} ms")
    assert ok.mean() >= 0.95


def test_constant_belt_speed_still_fixes_the_grasp() -> None:
    # One belt speed: offset and latency are not separable, but their sum is what the grasp needs.
    v = 0.2
    est = run_picks(seed=7, n=20, closed_loop=True, v_range=(v, v))
    residual = raw_offset_m(v, 1.0) - planner_correction_m(est.corrections(), v, 1.0)
    assert np.max(np.abs(residual)) < 0.001


def test_estimates_belt_speed_scale() -> None:
    est = run_picks(seed=3, n=60, closed_loop=True, scale=1.03)
    assert est.corrections().belt_speed_scale == pytest.approx(1.03, abs=0.005)


def test_corrections_are_bounded() -> None:
    cfg = ProcessConfig()
    est = ProcessEstimator(cfg)
    for _ in range(50):
        est.update(np.array([0.08, -0.08]), 0.3, 1.0)  # far beyond any plausible calibration error
    c = est.corrections()
    assert np.all(np.abs(c.camera_offset_base_m) <= cfg.max_offset_m + 1e-12)
    assert abs(c.latency_s) <= cfg.max_latency_s + 1e-12
    assert cfg.scale_bounds[0] <= c.belt_speed_scale <= cfg.scale_bounds[1]


def test_outlier_pick_is_gated() -> None:
    est = run_picks(seed=5, n=30, closed_loop=False)
    before = est.corrections()
    assert not est.update(np.array([0.05, 0.05]), 0.2, 1.0)  # a part that slid in the cup
    assert est.corrections() == before
    assert est.n_rejected == 1


def test_missed_pick_carries_no_measurement() -> None:
    est = ProcessEstimator()
    miss = PickOutcome(1, 1.0, PickResult.MISSED, None, v_belt_pred_mps=0.2, lead_time_s=1.0)
    assert not est.update_from_outcome(miss)
    assert est.n_updates == 0


def test_state_round_trip_resumes_the_estimate() -> None:
    est = run_picks(seed=1, n=15, closed_loop=False)
    again = ProcessEstimator()
    again.load_state_dict(est.state_dict())
    assert again.corrections() == est.corrections()
    np.testing.assert_allclose(again.P, est.P)


def test_belt_direction_other_than_x() -> None:
    # Belt along base +y: the latency shows along y; the estimate lands in base coordinates.
    est = ProcessEstimator(ProcessConfig(belt_dir_base=(0.0, 1.0, 0.0)))
    rng = np.random.default_rng(0)
    for _ in range(40):
        v, lead = rng.uniform(0.05, 0.5), rng.uniform(0.4, 1.5)
        e = np.array([0.003, v * TRUE_LATENCY_S]) + rng.normal(0.0, NOISE_M, 2)
        est.update(e, v, lead)
    c = est.corrections()
    assert c.latency_s == pytest.approx(TRUE_LATENCY_S, abs=0.005)
    assert c.camera_offset_base_m[0] == pytest.approx(0.003, abs=0.001)
