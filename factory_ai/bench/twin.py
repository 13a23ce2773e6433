"""Digital twin speed: physics (x real time, no rendering) and overhead camera frames per second.

Physics runs the shipped cell with the line running (a dozen parts on the belt, spawner on)
and the arm moving: it dips to the belt and back, over and over, so parts near the cup are
simulated by contact. The same scenario with every part on full contact physics
(`kinematic_riding=False`) is the peer figure. The camera figure renders the 640x480 (or
configured) overhead image with its default realism, depth included.

Wall-clock figures are the targets; on a shared machine they drop with the load, so the
process-CPU-time figures are printed too (what the same run gets from one idle core).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import time

import numpy as np

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Durations and sizes of the runs."""
    parser.add_argument("--sim-seconds", type=float, default=20.0, help="simulated seconds for the physics figure")
    parser.add_argument("--frames", type=int, default=60, help="overhead frames for the camera figure")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-full-contact", action="store_true", help="skip the all-contact peer run")


def _arm_cycle(sim) -> list:
    """Trajectories that dip the cup to the belt at three places and come back (repeat forever)."""
    from factory_ai.sim.scripted import cup_down_ik, min_jerk_trajectory

    ready = np.asarray(sim.cell.arm.ready_q_rad, dtype=float)
    belt_z = (sim.T_base_world @ sim.T_world_belt)[2, 3]
    y = (sim.T_base_world @ sim.T_world_belt)[1, 3]
    trajs = []
    q = ready
    for x in (-0.15, 0.05, 0.25):
        q_dip = cup_down_ik(sim, np.array([x, y, belt_z + 0.03]), ready)
        trajs.append(min_jerk_trajectory(sim.joint_names, q, q_dip, 0.9))
        trajs.append(min_jerk_trajectory(sim.joint_names, q_dip, ready, 0.9))
        q = ready
    return trajs


def _physics_run(cell, config, sim_seconds: float, seed: int) -> dict:
    from factory_ai.sim import CellSim

    sim = CellSim(cell, config)
    try:
        sim.reset(seed)
        cycle = _arm_cycle(sim)
        sim.step(0.5)  # settle, warm caches
        dt = 1.0 / 30.0  # the cell loop advances the twin at the camera rate
        n = int(round(sim_seconds / dt))
        k = 0
        next_traj_s = sim.time_s
        counts = []
        wall = cpu = 0.0
        for i in range(n):
            if sim.time_s >= next_traj_s:
                traj = cycle[k % len(cycle)]
                sim.execute(traj)
                next_traj_s = sim.time_s + traj.duration_s + 0.1
                k += 1
            t0, c0 = time.perf_counter(), time.process_time()
            sim.step(dt)
            wall += time.perf_counter() - t0
            cpu += time.process_time() - c0
            if i % 30 == 0:
                counts.append(len(sim.ground_truth()))
        return {"x_realtime": n * dt / wall, "x_realtime_cpu": n * dt / cpu, "parts_mean": float(np.mean(counts)), "wall_s": wall,
                "sim_s": n * dt, "events": len(sim.events())}
    finally:
        sim.close()


def _camera_run(cell, config, frames: int, seed: int) -> dict:
    from factory_ai.sim import CellSim

    sim = CellSim(cell, config)
    try:
        sim.reset(seed)
        sim.render_camera()  # GL context, texture uploads
        out = {}
        for label, realism in (("default", True), ("clean", False)):
            wall = cpu = 0.0
            for _ in range(frames):
                sim.step(1.0 / 30.0)
                t0, c0 = time.perf_counter(), time.process_time()
                sim.render_camera(realism=realism)
                wall += time.perf_counter() - t0
                cpu += time.process_time() - c0
            out[label] = frames / wall
            out[label + "_cpu"] = frames / cpu
        t0 = time.perf_counter()
        sim.render_overview()
        out["overview_first_s"] = time.perf_counter() - t0
        out["backend"] = sim._renderer.backend if sim._renderer is not None else "none"
        return out
    finally:
        sim.close()


def run(args: argparse.Namespace) -> dict:
    """Measure and print physics speed and camera frame rate; return the JSON figures."""
    from factory_ai.config import load_cell_description
    from factory_ai.sim import SimConfig

    cell = load_cell_description()
    config = SimConfig()
    phys = _physics_run(cell, config, args.sim_seconds, args.seed)
    full = None
    if not args.skip_full_contact:
        full = _physics_run(cell, dataclasses.replace(config, kinematic_riding=False),
                            max(2.0, args.sim_seconds / 4.0), args.seed)
    cam = _camera_run(cell, config, args.frames, args.seed)
    figures = {
        "physics_x_realtime": round(phys["x_realtime"], 2),
        "physics_x_realtime_cpu": round(phys["x_realtime_cpu"], 2),
        "physics_x_realtime_full_contact": None if full is None else round(full["x_realtime"], 2),
        "camera_fps": round(cam["default"], 2),
        "camera_fps_cpu": round(cam["default_cpu"], 2),
        "camera_fps_clean": round(cam["clean"], 2),
        "parts_in_cell_mean": round(phys["parts_mean"], 1),
        "physics_dt_s": config.physics_dt_s,
        "sim_seconds": round(phys["sim_s"], 2),
        "frames": args.frames,
        "resolution_px": [cell.camera.width_px, cell.camera.height_px],
        "gl_backend": cam["backend"],
        "cpu_count": os.cpu_count(),
        "load_avg_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }
    rows = [
        ("physics, x real time (arm moving, parts riding when undisturbed)", figures["physics_x_realtime"], ">= 20"),
        ("physics, x process CPU time (what one idle core gives)", figures["physics_x_realtime_cpu"], ""),
        ("physics, x real time (every part on contact physics)", figures["physics_x_realtime_full_contact"], "peer"),
        (f"camera fps {cell.camera.width_px}x{cell.camera.height_px} (realism on, RGB + depth)", figures["camera_fps"], ">= 15"),
        ("camera fps per process CPU time", figures["camera_fps_cpu"], ""),
        ("camera fps (clean image)", figures["camera_fps_clean"], ""),
        ("parts in the cell (mean)", figures["parts_in_cell_mean"], ""),
    ]
    print(f"{'twin benchmark':<68} {'value':>8}  target")
    for name, value, target in rows:
        shown = "-" if value is None else f"{value:8.2f}"
        print(f"{name:<68} {shown:>8}  {target}")
    print(f"(GL backend {figures['gl_backend']}, {figures['cpu_count']} CPUs, load {figures['load_avg_1min']})")
    return figures
