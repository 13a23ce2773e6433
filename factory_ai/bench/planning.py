"""Planning: replan latency, success and time to grasp on seeded scenes, vs OMPL RRTConnect + TOPP-RA.

Each scene: a part seen by the camera (random position along the view, lateral offset, yaw),
belt speed 0.1-0.5 m/s, the arm at rest at its ready pose or part-way through a jerk-limited move
towards a previous target. Ours and the peer (`planning.peer`) plan the same scene in the same
process; one `FeasibilityChecker` judges both trajectories. Latency is wall-clock time of the
planning call (and its CPU time, which other processes on a shared machine cannot inflate).
"""

from __future__ import annotations

import argparse
import collections
import math
import os
import time
from dataclasses import dataclass

import numpy as np
import ruckig

from factory_ai.types import JointState, PartObservation, RejectStatus


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Benchmark options."""
    parser.add_argument("--scenes", type=int, default=200, help="number of seeded scenes (>= 200 for the report)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the scene set")
    parser.add_argument("--moving-fraction", type=float, default=0.5, help="share of scenes where the arm is moving")
    parser.add_argument("--peer-time-limit", type=float, default=1.0, help="OMPL solve time limit per attempt (s)")
    parser.add_argument("--no-peer", action="store_true", help="skip the OMPL + TOPP-RA peer")


@dataclass(frozen=True)
class Scene:
    """One benchmark scene (cell clock starts at 0 with the observation)."""

    index: int
    state: JointState
    obs: PartObservation
    speed_mps: float
    moving: bool


def make_scenes(planner, n: int, seed: int, moving_fraction: float = 0.5) -> list[Scene]:
    """Seeded scenes for `planner`'s cell (see the module docstring)."""
    rng = np.random.default_rng(seed)
    cell = planner.cell
    T = cell.T_base_belt
    names = planner.joint_names
    q_ready = np.asarray(cell.arm.ready_q_rad, dtype=float)
    otg = ruckig.Ruckig(6)
    inp = ruckig.InputParameter(6)
    inp.max_velocity, inp.max_acceleration, inp.max_jerk = planner.v_max, planner.a_max, planner.j_max
    out = []
    for i in range(n):
        speed = float(rng.uniform(0.1, 0.5))
        s = float(rng.uniform(-0.75, -0.35))  # inside the camera's view
        lateral = float(rng.uniform(-0.12, 0.12))
        yaw = float(rng.uniform(-math.pi, math.pi))
        p = T[:3, 3] + s * T[:3, 0] + lateral * T[:3, 1]
        obs = PartObservation(i, 0.0, p, yaw, speed * T[:3, 0], (0, 0, 1, 1))
        moving = bool(rng.uniform() < moving_fraction)
        if moving:
            # Part-way through a move towards a previous target: above the belt or the bin.
            if rng.uniform() < 0.5:
                goal = T[:3, 3] + rng.uniform(-0.6, 0.6) * T[:3, 0] + rng.uniform(-0.12, 0.12) * T[:3, 1]
                goal[2] += rng.uniform(0.06, 0.3)  # previous targets keep the collision margin
            else:
                goal = planner._p_bin.copy()  # noqa: SLF001 - bench of the same package
            q_goal, ok = planner.ik.solve(goal[None], planner.ready_branch, q_ready[5], q_ready)
            inp.current_position, inp.current_velocity, inp.current_acceleration = q_ready, np.zeros(6), np.zeros(6)
            inp.target_position, inp.target_velocity, inp.target_acceleration = q_goal[0], np.zeros(6), np.zeros(6)
            traj = ruckig.Trajectory(6)
            otg.calculate(inp, traj)
            q, qd, qdd = traj.at_time(float(rng.uniform(0.15, 0.85) * traj.duration))
            state = JointState(names, np.array(q), np.array(qd), np.array(qdd), 0.0)
        else:
            state = JointState(names, q_ready.copy(), np.zeros(6), np.zeros(6), 0.0)
        out.append(Scene(i, state, obs, speed, moving))
    return out


def reachable(planner, scene: Scene) -> bool:
    """Planner-independent feasibility: the part has a pick window and the arm can reach the
    last possible pre-grasp state (time-optimal Ruckig from the start) before it closes."""
    from factory_ai.planning.planner import _Fail, _Start

    m = planner.part_motion(scene.obs)
    start = _Start(scene.state.q_rad, scene.state.qd_radps, scene.state.qdd_radps2, 0.0)
    try:
        _, t_last = planner._window_times(start, m)  # noqa: SLF001
    except _Fail:
        return False
    q1, v1, a1, ok = planner._target(m, t_last, planner.ready_branch, float(start.q[5]), start.q)  # noqa: SLF001
    if not ok:
        return False
    d = planner.solver.min_duration(start.q, np.clip(start.qd, -planner.v_max, planner.v_max), start.qdd, q1, v1, a1)
    return d <= t_last


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else math.nan


def run(args: argparse.Namespace) -> dict:
    """Run every scene with ours and the peer, check both, print a table, return the figures."""
    from factory_ai.config import load_cell_description
    from factory_ai.planning import FeasibilityChecker, RejectPlanner
    from factory_ai.robot import RobotModel, load_joint_limits

    cell = load_cell_description()
    robot = RobotModel.from_urdf(cell.arm.urdf_path, base_frame=cell.arm.base_frame, tip_frame=cell.arm.tip_frame)
    limits = load_joint_limits(robot)
    planner = RejectPlanner(robot, cell, limits)
    checker = FeasibilityChecker(robot, cell, limits, collision=planner.collision)
    scenes = make_scenes(planner, args.scenes, args.seed, args.moving_fraction)
    peer = None
    if not args.no_peer:
        from factory_ai.planning.peer import CHECKER_NAME, OmplToppraPeer

        peer = OmplToppraPeer(planner, solve_time_s=args.peer_time_limit)
    # Warm up both (imports, caches) on scenes outside the set.
    for sc in make_scenes(planner, 3, args.seed + 10_000):
        planner.reset()
        planner.plan(sc.state, [sc.obs], 0.0)
        if peer is not None:
            peer.plan(sc.state, sc.obs, 0.0)

    rows = []
    for sc in scenes:
        m = planner.part_motion(sc.obs)
        planner.reset()
        t0, c0 = time.perf_counter(), time.thread_time()
        plan = planner.plan(sc.state, [sc.obs], 0.0)[0]
        lat, cpu = time.perf_counter() - t0, time.thread_time() - c0
        row = {"scene": sc.index, "moving": sc.moving, "speed": sc.speed_mps, "reach": reachable(planner, sc), "lat": lat, "cpu": cpu}
        if plan.status == RejectStatus.PLANNED:
            rep = checker.check(plan.trajectory, sc.state, m, plan.grasp_time_s, plan.suction_off_s)
            row.update(planned=True, ok=rep.ok, fail=rep.failures, ttg=plan.grasp_time_s, err=rep.intercept_error_m)
        else:
            row.update(planned=False, ok=False, fail=[plan.reason], ttg=math.nan, err=math.nan)
        if peer is not None:
            t0, c0 = time.perf_counter(), time.thread_time()
            res = peer.plan(sc.state, sc.obs, 0.0)
            row.update(p_lat=time.perf_counter() - t0, p_cpu=time.thread_time() - c0, p_checks=res.validity_checks)
            if res.trajectory is not None:
                rep = checker.check(res.trajectory, sc.state, m, res.grasp_time_s, None)
                no_jerk = [f for f in rep.failures if not f.startswith("jerk")]
                row.update(p_planned=True, p_ok=rep.ok, p_ok_nojerk=not no_jerk, p_fail=rep.failures, p_ttg=res.grasp_time_s, p_err=rep.intercept_error_m)
            else:
                row.update(p_planned=False, p_ok=False, p_ok_nojerk=False, p_fail=[res.reason], p_ttg=math.nan, p_err=math.nan)
        rows.append(row)

    n = len(rows)
    reach = [r for r in rows if r["reach"]]
    ok = [r for r in rows if r["ok"]]
    lat_ms = [r["lat"] * 1e3 for r in rows]
    cpu_ms = [r["cpu"] * 1e3 for r in rows]
    figures: dict = {
        "scenes": n,
        "reachable_scenes": len(reach),
        "success_rate": len(ok) / n,
        "success_rate_reachable": (sum(r["ok"] for r in reach) / len(reach)) if reach else math.nan,
        "planned_but_failed_check": sum(r["planned"] and not r["ok"] for r in rows),
        "latency_ms": {"p50": _pct(lat_ms, 50), "p99": _pct(lat_ms, 99), "max": max(lat_ms)},
        "cpu_ms": {"p50": _pct(cpu_ms, 50), "p99": _pct(cpu_ms, 99)},
        "mean_time_to_grasp_s": float(np.mean([r["ttg"] for r in ok])) if ok else math.nan,
        "max_intercept_error_mm": float(np.max([r["err"] for r in ok]) * 1e3) if ok else math.nan,
        "fail_reasons": dict(collections.Counter(_reason(f) for r in rows if not r["ok"] for f in r["fail"][:1])),
        "moving_scenes": sum(r["moving"] for r in rows),
        "machine": {"cpus": os.cpu_count(), "load_avg_1min": os.getloadavg()[0]},
    }
    if peer is not None:
        p_ok = [r for r in rows if r["p_ok"]]
        p_traj = [r for r in rows if r["p_planned"]]
        p_lat = [r["p_lat"] * 1e3 for r in rows]
        p_cpu = [r["p_cpu"] * 1e3 for r in rows]
        both = [r for r in rows if r["ok"] and r["p_planned"]]
        figures.update(
            {
                "peer": "OMPL 2.0.1 RRTConnect + simplifySolution -> static intercept (hover) pose, TOPP-RA 0.6 (vel+acc), catch-up ramp",
                "peer_checker": CHECKER_NAME,
                "peer_success_rate": len(p_ok) / n,
                "peer_success_rate_ignoring_jerk": sum(r["p_ok_nojerk"] for r in rows) / n,
                "peer_trajectory_rate": len(p_traj) / n,
                "peer_success_rate_reachable": (sum(r["p_ok"] for r in reach) / len(reach)) if reach else math.nan,
                "peer_latency_ms": {"p50": _pct(p_lat, 50), "p99": _pct(p_lat, 99), "max": max(p_lat)},
                "peer_cpu_ms": {"p50": _pct(p_cpu, 50), "p99": _pct(p_cpu, 99)},
                "peer_validity_checks_p50": _pct([r["p_checks"] for r in rows], 50),
                "speedup_p50": _pct(p_lat, 50) / _pct(lat_ms, 50),
                "speedup_cpu_p50": _pct(p_cpu, 50) / _pct(cpu_ms, 50),
                # Over the peer's own trajectories (it rarely passes the jerk check, see below).
                "peer_mean_time_to_grasp_s": float(np.mean([r["p_ttg"] for r in p_traj])) if p_traj else math.nan,
                "paired_mean_time_to_grasp_s": {
                    "scenes": len(both),
                    "ours": float(np.mean([r["ttg"] for r in both])) if both else math.nan,
                    "peer": float(np.mean([r["p_ttg"] for r in both])) if both else math.nan,
                },
                "peer_max_intercept_error_mm": float(np.nanmax([r["p_err"] for r in p_traj]) * 1e3) if p_traj else math.nan,
                "peer_fail_reasons": dict(collections.Counter(_reason(f) for r in rows if not r["p_ok"] for f in r["p_fail"][:1])),
            }
        )
    _print(figures)
    return figures


def _reason(text: str) -> str:
    """Failure text without numbers, for counting."""
    return text.split(":")[0].split(" (")[0][:60]


def _print(f: dict) -> None:
    print(f"planning: {f['scenes']} scenes ({f['moving_scenes']} with the arm moving), {f['reachable_scenes']} reachable; "
          f"{f['machine']['cpus']} CPUs, load {f['machine']['load_avg_1min']:.1f}")
    rows = [
        ("success (checker-passed)", f"{f['success_rate']:.1%}", _fmt(f, "peer_success_rate", "{:.1%}")),
        ("success, reachable scenes", f"{f['success_rate_reachable']:.1%}", _fmt(f, "peer_success_rate_reachable", "{:.1%}")),
        ("latency p50 / p99 (ms)", f"{f['latency_ms']['p50']:.2f} / {f['latency_ms']['p99']:.2f}",
         f"{f['peer_latency_ms']['p50']:.2f} / {f['peer_latency_ms']['p99']:.2f}" if "peer_latency_ms" in f else "-"),
        ("CPU time p50 / p99 (ms)", f"{f['cpu_ms']['p50']:.2f} / {f['cpu_ms']['p99']:.2f}",
         f"{f['peer_cpu_ms']['p50']:.2f} / {f['peer_cpu_ms']['p99']:.2f}" if "peer_cpu_ms" in f else "-"),
        ("mean time to grasp (s)", f"{f['mean_time_to_grasp_s']:.3f}", _fmt(f, "peer_mean_time_to_grasp_s", "{:.3f}")),
        ("max intercept error (mm)", f"{f['max_intercept_error_mm']:.3f}", _fmt(f, "peer_max_intercept_error_mm", "{:.3f}")),
    ]
    w = max(len(r[0]) for r in rows)
    print(f"  {'':<{w}}  {'ours':>16}  {'peer':>16}")
    for name, a, b in rows:
        print(f"  {name:<{w}}  {a:>16}  {b:>16}")
    if "speedup_p50" in f:
        pm = f["paired_mean_time_to_grasp_s"]
        print(f"  speedup p50: {f['speedup_p50']:.1f}x wall, {f['speedup_cpu_p50']:.1f}x CPU; paired time to grasp "
              f"({pm['scenes']} scenes): ours {pm['ours']:.3f} s, peer {pm['peer']:.3f} s")
        print(f"  peer checker: {f['peer_checker']}; peer passes ignoring jerk: {f['peer_success_rate_ignoring_jerk']:.1%}")
        print(f"  peer failures: {f['peer_fail_reasons']}")
    print(f"  our failures: {f['fail_reasons']}")


def _fmt(f: dict, key: str, spec: str) -> str:
    return spec.format(f[key]) if key in f else "-"
