"""Scripted arm motions for benchmarks, snapshots and tests (not the planner).

`cup_down_ik` solves on a private MjData of the sim's own model (damped least squares), so
it never disturbs the simulation; the package's real IK lives in `factory_ai.robot`.
"""

from __future__ import annotations

from factory_ai.sim.gl_backend import ensure_headless_gl

ensure_headless_gl()  # before MuJoCo picks its OpenGL library
import mujoco  # noqa: E402
import numpy as np

from factory_ai.sim.cell_sim import CellSim
from factory_ai.sim.scene import ARM_PREFIX
from factory_ai.types import JointTrajectory


def cup_down_ik(sim: CellSim, p_base_m: np.ndarray, q_seed: np.ndarray | None = None,
                iters: int = 200, tol_m: float = 1e-4) -> np.ndarray:
    """Joint angles that put the suction cup lip at `p_base_m` with its axis straight down.

    Raises:
        RuntimeError: no convergence to `tol_m` (target out of reach).
    """
    m = sim.model
    d = mujoco.MjData(m)
    q = np.array(sim.joint_state().q_rad if q_seed is None else q_seed, dtype=float)
    body = m.body(ARM_PREFIX + sim.cell.arm.tip_frame).id
    target = sim.T_world_base[:3, :3] @ np.asarray(p_base_m, dtype=float) + sim.T_world_base[:3, 3]
    down = -sim.T_world_base[:3, 2]
    jacp = np.zeros((3, m.nv))
    jacr = np.zeros((3, m.nv))
    dofs = sim._arm_dadr
    e_pos = np.full(3, np.inf)
    for _ in range(iters):
        d.qpos[sim._arm_qadr] = q
        mujoco.mj_kinematics(m, d)
        mujoco.mj_comPos(m, d)
        z = d.xmat[body].reshape(3, 3)[:, 2]
        e_pos = target - d.xpos[body]
        e_rot = np.cross(z, down)
        if np.linalg.norm(e_pos) < tol_m and np.linalg.norm(e_rot) < tol_m:
            return q
        mujoco.mj_jacBody(m, d, jacp, jacr, body)
        J = np.vstack([jacp[:, dofs], jacr[:, dofs]])
        q = q + J.T @ np.linalg.solve(J @ J.T + 1e-4 * np.eye(6), np.concatenate([e_pos, e_rot]))
    msg = f"cup_down_ik: no solution for p_base_m={np.round(p_base_m, 4).tolist()} (error {np.linalg.norm(e_pos) * 1000:.2f} mm)"
    raise RuntimeError(msg)


def min_jerk_trajectory(names: tuple[str, ...], q0: np.ndarray, q1: np.ndarray, duration_s: float,
                        n_points: int = 6, start_stamp_s: float = 0.0) -> JointTrajectory:
    """Rest-to-rest minimum-jerk joint motion from q0 to q1, sampled at `n_points` points."""
    t = np.linspace(0.0, duration_s, n_points)
    s = t / duration_s
    dq = np.asarray(q1, dtype=float) - np.asarray(q0, dtype=float)
    q = np.asarray(q0, dtype=float) + dq * (10 * s**3 - 15 * s**4 + 6 * s**5)[:, None]
    qd = dq * ((30 * s**2 - 60 * s**3 + 30 * s**4) / duration_s)[:, None]
    qdd = dq * ((60 * s - 180 * s**2 + 120 * s**3) / duration_s**2)[:, None]
    return JointTrajectory(tuple(names), t, q, qd, qdd, start_stamp_s)
