"""Kinematics: FK+Jacobian time, batched torch FK, IK time and success on a seeded random set.

Peers measured in the same run: pytorch-kinematics for one configuration (vs Pinocchio), and
the single-target IK path (Pinocchio) vs the batched numpy IK.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np

from factory_ai import package_root


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Benchmark options."""
    parser.add_argument("--urdf", type=Path, default=package_root() / "urdf" / "factory_arm.urdf", help="URDF file")
    parser.add_argument("--base", default="base_link", help="base frame")
    parser.add_argument("--tip", default="suction_cup", help="IK frame")
    parser.add_argument("--n-ik", type=int, default=10_000, help="random reachable IK targets (batched solver)")
    parser.add_argument("--n-single", type=int, default=2_000, help="targets for the single-target solver")
    parser.add_argument("--batch", type=int, default=1_000, help="batch size for torch FK")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random target set")


def _best_us(fn, n: int, rounds: int = 5) -> float:
    """Mean time per call (us), best of `rounds` (the machine is shared; the best is the least noisy)."""
    best = math.inf
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t0) / n)
    return best * 1e6


def run(args: argparse.Namespace) -> dict:
    """Measure and print the figures; return them for --json."""
    import torch

    from factory_ai.robot import RobotModel

    model = RobotModel.from_urdf(args.urdf, base_frame=args.base, tip_frame=args.tip)
    rng = np.random.default_rng(args.seed)
    q1 = model.random_q(1, rng)[0]

    fk_jac_us = _best_us(lambda: model.fk_jacobian(q1), 2000)
    fk_us = _best_us(lambda: model.fk(q1), 2000)
    qt1 = torch.as_tensor(q1[None])
    torch_fk_jac_us = _best_us(lambda: model.fk_jacobian_batch(qt1), 200)
    # The peer: pytorch-kinematics' own serial chain, FK and Jacobian in one call.
    import pytorch_kinematics as pk

    from factory_ai.robot.urdf import kinematic_urdf_xml

    xml = kinematic_urdf_xml(model.tree, set(model.joint_names))
    pk_chain = pk.build_serial_chain_from_urdf(xml, model.tip_frame, model.base_frame).to(dtype=torch.float64)
    pk_fk_jac_us = _best_us(lambda: pk_chain.jacobian(qt1, ret_eef_pose=True), 200)

    qb = torch.as_tensor(model.random_q(args.batch, rng))
    model.fk_batch(qb)  # build the chain outside the timing
    batch_fk_ms = _best_us(lambda: model.fk_batch(qb), 5, rounds=3) / 1e3
    qb32 = qb.to(torch.float32)
    model.fk_batch(qb32)
    batch_fk_f32_ms = _best_us(lambda: model.fk_batch(qb32), 5, rounds=3) / 1e3
    qbn = qb.numpy()
    np_fk_jac_ms = _best_us(lambda: model.fk_jacobian_np(qbn), 5, rounds=3) / 1e3

    # IK targets: FK of uniform random joint states within the limits (reachable by construction).
    q_true = model.random_q(args.n_ik, rng)
    T, _ = model.fk_jacobian_np(q_true)
    batch = model.ik_batch(T, rng=args.seed + 1)
    ok = batch.success
    within = bool(np.all(model.within_limits(batch.q_rad[ok])))

    n1 = min(args.n_single, args.n_ik)
    t0 = time.perf_counter()
    single = [model.ik(T[i], rng=args.seed + 2 + i) for i in range(n1)]
    ik_ms = (time.perf_counter() - t0) / n1 * 1e3
    single_ok = np.array([r.success for r in single])

    noise = np.random.default_rng(args.seed + 3).normal(0.0, 0.05, (n1, model.n_joints))
    t0 = time.perf_counter()
    warm = [model.ik(T[i], q_seed=model.project_to_limits(q_true[i] + noise[i])) for i in range(n1)]
    ik_warm_ms = (time.perf_counter() - t0) / n1 * 1e3

    far = np.eye(4)
    far[:3, 3] = [10.0, 0.0, 0.0]
    t0 = time.perf_counter()
    unreachable = model.ik(far)
    ik_unreachable_ms = (time.perf_counter() - t0) * 1e3

    figures = {
        "robot": model.tree.name,
        "n_joints": model.n_joints,
        "fk_jac_us": fk_jac_us,
        "fk_us": fk_us,
        "pk_fk_jac_us": pk_fk_jac_us,
        "pk_vs_pinocchio_fk_jac_ratio": pk_fk_jac_us / fk_jac_us,
        "torch_fk_jac_us": torch_fk_jac_us,
        "batch_size": args.batch,
        "batch_fk_ms": batch_fk_ms,
        "batch_fk_float32_ms": batch_fk_f32_ms,
        "numpy_batch_fk_jac_ms": np_fk_jac_ms,
        "ik_targets": args.n_ik,
        "ik_batch_success_rate": batch.success_rate,
        "ik_batch_ms_per_target": batch.time_s / args.n_ik * 1e3,
        "ik_batch_mean_starts": float(batch.starts.mean()),
        "ik_batch_max_pos_err_mm": float(batch.pos_err_m[ok].max() * 1e3) if ok.any() else float("nan"),
        "ik_batch_max_rot_err_deg": float(np.degrees(batch.rot_err_rad[ok].max())) if ok.any() else float("nan"),
        "ik_batch_solutions_within_limits": within,
        "ik_single_targets": n1,
        "ik_success_rate": float(single_ok.mean()),
        "ik_ms": ik_ms,
        "ik_warm_ms": ik_warm_ms,
        "ik_warm_success_rate": float(np.mean([r.success for r in warm])),
        "ik_unreachable_ms": ik_unreachable_ms,
        "ik_unreachable_reported": not unreachable.success,
    }
    print(f"kinematics: {model.tree.name} ({model.n_joints} joints), frame {model.tip_frame}, CPU")
    rows = [
        ("FK + Jacobian, one config (Pinocchio)", f"{fk_jac_us:.2f} us"),
        ("FK only, one config (Pinocchio)", f"{fk_us:.2f} us"),
        ("  peer: pytorch-kinematics, one config", f"{pk_fk_jac_us:.1f} us ({pk_fk_jac_us / fk_jac_us:.0f}x)"),
        ("  our torch path (fk_jacobian_batch), one config", f"{torch_fk_jac_us:.1f} us"),
        (f"batch FK, {args.batch} configs (torch float64)", f"{batch_fk_ms:.2f} ms"),
        (f"batch FK, {args.batch} configs (torch float32)", f"{batch_fk_f32_ms:.2f} ms"),
        (f"batch FK + Jacobian, {args.batch} (numpy kernel)", f"{np_fk_jac_ms:.2f} ms"),
        (
            f"IK batched, {args.n_ik} random targets",
            f"{batch.success_rate:.2%} solved, {figures['ik_batch_ms_per_target']:.3f} ms/target",
        ),
        (
            "  max error of solved",
            f"{figures['ik_batch_max_pos_err_mm']:.4f} mm, {figures['ik_batch_max_rot_err_deg']:.4f} deg",
        ),
        (f"IK single, {n1} targets, random starts", f"{single_ok.mean():.2%} solved, {ik_ms:.3f} ms/solve"),
        ("IK single, seeded 0.05 rad away", f"{ik_warm_ms:.3f} ms/solve"),
        ("IK unreachable target (all restarts)", f"{ik_unreachable_ms:.1f} ms, success={unreachable.success}"),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    return figures
