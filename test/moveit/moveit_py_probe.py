"""Drives `factory_ai.nodes.moveit_backend.MoveItBackend` (MoveItPy) and prints what happened.

Run as a subprocess by test_moveit_py.py, next to a /joint_states publisher process: MoveItPy's
constructor holds the interpreter, and MoveIt's teardown may abort the process after a
successful run, so the test judges by the `RESULT {json}` lines printed here, not by the exit
code. Each step prints one line as soon as it is done.

    python moveit_py_probe.py --urdf URDF --config DIR --start '[q...]'
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback

import numpy as np


def emit(step: str, **fields) -> None:
    print("RESULT " + json.dumps({"step": step, **fields}), flush=True)


def straight(names, q0, q1, duration_s: float, n: int):
    from factory_ai.types import JointTrajectory

    s = np.linspace(0.0, 1.0, n)
    q = q0 + s[:, None] * (q1 - q0)
    qd = np.repeat(((q1 - q0) / duration_s)[None], n, axis=0)
    return JointTrajectory(tuple(names), s * duration_s, q, qd, np.zeros_like(q))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--urdf", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--start", required=True, help="JSON list: the published joint positions (group order)")
    args = ap.parse_args()
    start = np.array(json.loads(args.start), dtype=float)

    from factory_ai.nodes.moveit_backend import MoveItBackend
    from factory_ai.nodes.planning_scene import REMOVE, collision_object_msg
    from factory_ai.planning.collision import Obstacle
    from factory_ai.planning.kinematics import ArmKinematics
    from factory_ai.robot.urdf import parse_urdf

    t0 = time.monotonic()
    backend = MoveItBackend.from_config_dir(args.urdf, args.config)
    emit("started", seconds=time.monotonic() - t0, joints=list(backend.joint_names))
    names = backend.joint_names

    q = backend.current_q()
    deadline = time.monotonic() + 10.0
    while np.max(np.abs(q - start)) > 1e-3 and time.monotonic() < deadline:
        time.sleep(0.1)
        q = backend.current_q()
    emit("state", q=q.tolist())

    goal = start.copy()
    goal[0] += 0.3
    traj = straight(names, start, goal, 1.0, 26)
    check = backend.validate(traj)
    emit("validate_free", valid=check.valid, detail=check.detail)

    # A crate where the cup is halfway along that motion.
    kin = ArmKinematics(parse_urdf(args.urdf), names, "base_link")
    _, p = kin.link_poses(traj.q_rad[13][None])
    p_cup = p[0, kin.frame_index("suction_cup")]
    T = np.eye(4)
    T[:3, 3] = p_cup
    crate = Obstacle("probe_crate", "box", T, np.array([0.1, 0.1, 0.1]))
    backend.apply_collision_objects([collision_object_msg(backend.msgs, crate, "base_link")])
    check = backend.validate(traj)
    emit("validate_crate", valid=check.valid, detail=check.detail, p_cup=p_cup.tolist())
    # Inside a grasp window the cup may touch the "conveyor" objects: here, the crate.
    backend.touch_objects = ("probe_crate",)
    backend.grasp_links = ("suction_cup_body", "wrist_3_link")
    relaxed = backend.validate(traj, grasp_window_s=(0.0, 1.0))
    emit("validate_crate_touch_allowed", valid=relaxed.valid, detail=relaxed.detail)
    backend.touch_objects = ()
    backend.apply_collision_objects([collision_object_msg(backend.msgs, crate, "base_link", operation=REMOVE)])
    emit("validate_removed", valid=backend.validate(traj).valid)

    plan = backend.plan_to(named="ready")
    emit(
        "plan_ready",
        ok=plan is not None,
        names=list(plan.joint_names) if plan else [],
        q_first=plan.q_rad[0].tolist() if plan else [],
        q_last=plan.q_rad[-1].tolist() if plan else [],
        duration_s=plan.duration_s if plan else 0.0,
    )
    plan = backend.plan_to(q_rad=goal, requests=("ompl_rrtc",))
    emit("plan_ompl", ok=plan is not None, q_last=plan.q_rad[-1].tolist() if plan else [], goal=goal.tolist())
    emit("done")


if __name__ == "__main__":
    try:
        main()
    except Exception:  # noqa: BLE001 - reported to the test, which fails on it
        emit("error", traceback=traceback.format_exc())
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # skip MoveIt's teardown (it may abort after a successful run)
