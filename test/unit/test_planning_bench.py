"""`factory-ai bench planning`: seeded scenes, both planners judged by the same checker, the
JSON figures the issue asks for."""

from __future__ import annotations

import argparse

import pytest

import numpy as np
from planning_helpers import make_planner

from factory_ai.bench import planning as bench


def test_scenes_are_seeded_and_cover_moving_starts():
    planner = make_planner()
    a = bench.make_scenes(planner, 20, seed=5)
    b = bench.make_scenes(planner, 20, seed=5)
    assert [s.obs.p_base_m.tolist() for s in a] == [s.obs.p_base_m.tolist() for s in b]
    assert any(s.moving for s in a) and not all(s.moving for s in a)
    speeds = np.array([s.speed_mps for s in a])
    assert speeds.min() >= 0.1 and speeds.max() <= 0.5
    for s in a:
        if s.moving:
            assert np.abs(s.state.qd_radps).max() > 0.0


def test_bench_reports_ours_and_the_peer(capsys):
    # The peer is a benchmark dependency (requirements.txt), not one a ROS install carries.
    pytest.importorskip("ompl", reason="the OMPL peer is installed with requirements.txt, not requirements-ros.txt")
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    figures = bench.run(parser.parse_args(["--scenes", "4", "--seed", "3"]))
    for key in (
        "scenes", "success_rate", "latency_ms", "peer_success_rate", "peer_latency_ms", "speedup_p50",
        "mean_time_to_grasp_s", "peer_mean_time_to_grasp_s", "max_intercept_error_mm", "peer_checker",
    ):
        assert key in figures, key
    assert figures["scenes"] == 4
    assert figures["success_rate"] == 1.0
    assert figures["max_intercept_error_mm"] <= 2.0
    assert {"p50", "p99"} <= set(figures["latency_ms"]) and {"p50", "p99"} <= set(figures["peer_latency_ms"])
    assert "coal" in figures["peer_checker"]
    assert "planning:" in capsys.readouterr().out
