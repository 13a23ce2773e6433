"""`FeasibilityChecker`: an independent check of any joint trajectory (ours or a peer's).

Independent of the planner's internals on purpose: it re-samples the trajectory with its own
interpolation (SciPy's quintic Bernstein Hermite spline through the points' positions,
velocities and accelerations, which is what a spline joint_trajectory_controller follows), and
computes link poses with `RobotModel` (Pinocchio), not with the planner's numpy kernels.

Checks: joint position, velocity and acceleration limits on the re-sampled motion; jerk as the
mean jerk over each point interval (delta acceleration / delta t: the true jerk-limited profile
can switch jerk sign inside an interval, where the quintic through its samples overshoots, but
the mean never exceeds the limit); continuity with the start state (position, velocity,
acceleration); collisions with a margin against the project's collision model (the cup and the
held part may touch the conveyor only near the part around the grasp); and the intercept error:
cup tip vs the part's predicted position over the grasp window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.interpolate import BPoly

from factory_ai.config import CellDescription
from factory_ai.planning.collision import CollisionModel
from factory_ai.planning.intercept import PartMotion
from factory_ai.types import JointState, JointTrajectory


@dataclass(frozen=True)
class CheckerConfig:
    """Tolerances of the feasibility checker.

    Attributes:
        resample_dt_s: re-sampling step for limits and the intercept.
        collision_dt_s: re-sampling step for collision checks.
        limit_tol: relative tolerance on velocity / acceleration / jerk limits.
        position_tol_rad: tolerance on position limits.
        start_tol: (rad, rad/s, rad/s^2) allowed jump from the start state.
        margin_m: clearance required to the cell (the planner plans with more).
        intercept_tol_m: max distance between cup tip and part top over the grasp window.
        tilt_tol_rad: max angle between the cup axis and straight down during the grasp.
        contact_radius_m: cup (and held part) may touch the conveyor only when the tip is this
            close (horizontally) to the part, within contact_time_s of the grasp window.
        contact_time_s: see contact_radius_m.
        grasp_window_s: duration of the grasp window after the grasp time.
        part_top_m: expected contact height above the belt surface.
    """

    resample_dt_s: float = 0.001
    collision_dt_s: float = 0.002
    limit_tol: float = 0.02
    position_tol_rad: float = 1e-6
    start_tol: tuple[float, float, float] = (1e-5, 1e-3, 1e-2)
    margin_m: float = 0.005
    intercept_tol_m: float = 0.002
    tilt_tol_rad: float = 0.05
    contact_radius_m: float = 0.04
    contact_time_s: float = 0.5
    grasp_window_s: float = 0.10
    part_top_m: float = 0.0055


@dataclass
class CheckReport:
    """Outcome of a check; `ok` only if `failures` is empty."""

    ok: bool
    failures: list[str] = field(default_factory=list)
    max_velocity_ratio: float = 0.0  # max |qd| / v_max over joints and time
    max_acceleration_ratio: float = 0.0
    max_jerk_ratio: float = 0.0  # mean jerk per point interval / j_max
    min_clearance_m: float = math.inf
    start_jump: tuple[float, float, float] = (0.0, 0.0, 0.0)  # max |dq|, |dqd|, |dqdd| at t=0
    intercept_error_m: float = math.nan  # max over the grasp window (nan if not checked)
    max_tilt_rad: float = math.nan

    def __str__(self) -> str:
        head = "OK" if self.ok else "FAILED: " + "; ".join(self.failures)
        return (
            f"{head} (v {self.max_velocity_ratio:.3f}, a {self.max_acceleration_ratio:.3f}, j {self.max_jerk_ratio:.3f} "
            f"of limits; clearance {self.min_clearance_m * 1e3:.1f} mm; intercept {self.intercept_error_m * 1e3:.2f} mm)"
        )


class FeasibilityChecker:
    """Checks joint trajectories against limits, the cell and the grasp.

    Args:
        robot: `RobotModel` (FK through Pinocchio).
        cell: the cell description.
        limits: `JointLimits` (position, velocity, acceleration, jerk).
        config: tolerances.
        collision: the collision world to check against (None builds one from the cell; pass
            the planner's to include its run-time obstacles).
    """

    def __init__(self, robot, cell: CellDescription, limits, config: CheckerConfig | None = None, collision: CollisionModel | None = None) -> None:
        self.robot = robot
        self.cell = cell
        self.config = config or CheckerConfig()
        self.names = tuple(robot.joint_names)
        order = limits.index(self.names)
        self.q_min = np.asarray(limits.q_min)[order]
        self.q_max = np.asarray(limits.q_max)[order]
        self.v_max = np.asarray(limits.v_max)[order]
        self.a_max = np.asarray(limits.a_max)[order]
        self.j_max = np.asarray(limits.j_max)[order]
        if collision is None:
            collision = CollisionModel.from_urdf(cell.arm.urdf_path, self.names, cell, base_frame=robot.base_frame, tip_frame=cell.arm.tip_frame)
        self.collision = collision
        self._frames = collision.kin.frame_names
        self.contact_z_m = float(cell.T_base_belt[2, 3] + self.config.part_top_m)

    def _poses(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Link poses (M, F, 3, 3), (M, F, 3) from RobotModel for every collision frame."""
        M, F = q.shape[0], len(self._frames)
        R = np.empty((M, F, 3, 3))
        p = np.empty((M, F, 3))
        for i in range(M):
            T = self.robot.fk_frames(q[i], self._frames)
            R[i] = T[:, :3, :3]
            p[i] = T[:, :3, 3]
        return R, p

    def check(
        self,
        traj: JointTrajectory,
        start_state: JointState | None = None,
        part: PartMotion | None = None,
        grasp_time_s: float | None = None,
        suction_off_s: float | None = None,
    ) -> CheckReport:
        """Check one trajectory.

        Args:
            traj: the trajectory (joint names in any order).
            start_state: state the trajectory must start from (at t_s[0]); None skips.
            part: predicted motion of the part to pick (cell clock); needs grasp_time_s.
            grasp_time_s: cell-clock time the cup meets the part; the intercept is checked
                over [grasp_time_s, grasp_time_s + grasp_window_s].
            suction_off_s: release time; between the grasp and it the held part is checked
                for collisions too.
        """
        cfg = self.config
        fails: list[str] = []
        rep = CheckReport(ok=False)
        names = tuple(traj.joint_names)
        if sorted(names) != sorted(self.names):
            rep.failures = [f"joint names {list(names)} do not match the arm {list(self.names)}"]
            return rep
        idx = [names.index(n) for n in self.names]
        t = np.asarray(traj.t_s, dtype=float)
        q, qd, qdd = (np.asarray(a, dtype=float)[:, idx] for a in (traj.q_rad, traj.qd_radps, traj.qdd_radps2))
        # --- continuity with the start state
        if start_state is not None:
            sidx = [tuple(start_state.names).index(n) for n in self.names]
            jump = (
                float(np.max(np.abs(q[0] - np.asarray(start_state.q_rad)[sidx]))),
                float(np.max(np.abs(qd[0] - np.asarray(start_state.qd_radps)[sidx]))),
                float(np.max(np.abs(qdd[0] - np.asarray(start_state.qdd_radps2)[sidx]))),
            )
            rep.start_jump = jump
            for what, j, tol in zip(("position", "velocity", "acceleration"), jump, cfg.start_tol):
                if j > tol:
                    fails.append(f"start {what} jump {j:.2e} > {tol:.0e}")
        # --- re-sampled limits
        if t.size >= 2:
            spline = BPoly.from_derivatives(t, np.stack([q, qd, qdd], axis=1))
            ts = np.unique(np.concatenate([np.arange(t[0], t[-1], cfg.resample_dt_s), t]))
            qs, vs, acs = spline(ts), spline.derivative(1)(ts), spline.derivative(2)(ts)
        else:
            ts, qs, vs, acs = t, q, qd, qdd
        low = qs < self.q_min - cfg.position_tol_rad
        high = qs > self.q_max + cfg.position_tol_rad
        if low.any() or high.any():
            i, j = np.argwhere(low | high)[0]
            fails.append(f"position limit: {self.names[j]} {qs[i, j]:.4f} rad at t={ts[i]:.3f} s")
        rep.max_velocity_ratio = float(np.max(np.abs(vs) / self.v_max))
        rep.max_acceleration_ratio = float(np.max(np.abs(acs) / self.a_max))
        if t.size >= 2:
            jerk = np.abs(np.diff(qdd, axis=0)) / np.diff(t)[:, None]
            rep.max_jerk_ratio = float(np.max(jerk / self.j_max))
        for what, ratio in (("velocity", rep.max_velocity_ratio), ("acceleration", rep.max_acceleration_ratio), ("jerk", rep.max_jerk_ratio)):
            if ratio > 1.0 + cfg.limit_tol:
                fails.append(f"{what} limit exceeded: {ratio:.3f} x the limit")
        # --- collisions
        tc = np.unique(np.concatenate([np.arange(t[0], t[-1], cfg.collision_dt_s), [t[-1]]])) if t.size >= 2 else t
        qc = spline(tc) if t.size >= 2 else q
        R, p = self._poses(qc)
        t_abs = traj.start_stamp_s + tc
        tip_i = self._frames.index(self.cell.arm.tip_frame)
        contact = np.zeros(tc.size, dtype=bool)
        held = np.zeros(tc.size, dtype=bool)
        if part is not None and grasp_time_s is not None:
            near_t = (t_abs >= grasp_time_s - cfg.contact_time_s) & (t_abs <= grasp_time_s + cfg.grasp_window_s + cfg.contact_time_s)
            d_xy = np.linalg.norm(p[:, tip_i, :2] - part.at(t_abs)[:, :2], axis=1)
            contact = near_t & (d_xy <= cfg.contact_radius_m)
            if suction_off_s is not None:
                held = (t_abs >= grasp_time_s) & (t_abs <= suction_off_s)
        env, slf = self.collision.distances_from_poses(R, p, contact, held)
        rep.min_clearance_m = float(min(env.min(), slf.min()))
        bad_env = env < cfg.margin_m
        bad_self = slf < self.collision.self_margin_m
        if bad_env.any() or bad_self.any():
            i = int(np.flatnonzero(bad_env | bad_self)[0])
            d, what = self.collision.closest_pair(qc[i], grasp_contact=bool(contact[i]), held_part=bool(held[i]))
            fails.append(f"collision: {what} at {d * 1e3:.1f} mm (< margin) at t={tc[i]:.3f} s")
        # --- intercept
        if part is not None and grasp_time_s is not None:
            tg = np.arange(grasp_time_s, grasp_time_s + cfg.grasp_window_s + 1e-9, cfg.resample_dt_s) - traj.start_stamp_s
            if tg[0] < t[0] - 1e-9 or tg[-1] > t[-1] + 1e-9:
                fails.append("grasp window is outside the trajectory")
            else:
                qg = spline(tg) if t.size >= 2 else np.repeat(q, tg.size, axis=0)
                Tg = np.stack([self.robot.fk(qq) for qq in qg])
                target = part.at(tg + traj.start_stamp_s)
                target[:, 2] = self.contact_z_m
                err = np.linalg.norm(Tg[:, :3, 3] - target, axis=1)
                rep.intercept_error_m = float(err.max())
                tilt = np.arccos(np.clip(-Tg[:, 2, 2], -1.0, 1.0))
                rep.max_tilt_rad = float(tilt.max())
                if rep.intercept_error_m > cfg.intercept_tol_m:
                    fails.append(f"intercept error {rep.intercept_error_m * 1e3:.2f} mm > {cfg.intercept_tol_m * 1e3:.1f} mm")
                if rep.max_tilt_rad > cfg.tilt_tol_rad:
                    fails.append(f"cup tilted {math.degrees(rep.max_tilt_rad):.1f} deg during the grasp")
        rep.failures = fails
        rep.ok = not fails
        return rep
