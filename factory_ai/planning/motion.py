"""Jerk-limited motion pieces: Ruckig segments from any state, fast vectorized sampling of them,
time-optimal duration estimates for candidate screening, and piecewise trajectories.

Why these pieces: Ruckig gives the time-optimal jerk-limited motion between two full states
(position, velocity, acceleration), so a replan can start from whatever the arm is doing and
end on a moving target with the belt's velocity. One Ruckig call costs ~15 us, too much to try
every candidate, so candidates are first ranked by a closed-form (velocity/acceleration-limited)
duration estimate over the whole batch, and Ruckig only verifies the few best.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import accumulate

import numpy as np
import ruckig


class RuckigSegment:
    """One Ruckig trajectory between two states, with vectorized sampling.

    Ruckig's Python `at_time` costs about 4 us per sample once converted to numpy; reading the
    per-joint jerk profiles once and evaluating the cubic pieces with numpy is ~10x cheaper.
    """

    _STRIDE = 1024.0  # s; rows of the flattened piece table are offset by this to stay sorted

    def __init__(self, traj: ruckig.Trajectory, n_dof: int) -> None:
        self.duration = float(traj.duration)
        # Each joint: 2 brake pieces (zero-length when unused), 7 jerk phases, 1 end piece.
        t0, p, v, a, j = [], [], [], [], []
        for d, prof in enumerate(traj.profiles[0]):
            b = prof.brake
            bd = b.duration
            off = d * self._STRIDE
            cum = list(accumulate(prof.t, initial=bd + off))
            if bd > 0.0:
                t0 += [off, off + b.t[0]]
                p += b.p
                v += b.v
                a += b.a
                j += b.j
            else:
                t0 += [off, off]
                p += [prof.p[0], prof.p[0]]
                v += [prof.v[0], prof.v[0]]
                a += [prof.a[0], prof.a[0]]
                j += [0.0, 0.0]
            t0 += cum
            p += prof.p
            v += prof.v
            a += prof.a
            j += prof.j
            j.append(0.0)
        self._t0 = np.array(t0)
        self._p, self._v, self._a, self._j = np.array(p), np.array(v), np.array(a), np.array(j)
        self.n_dof = n_dof
        self._row_off = (np.arange(n_dof) * self._STRIDE)[:, None]

    def sample(self, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Positions, velocities, accelerations (N, n_dof) at times t_s (N,) from the segment start."""
        t = np.clip(np.asarray(t_s, dtype=float), 0.0, self.duration)
        tt = t[None, :] + self._row_off  # (n_dof, N)
        k = np.searchsorted(self._t0, tt, side="right") - 1
        dt = tt - self._t0[k]
        v0, a0, j0 = self._v[k], self._a[k], self._j[k]
        q = self._p[k] + dt * (v0 + dt * (a0 / 2 + dt * j0 / 6))
        qd = v0 + dt * (a0 + dt * j0 / 2)
        qdd = a0 + dt * j0
        return q.T, qd.T, qdd.T

    def end_state(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(q, qd, qdd) at the end, each (n_dof,)."""
        q, qd, qdd = self.sample(np.array([self.duration]))
        return q[0], qd[0], qdd[0]


class RuckigSolver:
    """Reusable Ruckig instance for one arm's limits.

    Args:
        v_max, a_max, j_max: (n,) limits (rad/s, rad/s^2, rad/s^3), already scaled by the
            caller's safety factors.
    """

    def __init__(self, v_max: np.ndarray, a_max: np.ndarray, j_max: np.ndarray) -> None:
        self.n = int(np.asarray(v_max).size)
        self._otg = ruckig.Ruckig(self.n)
        self._inp = ruckig.InputParameter(self.n)
        self._inp.max_velocity = np.asarray(v_max, dtype=float)
        self._inp.max_acceleration = np.asarray(a_max, dtype=float)
        self._inp.max_jerk = np.asarray(j_max, dtype=float)
        self.v_max = np.asarray(v_max, dtype=float)
        self.a_max = np.asarray(a_max, dtype=float)
        self.j_max = np.asarray(j_max, dtype=float)
        self.calls = 0

    def solve(
        self,
        q0: np.ndarray,
        v0: np.ndarray,
        a0: np.ndarray,
        q1: np.ndarray,
        v1: np.ndarray,
        a1: np.ndarray,
        min_duration_s: float | None = None,
    ) -> RuckigSegment | None:
        """Time-optimal (or stretched to min_duration_s) jerk-limited motion; None if Ruckig fails."""
        inp = self._inp
        inp.current_position = q0
        inp.current_velocity = v0
        inp.current_acceleration = a0
        inp.target_position = q1
        inp.target_velocity = v1
        inp.target_acceleration = a1
        inp.minimum_duration = min_duration_s
        traj = ruckig.Trajectory(self.n)
        self.calls += 1
        try:
            res = self._otg.calculate(inp, traj)
        except RuntimeError:
            return None
        if res not in (ruckig.Result.Working, ruckig.Result.Finished):
            return None
        return RuckigSegment(traj, self.n)

    def brake(self, q0: np.ndarray, v0: np.ndarray, a0: np.ndarray) -> RuckigSegment | None:
        """Jerk-limited stop (velocity interface): every joint decelerates to rest, in sync."""
        inp = ruckig.InputParameter(self.n)
        inp.control_interface = ruckig.ControlInterface.Velocity
        inp.current_position, inp.current_velocity, inp.current_acceleration = q0, v0, a0
        inp.target_velocity, inp.target_acceleration = np.zeros(self.n), np.zeros(self.n)
        inp.max_velocity, inp.max_acceleration, inp.max_jerk = self.v_max, self.a_max, self.j_max
        traj = ruckig.Trajectory(self.n)
        self.calls += 1
        try:
            res = self._otg.calculate(inp, traj)
        except RuntimeError:
            return None
        if res not in (ruckig.Result.Working, ruckig.Result.Finished):
            return None
        return RuckigSegment(traj, self.n)

    def min_duration(
        self, q0: np.ndarray, v0: np.ndarray, a0: np.ndarray, q1: np.ndarray, v1: np.ndarray, a1: np.ndarray
    ) -> float:
        """Time-optimal duration (s), inf if Ruckig finds none (cheaper than `solve`: no sampling data)."""
        inp = self._inp
        inp.current_position = q0
        inp.current_velocity = v0
        inp.current_acceleration = a0
        inp.target_position = q1
        inp.target_velocity = v1
        inp.target_acceleration = a1
        inp.minimum_duration = None
        traj = ruckig.Trajectory(self.n)
        self.calls += 1
        try:
            res = self._otg.calculate(inp, traj)
        except RuntimeError:
            return math.inf
        if res not in (ruckig.Result.Working, ruckig.Result.Finished):
            return math.inf
        return float(traj.duration)


def duration_estimate(
    q0: np.ndarray,
    v0: np.ndarray,
    a0: np.ndarray,
    q1: np.ndarray,
    v1: np.ndarray,
    v_max: np.ndarray,
    a_max: np.ndarray,
    j_max: np.ndarray,
) -> np.ndarray:
    """Closed-form estimate of the synchronized jerk-limited duration, batched.

    Per joint: the time-optimal velocity/acceleration-limited (double integrator) motion from
    (q0, v0) to (q1, v1), plus a_max/j_max for the jerk ramps and |a0|/j_max to unwind the
    initial acceleration; the slowest joint sets the estimate. Used to rank candidates only;
    Ruckig decides.

    Args:
        q0, v0, a0, q1, v1: (..., n) start and target states (broadcastable).
        v_max, a_max, j_max: (n,) limits.

    Returns:
        (...,) estimated duration in s.
    """
    d = q1 - q0
    V, A = v_max, a_max
    v0 = np.clip(v0, -V, V)
    v1 = np.clip(v1, -V, V)
    best = np.full(np.broadcast(d, v0, v1).shape, np.inf)
    for s in (1.0, -1.0):
        vp2 = s * A * d + 0.5 * (v0 * v0 + v1 * v1)
        vp = np.sqrt(np.maximum(vp2, 0.0))
        ok = (vp2 >= 0.0) & (vp >= s * v0 - 1e-12) & (vp >= s * v1 - 1e-12)
        tri = (2.0 * vp - s * v0 - s * v1) / A
        cruise = (2.0 * V - s * v0 - s * v1) / A + (s * d - (2.0 * V * V - v0 * v0 - v1 * v1) / (2.0 * A)) / V
        t = np.where(vp <= V, tri, cruise)
        best = np.where(ok, np.minimum(best, t), best)
    best = best + A / j_max + np.abs(a0) / j_max
    return best.max(axis=-1)


@dataclass
class Piece:
    """A part of a piecewise trajectory: `t_begin_s` from the trajectory start, `duration_s`.

    Either a Ruckig segment, a sampled table (t_s relative to the piece start, q, qd, qdd) that
    is interpolated by quintic Hermite splines, or a hold at a fixed state.
    """

    t_begin_s: float
    duration_s: float
    ruckig: RuckigSegment | None = None
    table: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
    hold: np.ndarray | None = None  # (n,) position held at rest
    label: str = ""

    def sample(self, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(N, n) positions, velocities, accelerations at times relative to the piece start."""
        if self.ruckig is not None:
            return self.ruckig.sample(t_s)
        if self.table is not None:
            return hermite5(*self.table, np.clip(t_s, 0.0, self.duration_s))
        q = np.repeat(self.hold[None], len(t_s), axis=0)
        z = np.zeros_like(q)
        return q, z, z.copy()


def hermite5(
    t_knots: np.ndarray, q: np.ndarray, qd: np.ndarray, qdd: np.ndarray, t_s: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Quintic Hermite interpolation (C2) of knots (N,) with q, qd, qdd (N, n) at times t_s (M,)."""
    k = np.clip(np.searchsorted(t_knots, t_s, side="right") - 1, 0, len(t_knots) - 2)
    h = (t_knots[k + 1] - t_knots[k])[:, None]
    s = ((t_s - t_knots[k])[:, None]) / h
    p0, p1 = q[k], q[k + 1]
    v0, v1 = qd[k] * h, qd[k + 1] * h
    a0, a1 = qdd[k] * h * h, qdd[k + 1] * h * h
    # Power-basis coefficients of the quintic on s in [0, 1].
    c0, c1, c2 = p0, v0, a0 / 2
    c3 = 10 * (p1 - p0) - 6 * v0 - 4 * v1 - 1.5 * a0 + 0.5 * a1
    c4 = -15 * (p1 - p0) + 8 * v0 + 7 * v1 + 1.5 * a0 - a1
    c5 = 6 * (p1 - p0) - 3 * v0 - 3 * v1 - 0.5 * a0 + 0.5 * a1
    pos = c0 + s * (c1 + s * (c2 + s * (c3 + s * (c4 + s * c5))))
    vel = c1 + s * (2 * c2 + s * (3 * c3 + s * (4 * c4 + s * 5 * c5)))
    acc = 2 * c2 + s * (6 * c3 + s * (12 * c4 + s * 20 * c5))
    return pos, vel / h, acc / (h * h)


class PiecewiseTrajectory:
    """Consecutive pieces that together form one plan; evaluates exactly at any time."""

    def __init__(self, pieces: list[Piece]) -> None:
        self.pieces = pieces
        self.duration_s = pieces[-1].t_begin_s + pieces[-1].duration_s if pieces else 0.0
        self._begins = np.array([p.t_begin_s for p in pieces])

    def state(self, t_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(q, qd, qdd) at time t_s from the start (clamped to the trajectory)."""
        t = min(max(t_s, 0.0), self.duration_s)
        i = int(np.clip(np.searchsorted(self._begins, t, side="right") - 1, 0, len(self.pieces) - 1))
        q, qd, qdd = self.pieces[i].sample(np.array([t - self.pieces[i].t_begin_s]))
        return q[0], qd[0], qdd[0]

    def sample_uniform(self, dt_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Samples at most dt_s apart that include every piece boundary exactly.

        Returns:
            t (N,), q, qd, qdd (N, n).
        """
        ts, qs, vs, acs = [], [], [], []
        for i, p in enumerate(self.pieces):
            if p.duration_s <= 1e-9:
                continue
            if p.table is not None and p.duration_s > 0:
                tk = p.table[0]
                local = tk if np.max(np.diff(tk)) <= dt_s + 1e-12 else np.linspace(0, p.duration_s, int(math.ceil(p.duration_s / dt_s)) + 1)
            else:
                local = np.linspace(0.0, p.duration_s, int(math.ceil(p.duration_s / dt_s - 1e-9)) + 1)
            if ts:
                local = local[1:]  # the previous piece ended exactly here
            q, qd, qdd = p.sample(local)
            ts.append(p.t_begin_s + local)
            qs.append(q)
            vs.append(qd)
            acs.append(qdd)
        return np.concatenate(ts), np.concatenate(qs), np.concatenate(vs), np.concatenate(acs)
