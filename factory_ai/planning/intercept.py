"""Part motion prediction, the pick window along the belt, and the tracking (grasp) segment.

A part on the belt moves in a straight line at the belt's velocity, so its position at any time
is `p(t) = p_obs + offset + v_obs * scale * (t - stamp + latency)`. The grasp is a Cartesian
motion relative to that moving point: descend onto it, stay on it for the grasp window, lift
off. Because the cup is round, the grasp only constrains the tip position and "pointing down",
which the closed-form IK solves exactly; joint velocities and accelerations come from central
differences of that exact IK along the (piecewise cubic) Cartesian path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import ruckig

from factory_ai.planning.kinematics import DownwardIK


@dataclass(frozen=True)
class PartMotion:
    """Straight-line motion of a part on the belt (base frame).

    Attributes:
        p_ref_m: (3,) position at t_ref_s (belt surface, part centre).
        v_mps: (3,) velocity (z component forced to 0: parts ride the belt).
        t_ref_s: cell-clock time of p_ref_m.
    """

    p_ref_m: np.ndarray
    v_mps: np.ndarray
    t_ref_s: float

    def at(self, t_s: np.ndarray | float) -> np.ndarray:
        """Positions (..., 3) at cell-clock times (...)."""
        t = np.asarray(t_s, dtype=float)
        return self.p_ref_m + (t - self.t_ref_s)[..., None] * self.v_mps


@dataclass(frozen=True)
class VerticalProfile:
    """Height of the cup tip above the contact height during the tracking segment.

    Three 1-D jerk-limited (Ruckig) pieces: descend from `approach_height` moving down at
    `approach_speed` to contact at rest; dwell at contact for the grasp window; lift to
    `lift_height` leaving with `lift_speed` upwards (the joint-space transfer continues from
    there without stopping).
    """

    t_knots_s: np.ndarray  # (K,) sample times from the segment start
    z_m: np.ndarray  # (K,) height above contact
    zd_mps: np.ndarray
    zdd_mps2: np.ndarray
    zddd_mps3: np.ndarray  # jerk of the piece that starts at each knot (for Taylor stencils)
    descent_s: float
    dwell_s: float
    lift_s: float

    @property
    def duration_s(self) -> float:
        return self.descent_s + self.dwell_s + self.lift_s

    @classmethod
    def build(
        cls,
        approach_height_m: float,
        approach_speed_mps: float,
        dwell_s: float,
        lift_height_m: float,
        lift_speed_mps: float,
        acc_mps2: float,
        jerk_mps3: float,
        dt_s: float,
        max_speed_mps: float | None = None,
    ) -> VerticalProfile:
        """Sample the profile at most dt_s apart (every piece boundary is a knot)."""
        otg = ruckig.Ruckig(1)
        inp = ruckig.InputParameter(1)
        vmax = max(approach_speed_mps, lift_speed_mps) * 1.5 + 0.05 if max_speed_mps is None else max_speed_mps
        inp.max_velocity = [max(vmax, approach_speed_mps, lift_speed_mps)]
        inp.max_acceleration = [acc_mps2]
        inp.max_jerk = [jerk_mps3]

        def piece(z0: float, v0: float, z1: float, v1: float) -> ruckig.Trajectory:
            inp.current_position, inp.current_velocity, inp.current_acceleration = [z0], [v0], [0.0]
            inp.target_position, inp.target_velocity, inp.target_acceleration = [z1], [v1], [0.0]
            traj = ruckig.Trajectory(1)
            res = otg.calculate(inp, traj)
            if res not in (ruckig.Result.Working, ruckig.Result.Finished):
                msg = f"vertical profile {z0}->{z1} m is infeasible for acc {acc_mps2} m/s^2, jerk {jerk_mps3} m/s^3"
                raise ValueError(msg)
            return traj

        down = piece(approach_height_m, -approach_speed_mps, 0.0, 0.0)
        up = piece(0.0, 0.0, lift_height_m, lift_speed_mps)
        ts, zs, vs, as_, js = [], [], [], [], []

        def add(traj: ruckig.Trajectory | None, t_begin: float, duration: float, first: bool) -> None:
            n = max(1, int(math.ceil(duration / dt_s - 1e-9)))
            local = np.linspace(0.0, duration, n + 1)
            if not first:
                local = local[1:]
            for t in local:
                if traj is None:
                    z, v, a = 0.0, 0.0, 0.0
                else:
                    (z,), (v,), (a,) = traj.at_time(float(t))
                ts.append(t_begin + t)
                zs.append(z)
                vs.append(v)
                as_.append(a)
                js.append(0.0 if traj is None else _jerk_after(traj, float(t)))

        add(down, 0.0, down.duration, True)
        add(None, down.duration, dwell_s, False)
        add(up, down.duration + dwell_s, up.duration, False)
        return cls(
            np.array(ts), np.array(zs), np.array(vs), np.array(as_), np.array(js), down.duration, dwell_s, up.duration
        )


def _jerk_after(traj: ruckig.Trajectory, t_s: float) -> float:
    """Jerk of a 1-D Ruckig trajectory just after t_s."""
    prof = traj.profiles[0][0]
    edges = np.cumsum(prof.t)
    k = int(np.searchsorted(edges, t_s + 1e-12, side="right"))
    return float(prof.j[min(k, 6)]) if t_s < traj.duration - 1e-12 else 0.0


@dataclass(frozen=True)
class TrackingSegment:
    """Joint samples of the grasp: descend onto the moving part, track it, lift off."""

    t_s: np.ndarray  # (K,) from the segment start
    q_rad: np.ndarray  # (K, n)
    qd_radps: np.ndarray
    qdd_radps2: np.ndarray
    p_tip_m: np.ndarray  # (K, 3) commanded tip positions
    ok: bool  # every sample reachable within the limits


def tracking_states(
    ik: DownwardIK,
    motion: PartMotion,
    t_begin_s: np.ndarray,
    profile: VerticalProfile,
    knot: np.ndarray,
    contact_z_m: float,
    branch: np.ndarray,
    q6_rad: float,
    q_ref_rad: np.ndarray,
    h_s: float = 1e-3,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Joint states at chosen knots of the tracking segment, for one or many start times.

    Args:
        t_begin_s: (B,) cell-clock start times of the segment.
        knot: (K,) indices into the profile's knots.
        contact_z_m: tip height at contact (base frame).
        branch: (3,) or (B, 3) IK branch signs.
        q_ref_rad: (n,) or (B, n) reference for 2 pi wrapping.
        h_s: time step of the central differences.

    Returns:
        q, qd, qdd (B, K, n), tip positions (B, K, 3), ok (B, K).
    """
    t_begin = np.atleast_1d(np.asarray(t_begin_s, dtype=float))
    B, K = t_begin.size, knot.size
    tk = profile.t_knots_s[knot]
    z, zd, zdd, zddd = profile.z_m[knot], profile.zd_mps[knot], profile.zdd_mps2[knot], profile.zddd_mps3[knot]
    offs = np.array([-h_s, 0.0, h_s])
    # Height at t +- h from the cubic piece that contains t (exact for a jerk-limited profile).
    zz = z[:, None] + offs * (zd[:, None] + offs * (zdd[:, None] / 2 + offs * zddd[:, None] / 6))  # (K, 3)
    t_abs = t_begin[:, None, None] + tk[None, :, None] + offs[None, None, :]  # (B, K, 3)
    p = motion.at(t_abs)  # (B, K, 3, 3)
    p[..., 2] = contact_z_m + zz[None]
    br = np.broadcast_to(np.asarray(branch, dtype=float), (B, 3))
    ref = np.broadcast_to(np.asarray(q_ref_rad, dtype=float), (B, q_ref_rad.shape[-1]))
    q, ok = ik.solve(
        p.reshape(-1, 3),
        np.repeat(br, K * 3, axis=0),
        q6_rad,
        np.repeat(ref, K * 3, axis=0),
    )
    q = q.reshape(B, K, 3, -1)
    ok = ok.reshape(B, K, 3).all(axis=2)
    # Keep the three stencil points on the same 2 pi copy as the centre.
    q = q[:, :, 1:2] + (q - q[:, :, 1:2] + math.pi) % (2 * math.pi) - math.pi
    qd = (q[:, :, 2] - q[:, :, 0]) / (2 * h_s)
    qdd = (q[:, :, 2] - 2 * q[:, :, 1] + q[:, :, 0]) / (h_s * h_s)
    return q[:, :, 1], qd, qdd, p[:, :, 1], ok


def build_tracking(
    ik: DownwardIK,
    motion: PartMotion,
    t_begin_s: float,
    profile: VerticalProfile,
    contact_z_m: float,
    branch: np.ndarray,
    q6_rad: float,
    q_ref_rad: np.ndarray,
    q_min: np.ndarray,
    q_max: np.ndarray,
) -> TrackingSegment:
    """All knots of the tracking segment for one start time (cell clock)."""
    knot = np.arange(profile.t_knots_s.size)
    q, qd, qdd, p, ok = tracking_states(ik, motion, np.array([t_begin_s]), profile, knot, contact_z_m, branch, q6_rad, q_ref_rad)
    q, qd, qdd, p, ok = q[0], qd[0], qdd[0], p[0], ok[0]
    # The whole segment must stay on one 2 pi copy (the IK wraps each sample independently).
    q = q[0] + np.concatenate([[np.zeros(q.shape[1])], np.cumsum((np.diff(q, axis=0) + math.pi) % (2 * math.pi) - math.pi, axis=0)])
    within = np.all((q >= q_min - 1e-9) & (q <= q_max + 1e-9))
    return TrackingSegment(profile.t_knots_s.copy(), q, qd, qdd, p, bool(ok.all() and within))
