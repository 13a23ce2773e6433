"""Vision acceptance on the digital twin: parts carried through the camera's view by the belt,
rendered by MuJoCo with lighting drift and noise, located and tracked by `PartTracker`.

Acceptance (issue: Perception): every part detected exactly once (no duplicate track, no miss),
position error p95 <= 1.5 mm, yaw error p95 <= 2 deg (modulo symmetry; washers have none),
velocity within 2 %. The full 1,000-part run over belt speeds 0.1-0.5 m/s is slow-tier; the
default tier runs a few dozen parts at the slowest and fastest speed.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from vision_helpers import observe_still, run_twin, summarize_twin_runs

pytest.importorskip("mujoco")


def _check_acceptance(runs) -> dict[str, float]:
    fig = summarize_twin_runs(runs)
    print("\n" + json.dumps({k: round(v, 3) for k, v in fig.items()}, indent=1))
    for r in runs:
        assert not r.misses(), f"v={r.v_mps}: parts never reported: {r.misses()}"
        assert not r.duplicates(), f"v={r.v_mps}: parts with several tracks: {r.duplicates()}"
        assert not r.swaps(), f"v={r.v_mps}: tracks that jumped between parts: {r.swaps()}"
        assert r.unmatched_reports == 0, f"v={r.v_mps}: {r.unmatched_reports} reports of no part"
    assert fig["pos_err_p95_mm"] <= 1.5
    assert fig["yaw_err_p95_deg_hex_nut"] <= 2.0
    assert fig["yaw_err_p95_deg_bracket"] <= 2.0
    # A track reports its own least-squares velocity from 10 samples on, the belt velocity
    # pooled over all tracks before that; only the very first frames of a run, before any
    # track has two samples, carry the nominal prior.
    assert fig["vel_err_max_pct_settled"] <= 2.0
    assert fig["vel_err_p95_pct_all"] <= 2.0
    return fig


def test_parts_at_slow_and_fast_belt_speeds_are_tracked_once_and_located(cell):
    runs = [run_twin(cell, 0.1, 12, seed=1), run_twin(cell, 0.5, 25, seed=2)]
    fig = _check_acceptance(runs)
    assert fig["parts"] >= 37


@pytest.mark.slow
def test_a_thousand_parts_at_belt_speeds_from_0_1_to_0_5_mps(cell):
    """1,000 parts, 200 at each of 0.1, 0.2, 0.3, 0.4, 0.5 m/s, spawner defaults (20 % of the
    parts close to touching their neighbour)."""
    runs = [run_twin(cell, v, 200, seed=10 + i) for i, v in enumerate((0.1, 0.2, 0.3, 0.4, 0.5))]
    fig = _check_acceptance(runs)
    assert fig["parts"] >= 1000


def test_vision_latency_with_five_parts_in_view(cell):
    """Per-frame vision latency at 640x480 with 5 parts in view (printed; the classifier needs
    the rest of the 20 ms budget). Asserts only that all five are reported every frame."""
    from factory_ai.sim import CellSim, SimConfig
    from factory_ai.vision import PartTracker

    sim = CellSim(cell, SimConfig(belt_speed_mps=0.3, spawn_enabled=False, prefill_belt=False))
    sim.reset(5)
    layout = [(-0.70, 0.38, "washer"), (-0.62, 0.52, "bracket"), (-0.53, 0.40, "hex_nut"), (-0.45, 0.53, "bracket"), (-0.40, 0.37, "washer")]
    for x, y, shape in layout:
        sim.spawn_part(shape, [x, y], 0.7)
    frames = []
    try:
        for _ in range(30):
            sim.step(1.0 / 300.0)  # 1 mm per frame: all five stay in view
            f = sim.render_camera()
            frames.append((f.rgb, f.stamp_s))
    finally:
        sim.close()
    tracker = PartTracker(cell)
    wall, cpu, counts = [], [], []
    for _ in range(3):
        tracker.reset()
        for k, (rgb, stamp) in enumerate(frames):
            w0, c0 = time.perf_counter(), time.process_time()
            obs = tracker.update(rgb, stamp)
            wall.append(time.perf_counter() - w0)
            cpu.append(time.process_time() - c0)
            if k > 0:  # new tracks are reported from their second detection on
                counts.append(len(obs))
    assert set(counts) == {5}
    print(
        f"\nvision latency, 640x480, 5 parts: wall p50 {1e3 * np.median(wall):.2f} ms "
        f"p95 {1e3 * np.percentile(wall, 95):.2f} ms; CPU p50 {1e3 * np.median(cpu):.2f} ms "
        f"p95 {1e3 * np.percentile(cpu, 95):.2f} ms"
    )


def test_training_crops_cut_from_ground_truth_match_run_time_crops(cell):
    """`PartTracker.crop_geometry` turns a twin part's true pose into the same canonical crop
    the tracker cuts at run time, so a classifier trained on truth-cut crops sees run-time
    inputs."""
    from factory_ai.sim import CellSim, SimConfig
    from factory_ai.vision import PartTracker, canonical_crop

    sim = CellSim(cell, SimConfig(belt_speed_mps=0.2, spawn_enabled=False, prefill_belt=False))
    sim.reset(8)
    for x, y, shape, yaw in [(-0.68, 0.40, "washer", 0.9), (-0.55, 0.52, "bracket", 2.0), (-0.42, 0.40, "hex_nut", 2.3)]:
        sim.spawn_part(shape, [x, y], yaw)
    try:
        sim.step(0.05)
        frame = sim.render_camera()
        truths = sim.ground_truth()
    finally:
        sim.close()
    tracker = PartTracker(cell)
    obs = observe_still(tracker, frame.rgb, frame.stamp_s)
    assert len(obs) == 3
    for o in obs:
        g = min(truths, key=lambda t: np.linalg.norm(t.p_base_m[:2] - o.p_base_m[:2]))
        center, angle, extent = tracker.crop_geometry(g.p_base_m, g.yaw_rad, g.radius_m, g.top_z_part_m, g.shape.value)
        assert np.linalg.norm(center - o.crop_center_px) < 0.5
        assert abs(np.angle(np.exp(1j * (angle - o.crop_angle_rad)))) < np.radians(2.0)
        assert extent == pytest.approx(o.crop_extent_px, rel=0.03)
        truth_crop = canonical_crop(frame.rgb, center, angle, o.crop.shape[0], extent_px=extent).astype(float)
        diff = np.mean(np.abs(truth_crop - o.crop.astype(float)))
        assert diff < 0.15 * np.std(o.crop.astype(float)), (o.shape, diff)
