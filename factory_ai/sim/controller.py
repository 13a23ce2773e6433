"""The simulated arm controller: validates joint trajectories, interpolates them, and holds.

Behaves like ros2_control's joint_trajectory_controller with spline interpolation: points carry
positions, velocities and accelerations; between points the reference is the quintic Hermite
polynomial matching all three at both ends. A new trajectory replaces the active one starting
from the current *commanded* state, so the reference never jumps. After the last point the
controller holds it. The servo (PD + feed-forward at the physics rate) lives in the MuJoCo
model; this module only produces the reference.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from factory_ai.sim.types import TrajectoryError
from factory_ai.types import JointTrajectory

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ControllerLimits:
    """Per-joint limits the controller enforces (controller joint order)."""

    names: tuple[str, ...]
    q_min_rad: np.ndarray
    q_max_rad: np.ndarray
    v_max_radps: np.ndarray
    a_max_radps2: np.ndarray  # inf where no limit is configured


def read_acceleration_limits(path: str | Path, names: tuple[str, ...]) -> np.ndarray:
    """max_acceleration per joint from a MoveIt-style joint_limits.yaml (inf where absent)."""
    path = Path(path)
    a_max = np.full(len(names), np.inf)
    if not path.is_file():
        return a_max
    data = yaml.safe_load(path.read_text()) or {}
    joints = data.get("joint_limits", {}) or {}
    for i, name in enumerate(names):
        entry = joints.get(name) or {}
        if entry.get("has_acceleration_limits") and "max_acceleration" in entry:
            a_max[i] = float(entry["max_acceleration"])
    return a_max


def quintic_coefficients(t_s: np.ndarray, q: np.ndarray, qd: np.ndarray, qdd: np.ndarray) -> np.ndarray:
    """Quintic Hermite coefficients per segment.

    Args:
        t_s: (N,) strictly increasing knot times.
        q, qd, qdd: (N, n) positions, velocities, accelerations at the knots.

    Returns:
        (N-1, 6, n) coefficients c0..c5 of q(tau) = sum c_k tau^k, tau = t - t_s[i].
    """
    h = np.diff(t_s)[:, None]
    q0, q1, v0, v1, a0, a1 = q[:-1], q[1:], qd[:-1], qd[1:], qdd[:-1], qdd[1:]
    dq = q1 - q0
    c3 = (20.0 * dq - (8.0 * v1 + 12.0 * v0) * h - (3.0 * a0 - a1) * h**2) / (2.0 * h**3)
    c4 = (-30.0 * dq + (14.0 * v1 + 16.0 * v0) * h + (3.0 * a0 - 2.0 * a1) * h**2) / (2.0 * h**4)
    c5 = (12.0 * dq - 6.0 * (v1 + v0) * h + (a1 - a0) * h**2) / (2.0 * h**5)
    return np.stack([q0, v0, 0.5 * a0, c3, c4, c5], axis=1)


def evaluate_quintic(knots_s: np.ndarray, coeffs: np.ndarray, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Position, velocity, acceleration (M, n) at times (M,) of a piecewise quintic.

    Before the first knot the first segment's start state is held; after the last knot, the end
    position with zero velocity and acceleration.
    """
    t_s = np.atleast_1d(np.asarray(t_s, dtype=float))
    seg = np.clip(np.searchsorted(knots_s, t_s, side="right") - 1, 0, len(coeffs) - 1)
    h = knots_s[seg + 1] - knots_s[seg]
    tau = np.clip(t_s - knots_s[seg], 0.0, h)[:, None]
    c = coeffs[seg]  # (M, 6, n)
    q = c[:, 0] + tau * (c[:, 1] + tau * (c[:, 2] + tau * (c[:, 3] + tau * (c[:, 4] + tau * c[:, 5]))))
    qd = c[:, 1] + tau * (2 * c[:, 2] + tau * (3 * c[:, 3] + tau * (4 * c[:, 4] + tau * 5 * c[:, 5])))
    qdd = 2 * c[:, 2] + tau * (6 * c[:, 3] + tau * (12 * c[:, 4] + tau * 20 * c[:, 5]))
    after = t_s > knots_s[-1]
    if after.any():
        last = coeffs[-1]
        hl = knots_s[-1] - knots_s[-2]
        q_end = last[0] + hl * (last[1] + hl * (last[2] + hl * (last[3] + hl * (last[4] + hl * last[5]))))
        q[after] = q_end
        qd[after] = 0.0
        qdd[after] = 0.0
    return q, qd, qdd


class TrajectoryController:
    """Reference generator of the simulated joint_trajectory_controller."""

    def __init__(self, limits: ControllerLimits, position_tol_rad: float = 1e-4,
                 velocity_tol: float = 0.01, acceleration_tol: float = 0.10,
                 dense_tol: float = 0.05) -> None:
        self.limits = limits
        self.names = limits.names
        self._pos_tol = position_tol_rad
        self._vel_tol = velocity_tol
        self._acc_tol = acceleration_tol
        self._dense_tol = dense_tol
        n = len(self.names)
        self._knots = np.array([0.0, 1.0])
        self._coeffs = np.zeros((1, 6, n))
        self.active_until_s = -np.inf

    def hold(self, q_rad: np.ndarray, now_s: float) -> None:
        """Hold a position from now on (no trajectory)."""
        q = np.asarray(q_rad, dtype=float)
        self._knots = np.array([now_s, now_s + 1.0])
        self._coeffs = np.zeros((1, 6, len(self.names)))
        self._coeffs[0, 0] = q
        self.active_until_s = -np.inf

    def reference(self, t_s: np.ndarray | float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Commanded (q, qd, qdd), each (M, n), at times (M,)."""
        return evaluate_quintic(self._knots, self._coeffs, np.atleast_1d(t_s))

    @property
    def final_q_rad(self) -> np.ndarray:
        """The position the controller ends at (the last point, or the hold position)."""
        return self.reference(self._knots[-1] + 1.0)[0][0]

    def _reorder(self, traj: JointTrajectory) -> np.ndarray:
        names = tuple(traj.joint_names)
        if len(set(names)) != len(names):
            msg = f"trajectory names a joint twice: {list(names)}"
            raise TrajectoryError(msg)
        missing = [j for j in self.names if j not in names]
        unknown = [j for j in names if j not in self.names]
        if missing or unknown:
            msg = f"trajectory joints do not match the arm: missing {missing}, unknown {unknown} (arm has {list(self.names)})"
            raise TrajectoryError(msg)
        return np.array([names.index(j) for j in self.names])

    def _check_limits(self, t_s: np.ndarray, q: np.ndarray, qd: np.ndarray, qdd: np.ndarray, what: str) -> None:
        lim = self.limits
        low = q < lim.q_min_rad - self._pos_tol
        high = q > lim.q_max_rad + self._pos_tol
        if low.any() or high.any():
            i, j = np.argwhere(low | high)[0]
            msg = (f"{what}: {self.names[j]} position {q[i, j]:.4f} rad at t={t_s[i]:.3f} s is outside "
                   f"[{lim.q_min_rad[j]:.4f}, {lim.q_max_rad[j]:.4f}]")
            raise TrajectoryError(msg)
        over_v = np.abs(qd) > lim.v_max_radps * (1.0 + self._vel_tol) + 1e-9
        if over_v.any():
            i, j = np.argwhere(over_v)[0]
            msg = (f"{what}: {self.names[j]} velocity {qd[i, j]:.4f} rad/s at t={t_s[i]:.3f} s exceeds "
                   f"the limit {lim.v_max_radps[j]:.4f}")
            raise TrajectoryError(msg)
        over_a = np.abs(qdd) > lim.a_max_radps2 * (1.0 + self._acc_tol) + 1e-9
        if over_a.any():
            i, j = np.argwhere(over_a)[0]
            msg = (f"{what}: {self.names[j]} acceleration {qdd[i, j]:.3f} rad/s^2 at t={t_s[i]:.3f} s exceeds "
                   f"the limit {lim.a_max_radps2[j]:.3f}")
            raise TrajectoryError(msg)

    def execute(self, traj: JointTrajectory, now_s: float) -> None:
        """Replace the active trajectory, starting from the current commanded state.

        `traj.start_stamp_s` == 0 means "start now"; otherwise t_s = 0 happens at that time
        (points already in the past are skipped, like ros2_control does).

        Raises:
            TrajectoryError: names that are not the arm's joints, or a point (or the
                interpolated motion between points) beyond a position, velocity or
                acceleration limit, or no point left in the future.
        """
        order = self._reorder(traj)
        t_rel = np.asarray(traj.t_s, dtype=float)
        q = np.asarray(traj.q_rad, dtype=float)[:, order]
        qd = np.asarray(traj.qd_radps, dtype=float)[:, order]
        qdd = np.asarray(traj.qdd_radps2, dtype=float)[:, order]
        self._check_limits(t_rel, q, qd, qdd, "trajectory point")
        start = traj.start_stamp_s if traj.start_stamp_s > 0.0 else now_s
        t_abs = start + t_rel
        future = t_abs > now_s + 1e-9
        if not future.any():
            msg = (f"trajectory ends at t={t_abs[-1]:.3f} s, not after now ({now_s:.3f} s): nothing to "
                   f"execute (start_stamp_s={traj.start_stamp_s:.3f})")
            raise TrajectoryError(msg)
        q0, qd0, qdd0 = self.reference(now_s)
        knots = np.concatenate([[now_s], t_abs[future]])
        qs = np.concatenate([q0, q[future]])
        qds = np.concatenate([qd0, qd[future]])
        qdds = np.concatenate([qdd0, qdd[future]])
        coeffs = quintic_coefficients(knots, qs, qds, qdds)
        # The joining segment and the polynomials between points must respect the limits too.
        dense_t = np.linspace(knots[0], knots[-1], max(50, 20 * len(knots)))
        dq, dqd, _ = evaluate_quintic(knots, coeffs, dense_t)
        saved = self._vel_tol
        self._vel_tol = max(self._vel_tol, self._dense_tol)
        saved_acc = self._acc_tol
        self._acc_tol = np.inf  # between points only position and velocity are checked
        try:
            self._check_limits(dense_t - start, dq, dqd, np.zeros_like(dq), "interpolated trajectory")
        finally:
            self._vel_tol, self._acc_tol = saved, saved_acc
        self._knots, self._coeffs = knots, coeffs
        self.active_until_s = float(knots[-1])
        log.debug("trajectory accepted: %d points, %.3f s to %.3f s", len(knots), knots[0], knots[-1])
