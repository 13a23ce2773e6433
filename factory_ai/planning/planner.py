"""`RejectPlanner`: the moment a flaw is reported, turn the arm's current motion into a safe,
jerk-limited trajectory that intercepts the part on the moving belt and drops it in the bin.

One replan, step by step (each step says why it is there):

1. Start state. If the arm is executing our previous plan, the new trajectory starts from that
   plan's exact state at the switch time (position, velocity, acceleration), so the switch has
   no jump; otherwise from the measured state extrapolated to the switch time.
2. Window. The part moves on a line; the stretch of belt where the whole tracking segment is
   reachable within every joint limit (precomputed per lateral offset and belt-speed band)
   gives the earliest and latest time the tracking segment can start.
3. Candidates, batched (numpy): intercept times x IK branches (the closed-form IK's 8
   branches play the role of IK seeds). For each, the pre-grasp joint state (moving with the
   belt) and a closed-form duration estimate from the start state. The earliest candidate
   whose estimate fits is where the exact search starts; later ones are fall-backs.
4. Refinement: Ruckig verifies the candidate (exact time-optimal duration from the current
   state), then regula falsi on the slack (available - needed time) finds the earliest
   feasible intercept to within a control tick (a few ~15 us Ruckig calls), warm-started from
   the previous plan of the same part.
5. Trajectory: Ruckig to the pre-grasp state stretched to arrive exactly on time; the
   Cartesian tracking segment (descend, grasp window at belt velocity, lift); Ruckig to the
   bin; release; Ruckig to ready (or to the next reject).
6. Checks: joint limits on every sample, collisions with margin (swept spheres between
   samples, coarse to fine; the cup may touch the conveyor only near the part around the
   grasp). If blocked: a hover via above the part, or brake first when the arm's momentum is
   the problem, or a via above the lift point for the transfer.
7. Several rejects: earliest-deadline-first, each planned from where the previous one ends,
   checked; a part that would miss its window is moved earlier if that saves it, otherwise
   reported `cannot_reject` with the reason. Never a silent drop, never a late answer: a
   time budget bounds the whole call.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np

from factory_ai.config import CellDescription
from factory_ai.planning.collision import CollisionModel, _capsules_from_urdf, cell_obstacles
from factory_ai.planning.intercept import PartMotion, VerticalProfile, build_tracking, tracking_states
from factory_ai.planning.kinematics import ArmKinematics, DownwardIK
from factory_ai.planning.motion import Piece, PiecewiseTrajectory, RuckigSolver, duration_estimate
from factory_ai.types import JointState, JointTrajectory, PartObservation, RejectPlan, RejectStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlannerConfig:
    """Knobs of the reject planner (units in the names).

    Attributes:
        sample_dt_s: spacing of the output trajectory points (controller interpolates).
        grasp_window_s: time the cup stays on the part at contact height, moving with it.
        part_top_m: height of the contact (cup lip) above the belt surface; between the tops
            of the thinnest (3 mm) and thickest (8 mm) parts, inside the suction's gap/press
            tolerance for both.
        approach_height_m / approach_speed_mps: pre-grasp height above contact and the
            downward speed there (the cup comes from above, never sideways onto the part).
        lift_height_m / lift_speed_mps: height the tracking segment lifts to, and the upward
            speed it hands to the transfer.
        vertical_acc_mps2 / vertical_jerk_mps3: limits of the descent and lift profiles.
        bin_clearance_m: cup tip height above the bin walls when releasing.
        release_settle_s: wait at rest over the bin before switching vacuum off.
        release_dwell_s: wait after switching vacuum off before moving on.
        suction_lead_s: vacuum on this long before contact.
        collision_margin_m: clearance to the cell and obstacles.
        velocity_scale / acceleration_scale / jerk_scale: fractions of the joint limits the
            planner uses (headroom for the controller and round-off).
        max_part_speed_mps: faster parts are reported cannot_reject (the cup cannot track).
        min_lead_s: earliest intercept is at least this long after the trajectory start.
        horizon_s: how far ahead an intercept is searched.
        n_time_candidates: intercept times evaluated per branch in the batch.
        bisection_steps: refinement steps of the intercept time.
        time_budget_s: wall-clock budget of a `plan` call for the first target ...
        time_budget_per_extra_s: ... plus this per further target.
        return_to_ready: end the last plan at `ready_q_rad`.
        window_margin_m: the tracking segment must stay this far inside the reachable belt.
    """

    sample_dt_s: float = 0.008
    grasp_window_s: float = 0.10
    part_top_m: float = 0.0055
    approach_height_m: float = 0.02
    approach_speed_mps: float = 0.10
    lift_height_m: float = 0.08
    lift_speed_mps: float = 0.2
    vertical_acc_mps2: float = 1.5
    vertical_jerk_mps3: float = 12.0
    bin_clearance_m: float = 0.35
    release_settle_s: float = 0.03
    release_dwell_s: float = 0.12
    suction_lead_s: float = 0.05
    collision_margin_m: float = 0.01
    velocity_scale: float = 0.97
    acceleration_scale: float = 0.95
    jerk_scale: float = 0.95
    max_part_speed_mps: float = 0.6
    min_lead_s: float = 0.05
    horizon_s: float = 8.0
    n_time_candidates: int = 24
    bisection_steps: int = 5
    time_budget_s: float = 0.015
    time_budget_per_extra_s: float = 0.008
    return_to_ready: bool = True
    window_margin_m: float = 0.02

    def __post_init__(self) -> None:
        positive = (
            "sample_dt_s", "grasp_window_s", "approach_height_m", "approach_speed_mps", "lift_height_m",
            "lift_speed_mps", "vertical_acc_mps2", "vertical_jerk_mps3", "max_part_speed_mps", "horizon_s",
            "time_budget_s",
        )
        for name in positive:
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                msg = f"PlannerConfig.{name} must be a positive number, got {v!r}"
                raise ValueError(msg)
        for name in ("velocity_scale", "acceleration_scale", "jerk_scale"):
            v = getattr(self, name)
            if not 0.1 <= v <= 1.0:
                msg = f"PlannerConfig.{name} must be in [0.1, 1], got {v!r}"
                raise ValueError(msg)
        if self.sample_dt_s > 0.02:
            msg = f"PlannerConfig.sample_dt_s must be <= 0.02 s for a controller, got {self.sample_dt_s}"
            raise ValueError(msg)
        if self.n_time_candidates < 4:
            msg = f"PlannerConfig.n_time_candidates must be >= 4, got {self.n_time_candidates}"
            raise ValueError(msg)


@dataclass(frozen=True)
class Corrections:
    """Process corrections the learner estimates (bounded, see `RejectPlanner.set_corrections`).

    Attributes:
        camera_offset_m: (3,) added to every observed part position (base frame).
        latency_s: the camera's extra delay: an observation stamped t shows the part at t - latency.
        belt_speed_scale: multiplies every observed part velocity.
    """

    camera_offset_m: np.ndarray = field(default_factory=lambda: np.zeros(3))
    latency_s: float = 0.0
    belt_speed_scale: float = 1.0


CORRECTION_BOUNDS = {"camera_offset_m": 0.05, "latency_s": (-0.2, 0.5), "belt_speed_scale": (0.7, 1.3)}


@dataclass
class _Start:
    """Where a plan begins: full state at a cell-clock time."""

    q: np.ndarray
    qd: np.ndarray
    qdd: np.ndarray
    t_s: float


@dataclass
class _Built:
    """A complete plan for one part (times on the cell clock)."""

    track_id: int
    traj: PiecewiseTrajectory
    t_start_s: float
    t_pre_s: float
    t_grasp_s: float
    suction_on_s: float
    suction_off_s: float
    t_free_s: float  # when the arm is free for the next reject (after the release dwell)
    p_grasp_m: np.ndarray
    branch: np.ndarray
    end: _Start  # state at t_free_s (over the bin, at rest)
    grasp_interval_s: tuple[float, float]  # cup-on-part window (cell clock)
    contact_interval_s: tuple[float, float]  # cup may touch the conveyor (cell clock)
    samples: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None  # output points


class _Fail(Exception):
    """A target cannot be planned; the message is the user-facing reason."""


class _Collision(_Fail):
    """A plan's path comes too close; `piece` names where ("approach", "track", "to_bin")."""

    def __init__(self, msg: str, piece: str, t_rel_s: float = math.inf) -> None:
        super().__init__(msg)
        self.piece = piece
        self.t_rel_s = t_rel_s


class _OutOfTime(Exception):
    """The time budget ran out."""


_WINDOW_CACHE: dict[tuple, tuple] = {}


class RejectPlanner:
    """Plans reject trajectories for defective parts on the belt.

    Args:
        robot: the arm (`RobotModel`): joint names, URDF.
        cell: the cell description (belt, bin, fixtures, ready pose).
        limits: joint limits (`load_joint_limits`): position, velocity, acceleration, jerk.
        config: planner knobs.
        collision: the collision model to plan against (None builds one from the URDF and the
            cell); add run-time obstacles through `planner.collision.add_obstacle`.
    """

    def __init__(self, robot, cell: CellDescription, limits, config: PlannerConfig | None = None, collision: CollisionModel | None = None) -> None:
        self.robot = robot
        self.cell = cell
        self.config = config or PlannerConfig()
        cfg = self.config
        self.joint_names: tuple[str, ...] = tuple(robot.joint_names)
        order = limits.index(self.joint_names)
        self.q_min = np.asarray(limits.q_min, dtype=float)[order]
        self.q_max = np.asarray(limits.q_max, dtype=float)[order]
        self.v_max = np.asarray(limits.v_max, dtype=float)[order] * cfg.velocity_scale
        self.a_max = np.asarray(limits.a_max, dtype=float)[order] * cfg.acceleration_scale
        self.j_max = np.asarray(limits.j_max, dtype=float)[order] * cfg.jerk_scale
        self.limits = limits
        urdf = cell.arm.urdf_path
        tree = robot.tree
        self.kin = ArmKinematics(tree, self.joint_names, robot.base_frame)
        self._tip = self.kin.frame_index(cell.arm.tip_frame)
        self.ik = DownwardIK.from_urdf(tree, self.joint_names, cell.arm.tip_frame, self.q_min, self.q_max)
        if collision is None:
            collision = CollisionModel(self.kin, _capsules_from_urdf(urdf), cell_obstacles(cell), tip_frame=cell.arm.tip_frame)
        self.collision = collision
        self.solver = RuckigSolver(self.v_max, self.a_max, self.j_max)
        self.profile = VerticalProfile.build(
            cfg.approach_height_m, cfg.approach_speed_mps, cfg.grasp_window_s, cfg.lift_height_m, cfg.lift_speed_mps,
            # Knots twice the output spacing: the quintic Hermite between them is exact to
            # micrometres for this smooth motion, and half the knots halve the IK work.
            cfg.vertical_acc_mps2, cfg.vertical_jerk_mps3, 2 * cfg.sample_dt_s,
        )
        T_belt = cell.T_base_belt
        self._belt_origin = T_belt[:3, 3].copy()
        self._belt_dir = T_belt[:3, 0].copy()
        self._belt_lat = T_belt[:3, 1].copy()
        self.contact_z_m = float(T_belt[2, 3] + cfg.part_top_m)
        self.ready_q = np.asarray(cell.arm.ready_q_rad, dtype=float)
        self.ready_branch = self.ik.branch_of(self.ready_q)[0]
        bin_T = cell.T_base_bin
        self._p_bin = bin_T[:3, 3] + bin_T[:3, 2] * (cell.reject_bin.size_m[2] + cfg.bin_clearance_m)
        self._corr = Corrections()
        self._window = self._pick_window_table()
        self._active: list[_Built] = []
        self._warm: dict[int, tuple[float, np.ndarray]] = {}
        self._seg_cache: dict[bytes, bool] = {}
        self.last_stats: dict[str, float] = {}

    # ----------------------------------------------------------------- corrections
    @property
    def corrections(self) -> Corrections:
        """The corrections in use."""
        return self._corr

    def set_corrections(
        self,
        corrections=None,
        *,
        camera_offset_m: np.ndarray | None = None,
        latency_s: float | None = None,
        belt_speed_scale: float | None = None,
    ) -> Corrections:
        """Set (some of) the learner's corrections; out-of-bound values are clamped and logged.

        Args:
            corrections: optional object with `camera_offset_base_m` ((x, y) or (x, y, z)) or
                `camera_offset_m`, `latency_s` and `belt_speed_scale` attributes (e.g. the
                learner's `learning.process.Corrections`); keywords override it.
            camera_offset_m: (3,) added to observed part positions (base frame, m).
            latency_s: extra camera latency: an observation stamped t shows the part at t - latency.
            belt_speed_scale: multiplies observed part velocities.

        Bounds: |camera_offset_m| <= 0.05 m, latency_s in [-0.2, 0.5] s, belt_speed_scale in
        [0.7, 1.3]. Non-finite values raise ValueError (naming the argument).

        Returns:
            The corrections now in use.
        """
        if corrections is not None:
            off_obj = getattr(corrections, "camera_offset_m", None)
            if off_obj is None:
                off_obj = getattr(corrections, "camera_offset_base_m", None)
            if camera_offset_m is None and off_obj is not None:
                o = np.zeros(3)
                o[: len(off_obj)] = np.asarray(off_obj, dtype=float)[:3]
                camera_offset_m = o
            if latency_s is None:
                latency_s = getattr(corrections, "latency_s", None)
            if belt_speed_scale is None:
                belt_speed_scale = getattr(corrections, "belt_speed_scale", None)
        c = self._corr
        off, lat, scale = c.camera_offset_m, c.latency_s, c.belt_speed_scale
        if camera_offset_m is not None:
            off = np.asarray(camera_offset_m, dtype=float).reshape(3)
            if not np.all(np.isfinite(off)):
                msg = f"camera_offset_m must be finite, got {off.tolist()}"
                raise ValueError(msg)
            n = float(np.linalg.norm(off))
            if n > CORRECTION_BOUNDS["camera_offset_m"]:
                log.warning("camera offset correction %.4f m clamped to %.3f m", n, CORRECTION_BOUNDS["camera_offset_m"])
                off = off * (CORRECTION_BOUNDS["camera_offset_m"] / n)
        for name, value, current in (("latency_s", latency_s, lat), ("belt_speed_scale", belt_speed_scale, scale)):
            if value is None:
                continue
            if not math.isfinite(value):
                msg = f"{name} must be finite, got {value!r}"
                raise ValueError(msg)
            lo, hi = CORRECTION_BOUNDS[name]
            if not lo <= value <= hi:
                log.warning("%s correction %g clamped to [%g, %g]", name, value, lo, hi)
            if name == "latency_s":
                lat = min(max(value, lo), hi)
            else:
                scale = min(max(value, lo), hi)
            del current
        self._corr = Corrections(off.copy(), float(lat), float(scale))
        log.info("planner corrections: offset %s m, latency %.4f s, belt scale %.4f", off.round(4).tolist(), lat, scale)
        return self._corr

    def part_motion(self, obs: PartObservation) -> PartMotion:
        """The corrected straight-line motion of an observed part (raises ValueError on NaN)."""
        p = np.asarray(obs.p_base_m, dtype=float).reshape(-1)
        v = np.asarray(obs.v_base_mps, dtype=float).reshape(-1)
        if p.shape != (3,) or v.shape != (3,) or not (np.all(np.isfinite(p)) and np.all(np.isfinite(v))) or not math.isfinite(obs.stamp_s):
            msg = f"track {obs.track_id}: non-finite or malformed pose/velocity (p={p.tolist()}, v={v.tolist()}, stamp={obs.stamp_s})"
            raise ValueError(msg)
        c = self._corr
        v = v * c.belt_speed_scale
        v[2] = 0.0
        return PartMotion(p + c.camera_offset_m, v, float(obs.stamp_s) - c.latency_s)

    # ----------------------------------------------------------------- pick window
    SPEED_BANDS_MPS = (0.2, 0.4, 0.6)

    def _pick_window_table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Reachable stretch of belt [s_lo, s_hi] (along the belt) per lateral offset and speed band.

        A belt position counts when the whole tracking segment starting there (part moving at
        the band's top speed along the belt) has IK solutions in the ready branch within the
        joint position, velocity, acceleration and jerk limits, and the arm is collision-free
        at contact and at the lift top (cup allowed on the conveyor at contact). Cached per
        arm, cell and config: it takes a few hundred milliseconds.
        """
        cfg = self.config
        key = (
            str(self.cell.arm.urdf_path), self.cell.source, repr(self.cell.conveyor), repr(cfg),
            self.v_max.tobytes(), self.a_max.tobytes(), self.j_max.tobytes(),
            tuple(o.name for o in self.collision.obstacles()),
        )
        if key in _WINDOW_CACHE:
            return _WINDOW_CACHE[key]
        cv = self.cell.conveyor
        lat = np.linspace(-cv.width_m / 2 - 0.03, cv.width_m / 2 + 0.03, 13)
        s = np.arange(-cv.length_m / 2, cv.length_m / 2 + 1e-9, 0.02)
        speeds = np.array([min(v, cfg.max_part_speed_mps) for v in self.SPEED_BANDS_MPS])
        lo = np.full((speeds.size, lat.size), np.nan)
        hi = np.full((speeds.size, lat.size), np.nan)
        prof = self.profile
        knots = np.arange(prof.t_knots_s.size)
        # Static part: IK and collisions at contact and at the lift top.
        S, L = np.meshgrid(s, lat, indexing="ij")
        base = self._belt_origin + S[..., None] * self._belt_dir + L[..., None] * self._belt_lat
        static_ok = np.ones(S.shape, dtype=bool)
        for dz, contact in ((0.0, True), (cfg.lift_height_m, False)):
            p = base.reshape(-1, 3).copy()
            p[:, 2] = self.contact_z_m + dz
            q, good = self.ik.solve(p, self.ready_branch, self.ready_q[5], self.ready_q)
            good[good] &= ~self.collision.in_collision(q[good], cfg.collision_margin_m, grasp_contact=np.full(int(good.sum()), contact))
            static_ok &= good.reshape(S.shape)
        for b, v in enumerate(speeds):
            for i, la in enumerate(lat):
                p0 = self._belt_origin + la * self._belt_lat
                m = PartMotion(p0 + s[0] * self._belt_dir, v * self._belt_dir, 0.0)
                t_begin = (s - s[0]) / v
                q, qd, qdd, _, ok = tracking_states(self.ik, m, t_begin, prof, knots, self.contact_z_m, self.ready_branch, self.ready_q[5], self.ready_q)
                jerk = np.abs(np.diff(qdd, axis=1)) / np.diff(prof.t_knots_s)[None, :, None]
                good = (
                    ok.all(axis=1)
                    & np.all(np.abs(qd) <= self.v_max, axis=(1, 2))
                    & np.all(np.abs(qdd) <= self.a_max, axis=(1, 2))
                    & np.all(jerk <= self.j_max, axis=(1, 2))
                    & np.all((q >= self.q_min) & (q <= self.q_max), axis=(1, 2))
                )
                # The segment starting at s ends at s + v*T: both ends must be statically fine.
                end = np.clip(np.searchsorted(s, s + v * prof.duration_s), 0, s.size - 1)
                good &= static_ok[:, i] & static_ok[end, i]
                if not good.any():
                    continue
                # The contiguous run of segment starts nearest the arm's base.
                nearest = int(np.argmin(np.where(good, np.abs(s), np.inf)))
                a = nearest
                while a > 0 and good[a - 1]:
                    a -= 1
                c = nearest
                while c < s.size - 1 and good[c + 1]:
                    c += 1
                # The cell's pick zone keeps the arm out of the camera view (config/cell.yaml).
                zone_lo, zone_hi = cv.pick_zone_m
                lo[b, i] = max(s[a] + cfg.window_margin_m, zone_lo)
                hi[b, i] = min(s[c] - cfg.window_margin_m, zone_hi)
                if hi[b, i] <= lo[b, i]:
                    lo[b, i] = hi[b, i] = np.nan
        out = (lat, speeds, lo, hi)
        _WINDOW_CACHE[key] = out
        return out

    def pick_window(self, lateral_m: float, speed_mps: float = 0.0) -> tuple[float, float] | None:
        """Range (s_lo, s_hi) along the belt where the tracking segment of a part at this lateral
        offset and speed may start (it stays feasible to its end), or None."""
        lat, speeds, lo, hi = self._window
        if not lat[0] <= lateral_m <= lat[-1]:
            return None
        band = int(np.searchsorted(speeds, abs(speed_mps) - 1e-9))
        if band >= speeds.size:
            return None
        i = np.searchsorted(lat, lateral_m)
        idx = [max(i - 1, 0), min(i, lat.size - 1)]
        if np.any(np.isnan(lo[band, idx])):
            return None
        # Conservative across the two neighbouring rows.
        a, b = float(np.max(lo[band, idx])), float(np.min(hi[band, idx]))
        return (a, b) if b > a else None

    # ----------------------------------------------------------------- public API
    def reset(self) -> None:
        """Forget the active plan and warm starts (e.g. after the arm was moved by hand)."""
        self._active = []
        self._warm = {}

    def plan(self, state: JointState, targets: list[PartObservation], now_s: float, latency_s: float = 0.0) -> list[RejectPlan]:
        """Plan rejects for `targets` from the arm's current state.

        Args:
            state: measured joint state (names in any order; NaN raises ValueError).
            targets: parts to reject (one observation each).
            now_s: cell-clock time of the call.
            latency_s: delay before the trajectory can start (transport, controller); the
                trajectory's `start_stamp_s` is now_s + latency_s.

        Returns:
            One `RejectPlan` per target, in execution order: planned ones first (each starts
            where the previous ends), then `cannot_reject` ones with their reasons.
        """
        t_call = time.perf_counter()
        cfg = self.config
        budget = cfg.time_budget_s + cfg.time_budget_per_extra_s * max(len(targets) - 1, 0)
        deadline = t_call + budget
        if not math.isfinite(now_s) or not math.isfinite(latency_s) or latency_s < 0:
            msg = f"now_s must be finite and latency_s >= 0, got now_s={now_s}, latency_s={latency_s}"
            raise ValueError(msg)
        start = self._start_state(state, now_s + latency_s)
        fails: dict[int, str] = {}
        motions: dict[int, PartMotion] = {}
        windows: dict[int, float] = {}
        for obs in targets:
            try:
                m = self.part_motion(obs)
                windows[obs.track_id] = self._deadline(m)
                motions[obs.track_id] = m
            except (ValueError, _Fail) as exc:
                fails[obs.track_id] = str(exc) if isinstance(exc, _Fail) else f"invalid observation: {exc}"
        # Earliest deadline first.
        order = sorted(motions, key=lambda k: windows[k])
        built, seq_fails = self._plan_sequence(start, order, motions, deadline)
        fails.update(seq_fails)
        # Check: a part that missed its window behind others may fit if taken earlier.
        retry = [k for k in order if k in seq_fails and seq_fails[k].startswith("window")]
        for k in retry:
            if time.perf_counter() > deadline:
                break
            for pos in range(len(built)):
                trial = [b.track_id for b in built[:pos]] + [k] + [b.track_id for b in built[pos:]]
                try:
                    t_built, t_fails = self._plan_sequence(start, trial, motions, deadline)
                except _OutOfTime:
                    break
                if len(t_built) > len(built):
                    done = {b.track_id for b in t_built}
                    built = t_built
                    fails = {kk: v for kk, v in fails.items() if kk not in done}
                    fails.update(t_fails)
                    break
        plans = [self._to_plan(b, i == len(built) - 1) for i, b in enumerate(built)]
        if built:
            self._active = built
        for b in built:
            self._warm[b.track_id] = (b.t_pre_s, b.branch)
        while len(self._warm) > 256:  # parts long gone
            self._warm.pop(next(iter(self._warm)))
        for obs in targets:
            if obs.track_id in fails:
                reason = fails[obs.track_id]
                log.info("track %d: cannot reject: %s", obs.track_id, reason)
                plans.append(RejectPlan(obs.track_id, RejectStatus.CANNOT_REJECT, reason=reason))
        elapsed = time.perf_counter() - t_call
        self.last_stats = {"latency_s": elapsed, "ruckig_calls": float(self.solver.calls), "budget_s": budget}
        return plans

    def check(self, traj: JointTrajectory, **kwargs):
        """Check a trajectory with the independent `FeasibilityChecker` (see its `check`)."""
        from factory_ai.planning.checker import FeasibilityChecker

        if not hasattr(self, "_checker"):
            self._checker = FeasibilityChecker(self.robot, self.cell, self.limits, collision=self.collision)
        return self._checker.check(traj, **kwargs)

    # ----------------------------------------------------------------- start state
    def _start_state(self, state: JointState, t0: float) -> _Start:
        names = tuple(state.names)
        if sorted(names) != sorted(self.joint_names):
            msg = f"state names {list(names)} do not match the arm's joints {list(self.joint_names)}"
            raise ValueError(msg)
        idx = [names.index(n) for n in self.joint_names]
        q = np.asarray(state.q_rad, dtype=float)[idx]
        qd = np.asarray(state.qd_radps, dtype=float)[idx]
        qdd = np.asarray(state.qdd_radps2, dtype=float)[idx]
        if not (np.all(np.isfinite(q)) and np.all(np.isfinite(qd)) and np.all(np.isfinite(qdd))):
            msg = f"joint state contains NaN or inf: q={q.tolist()}"
            raise ValueError(msg)
        # Warm start: the arm follows our previous plan -> continue from its exact state.
        for b in self._active:
            if b.t_start_s - 1e-9 <= t0 <= b.t_start_s + b.traj.duration_s + 1e-9:
                qs, _, _ = b.traj.state(state.stamp_s - b.t_start_s)
                if np.max(np.abs(qs - q)) < 0.02:
                    q1, qd1, qdd1 = b.traj.state(t0 - b.t_start_s)
                    return _Start(q1, qd1, qdd1, t0)
                break
        dt = max(t0 - state.stamp_s, 0.0)
        if dt > 0:
            q = q + qd * dt + 0.5 * qdd * dt * dt
            qd = qd + qdd * dt
        # Clip to what Ruckig accepts (a measured state may sit a hair over a limit).
        qd = np.clip(qd, -self.v_max, self.v_max)
        qdd = np.clip(qdd, -self.a_max, self.a_max)
        return _Start(q, qd, qdd, t0)

    # ----------------------------------------------------------------- scheduling
    def _deadline(self, m: PartMotion) -> float:
        """Latest tracking-segment start for a part (its pick-window deadline, cell clock)."""
        v_s = float(m.v_mps @ self._belt_dir)
        speed = float(np.linalg.norm(m.v_mps[:2]))
        if speed > self.config.max_part_speed_mps:
            msg = f"too fast: part moves at {speed:.2f} m/s, the cup tracks at most {self.config.max_part_speed_mps:.2f} m/s"
            raise _Fail(msg)
        rel = m.p_ref_m - self._belt_origin
        lateral = float(rel @ self._belt_lat)
        win = self.pick_window(lateral, speed)
        if win is None:
            msg = f"unreachable: part is {lateral:+.3f} m across the belt, outside the arm's reachable strip"
            raise _Fail(msg)
        s_lo, s_hi = win
        s_ref = float(rel @ self._belt_dir)
        T_B = self.profile.duration_s
        if abs(v_s) < 1e-4:
            if not s_lo <= s_ref <= s_hi:
                msg = f"outside the pick window: part at {s_ref:+.3f} m along the belt is not moving, window [{s_lo:+.3f}, {s_hi:+.3f}] m"
                raise _Fail(msg)
            return m.t_ref_s + 1e9
        exit_s = s_hi if v_s > 0 else s_lo
        return m.t_ref_s + (exit_s - s_ref) / v_s

    def _plan_sequence(
        self, start: _Start, order: list[int], motions: dict[int, PartMotion], deadline: float
    ) -> tuple[list[_Built], dict[int, str]]:
        built: list[_Built] = []
        fails: dict[int, str] = {}
        cur = start
        for i, k in enumerate(order):
            if time.perf_counter() > deadline:
                for kk in order[i:]:
                    fails[kk] = f"planning time budget ({self.config.time_budget_s * 1e3:.1f} ms) exhausted before this part"
                break
            try:
                b = self._plan_one(cur, k, motions[k], deadline)
            except _OutOfTime:
                fails[k] = f"planning time budget ({self.config.time_budget_s * 1e3:.1f} ms) exhausted"
                continue
            except _Fail as exc:
                fails[k] = str(exc)
                continue
            built.append(b)
            cur = b.end
        return built, fails

    # ----------------------------------------------------------------- one target
    def _window_times(self, start: _Start, m: PartMotion) -> tuple[float, float]:
        """Earliest and latest tracking-segment start (cell clock) inside the pick window."""
        rel = m.p_ref_m - self._belt_origin
        lateral = float(rel @ self._belt_lat)
        v_s = float(m.v_mps @ self._belt_dir)
        win = self.pick_window(lateral, float(np.linalg.norm(m.v_mps[:2])))
        if win is None:
            msg = f"unreachable: part is {lateral:+.3f} m across the belt, outside the arm's reachable strip"
            raise _Fail(msg)
        s_lo, s_hi = win
        s_ref = float(rel @ self._belt_dir)
        T_B = self.profile.duration_s
        t_earliest = start.t_s + self.config.min_lead_s
        if abs(v_s) < 1e-4:
            return t_earliest, start.t_s + self.config.horizon_s
        enter_s, exit_s = (s_lo, s_hi) if v_s > 0 else (s_hi, s_lo)
        t_enter = m.t_ref_s + (enter_s - s_ref) / v_s
        t_exit = m.t_ref_s + (exit_s - s_ref) / v_s
        s_now = s_ref + v_s * (start.t_s - m.t_ref_s)
        if t_exit < t_earliest:
            msg = (
                f"outside the pick window: part at {s_now:+.3f} m along the belt has passed (or will pass before the arm "
                f"can start) the window [{s_lo:+.3f}, {s_hi:+.3f}] m"
            )
            raise _Fail(msg)
        return max(t_earliest, t_enter), min(t_exit, start.t_s + self.config.horizon_s)

    def _pre_states(self, m: PartMotion, t_pre: np.ndarray, branches: np.ndarray, q6: float, q_ref: np.ndarray):
        """Pre-grasp joint states for (G,) times x (K, 3) branches -> q, qd, qdd (G, K, n), ok (G, K)."""
        G, K = t_pre.size, branches.shape[0]
        tt = np.repeat(t_pre, K)
        br = np.tile(branches, (G, 1))
        q, qd, qdd, _, ok = tracking_states(self.ik, m, tt, self.profile, np.array([0]), self.contact_z_m, br, q6, q_ref)
        n = q.shape[-1]
        return q.reshape(G, K, n), qd.reshape(G, K, n), qdd.reshape(G, K, n), ok.reshape(G, K)

    def _plan_one(self, start: _Start, track_id: int, m: PartMotion, deadline: float) -> _Built:
        cfg = self.config
        t_first, t_last = self._window_times(start, m)
        if t_last < t_first:
            msg = f"window: the part leaves the pick window {t_last - start.t_s:+.2f} s from the start, before the arm is free"
            raise _Fail(msg)
        q6 = float(start.q[5])
        q_ref = start.q
        # --- batched candidates: intercept times x IK branches
        G = cfg.n_time_candidates
        t_grid = np.linspace(t_first, t_last, G) if t_last > t_first else np.array([t_first])
        warm = self._warm.get(track_id)
        if warm is not None and t_first <= warm[0] <= t_last:
            t_grid = np.unique(np.concatenate([t_grid, [warm[0]]]))
        # IK branches act as seeds: the start's own branch and the ready one first (changing
        # branch costs large motions), all eight only if those cannot make it.
        own = self.ik.branch_of(start.q)[0]
        first_try = np.unique(np.vstack([own, self.ready_branch] + ([warm[1]] if warm is not None else [])), axis=0)
        others = np.array([b for b in self.ik.BRANCHES if not (first_try == b).all(axis=1).any()])
        try:
            return self._try_branches(start, track_id, m, t_grid, first_try, warm, q6, q_ref, deadline)
        except _Fail as exc:
            if not others.size:
                raise
            try:
                return self._try_branches(start, track_id, m, t_grid, others, warm, q6, q_ref, deadline)
            except _Fail:
                raise exc from None

    def _try_branches(self, start, track_id, m, t_grid, branches, warm, q6, q_ref, deadline) -> _Built:
        qp, qdp, qddp, ok = self._pre_states(m, t_grid, branches, q6, q_ref)
        if not ok.any():
            msg = "unreachable: no IK solution for the grasp poses inside the pick window"
            raise _Fail(msg)
        est = duration_estimate(start.q, start.qd, start.qdd, qp, qdp, self.v_max, self.a_max, self.j_max)
        avail = (t_grid - start.t_s)[:, None]
        # The estimate is within about 7 % of Ruckig's exact duration; Ruckig verifies, so
        # let slightly pessimistic estimates through (a near-miss at the window end matters).
        fit = ok & (est <= 1.1 * avail + 0.02)
        # Candidate list: per branch, the first grid time that fits; earliest first.
        cands: list[tuple[float, int, int]] = []
        for k in range(branches.shape[0]):
            g = np.flatnonzero(fit[:, k])
            if g.size:
                pref = 0.0 if (warm is not None and np.array_equal(branches[k], warm[1])) else 1e-6
                cands.append((t_grid[g[0]] + pref * k, int(g[0]), k))
        if not cands:
            need = float(np.min(np.where(ok, est - avail, np.inf)))
            msg = f"window: the arm cannot reach the part in time (short by {need:.2f} s before it leaves the pick window)"
            raise _Fail(msg)
        cands.sort()
        last_reason = ""
        for _, g0, k in cands[:3]:
            if time.perf_counter() > deadline:
                raise _OutOfTime
            try:
                return self._refine_and_build(start, track_id, m, t_grid, g0, branches[k], ok[:, k], q6, q_ref, deadline)
            except _Fail as exc:
                last_reason = str(exc)
        raise _Fail(last_reason or "no feasible candidate")

    def _target(self, m: PartMotion, t_pre: float, branch: np.ndarray, q6: float, q_ref: np.ndarray):
        """Joint state (q, qd, qdd, ok) at the start of the tracking segment beginning at t_pre.

        Same maths as `tracking_states` at the first knot (central differences of the exact
        IK along the cubic z profile), in plain Python floats: it runs in the refinement loop.
        """
        prof, h = self.profile, 1e-3
        z0, zd, zdd, zddd = prof.z_m[0], prof.zd_mps[0], prof.zdd_mps2[0], prof.zddd_mps3[0]
        br = (float(branch[0]), float(branch[1]), float(branch[2]))
        px, py, _ = m.at(t_pre)
        vx, vy = float(m.v_mps[0]), float(m.v_mps[1])
        qs = []
        ok = True
        for d in (-h, 0.0, h):
            z = self.contact_z_m + z0 + d * (zd + d * (zdd / 2 + d * zddd / 6))
            q, good = self.ik.solve_point(px + vx * d, py + vy * d, z, br, q6, q_ref)
            qs.append(q)
            ok = ok and good
        qm, q0, qp = (np.array(q) for q in qs)
        qm = q0 + (qm - q0 + math.pi) % (2 * math.pi) - math.pi
        qp = q0 + (qp - q0 + math.pi) % (2 * math.pi) - math.pi
        return q0, (qp - qm) / (2 * h), (qp - 2 * q0 + qm) / (h * h), ok

    def _refine_and_build(self, start, track_id, m, t_grid, g0, branch, ok_col, q6, q_ref, deadline) -> _Built:
        """Earliest feasible intercept near grid index g0 (Ruckig-verified), then the plan."""
        cfg = self.config
        tol = cfg.sample_dt_s

        def slack(t: float) -> float:
            q1, v1, a1, ok = self._target(m, t, branch, q6, q_ref)
            if not ok or np.any(np.abs(v1) > self.v_max) or np.any(np.abs(a1) > self.a_max):
                return -math.inf
            return (t - start.t_s) - self.solver.min_duration(start.q, start.qd, start.qdd, q1, v1, a1)

        # Verify the estimate with Ruckig; walk forward until feasible.
        g = g0
        f_hi = slack(t_grid[g]) if ok_col[g] else -math.inf
        while f_hi < 0.0:
            g += 1
            if g >= t_grid.size:
                msg = "window: the arm cannot reach the part in time before it leaves the pick window"
                raise _Fail(msg)
            if time.perf_counter() > deadline:
                raise _OutOfTime
            f_hi = slack(t_grid[g]) if ok_col[g] else -math.inf
        t_hi = t_grid[g]
        # The estimate may be pessimistic: step back while the previous grid time works.
        t_lo, f_lo = None, None
        while g > 0:
            f = slack(t_grid[g - 1]) if ok_col[g - 1] else -math.inf
            if f < 0.0:
                t_lo, f_lo = t_grid[g - 1], f
                break
            g, t_hi, f_hi = g - 1, t_grid[g - 1], f
        # Regula falsi (Illinois) on the slack: a couple of Ruckig calls reach the earliest
        # intercept to within half a control tick. Out of time -> keep the feasible t_hi.
        if t_lo is not None and math.isfinite(f_lo):
            side = 0
            for _ in range(cfg.bisection_steps):
                if t_hi - t_lo <= tol or time.perf_counter() > deadline:
                    break
                t_new = t_hi - f_hi * (t_hi - t_lo) / (f_hi - f_lo)
                t_new = min(max(t_new, t_lo + 0.1 * (t_hi - t_lo)), t_hi - 0.1 * (t_hi - t_lo))
                f_new = slack(t_new)
                if f_new >= 0.0:
                    t_hi, f_hi = t_new, f_new
                    if side == 1:
                        f_lo *= 0.5
                    side = 1
                else:
                    t_lo, f_lo = t_new, f_new
                    if side == -1:
                        f_hi *= 0.5
                    side = -1
        elif t_lo is not None:
            for _ in range(cfg.bisection_steps):
                if t_hi - t_lo <= tol or time.perf_counter() > deadline:
                    break
                mid = 0.5 * (t_lo + t_hi)
                if slack(mid) >= 0.0:
                    t_hi = mid
                else:
                    t_lo = mid
        return self._build(start, track_id, m, t_hi, branch, q6, q_ref, deadline)

    def _build(self, start: _Start, track_id: int, m: PartMotion, t_pre: float, branch, q6, q_ref, deadline) -> _Built:
        """The plan for an intercept at t_pre; via points where the direct motion collides.

        A via is a hover pose passed through without stopping: above the part for the
        approach (which then intercepts later), or above the lift point for the transfer.
        """
        via_a, via_c = "", False
        first: _Collision | None = None
        for _ in range(4):
            if time.perf_counter() > deadline:
                raise _OutOfTime
            try:
                built = self._assemble(start, track_id, m, t_pre, branch, q6, q_ref, deadline, via_a, via_c)
                self._check_collisions(built, m)
                return built
            except _Collision as exc:
                first = first or exc
                moving = float(np.max(np.abs(start.qd))) > 0.05
                if exc.piece == "approach" and via_a == "" and moving and exc.t_rel_s < 0.5:
                    # Hit early while moving: that is the momentum, brake first.
                    via_a = "brake"
                elif exc.piece == "approach" and via_a == "":
                    via_a = "hover"
                elif exc.piece == "approach" and via_a == "hover":
                    # Moving fast near the belt: stop first (the momentum dips the cup
                    # otherwise), then come down over the part from above.
                    via_a = "brake"
                elif exc.piece == "to_bin" and not via_c:
                    via_c = True
                else:
                    break
            except _Fail as exc:
                if first is None:
                    raise
                first = _Collision(f"{first} (via: {exc})", first.piece, first.t_rel_s)
                break
        raise first

    def _state_over(self, m: PartMotion, t: float, branch, q6: float, q_ref, dz: float, vz: float):
        """Joint state with the tip dz above contact over the part at time t, moving with it
        (plus vz vertically); central differences of the exact IK."""
        h = 1e-3
        br = (float(branch[0]), float(branch[1]), float(branch[2]))
        px, py, _ = m.at(t)
        vx, vy = float(m.v_mps[0]), float(m.v_mps[1])
        qs, ok = [], True
        for d in (-h, 0.0, h):
            q, good = self.ik.solve_point(px + vx * d, py + vy * d, self.contact_z_m + dz + vz * d, br, q6, q_ref)
            qs.append(np.array(q))
            ok = ok and good
        qm, q0, qp = qs
        qm = q0 + (qm - q0 + math.pi) % (2 * math.pi) - math.pi
        qp = q0 + (qp - q0 + math.pi) % (2 * math.pi) - math.pi
        return q0, (qp - qm) / (2 * h), (qp - 2 * q0 + qm) / (h * h), ok

    def _approach(self, start: _Start, m: PartMotion, t_pre: float, branch, q6, q_ref, via: str):
        """Ruckig piece(s) from the start to the pre-grasp state, arriving exactly at t_pre.

        Returns (pieces, t_pre, q_pre): Ruckig may answer a "blocked" duration for some joint,
        then the intercept moves later by that much.
        """
        for _ in range(4):
            q1, v1, a1, ok = self._target(m, t_pre, branch, q6, q_ref)
            if not ok:
                msg = "unreachable: pre-grasp pose has no IK solution"
                raise _Fail(msg)
            if not via:
                seg = self.solver.solve(start.q, start.qd, start.qdd, q1, v1, a1, t_pre - start.t_s)
                if seg is None:
                    msg = "window: Ruckig found no motion to the pre-grasp state"
                    raise _Fail(msg)
                if seg.duration <= t_pre - start.t_s + 1e-9:
                    return [Piece(0.0, seg.duration, ruckig=seg, label="approach")], t_pre, seg.end_state()[0]
                t_pre = start.t_s + seg.duration
                continue
            pre: list[Piece] = []
            if via == "brake":
                stop = self.solver.brake(start.q, start.qd, start.qdd)
                if stop is None:
                    msg = "collision: braking failed"
                    raise _Fail(msg)
                pre = [Piece(0.0, stop.duration, ruckig=stop, label="approach")]
                qs, _, _ = stop.end_state()
                t_b = start.t_s + stop.duration
                start = _Start(qs, np.zeros(6), np.zeros(6), t_b)
            # Hover 8 cm above the part 0.35 s before the pre-grasp, coming down. The via must
            # be reachable in time: move the intercept later until it is (fixed point, since
            # the via moves with the part).
            t_via = max(t_pre - 0.35, start.t_s + 0.1)
            for _ in range(4):
                qv, vv, av, okv = self._state_over(m, t_via, branch, q6, q_ref, 0.08, -0.2)
                if not okv:
                    msg = "collision: no via pose above the part"
                    raise _Fail(msg)
                need = self.solver.min_duration(start.q, start.qd, start.qdd, qv, vv, 0 * av)
                if need <= t_via - start.t_s + 1e-9:
                    break
                t_via = start.t_s + need + 0.01
            t_pre = t_via + 0.35
            q1, v1, a1, ok = self._target(m, t_pre, branch, q6, q_ref)
            if not ok:
                msg = "unreachable: pre-grasp pose has no IK solution"
                raise _Fail(msg)
            s1 = self.solver.solve(start.q, start.qd, start.qdd, qv, vv, 0 * av, t_via - start.t_s)
            if s1 is None or s1.duration > t_via - start.t_s + 1e-9:
                msg = "collision: the via pose above the part cannot be reached in time"
                raise _Fail(msg)
            s2 = self.solver.solve(*s1.end_state(), q1, v1, a1, t_pre - t_via)
            if s2 is None or s2.duration > t_pre - t_via + 1e-9:
                msg = "collision: no motion from the via pose to the pre-grasp"
                raise _Fail(msg)
            t0 = pre[-1].duration_s if pre else 0.0
            pieces = [*pre, Piece(t0, s1.duration, ruckig=s1, label="approach"), Piece(t0 + s1.duration, s2.duration, ruckig=s2, label="approach")]
            return pieces, t_pre, s2.end_state()[0]
        msg = "window: no synchronized approach duration found"
        raise _Fail(msg)

    def _assemble(self, start: _Start, track_id: int, m: PartMotion, t_pre: float, branch, q6, q_ref, deadline, via_a: str, via_c: bool) -> _Built:
        cfg = self.config
        pieces, t_pre, q_pre = self._approach(start, m, t_pre, branch, q6, q_ref, via_a)
        t_a = t_pre - start.t_s
        # --- tracking segment
        trk = build_tracking(self.ik, m, t_pre, self.profile, self.contact_z_m, branch, q6, q_pre, self.q_min, self.q_max)
        if not trk.ok:
            msg = "unreachable: the tracking segment leaves the arm's workspace or joint limits"
            raise _Fail(msg)
        if np.any(np.abs(trk.qd_radps) > self.v_max) or np.any(np.abs(trk.qdd_radps2) > self.a_max):
            msg = "too fast: tracking the part needs more joint speed/acceleration than the limits allow"
            raise _Fail(msg)
        jerk = np.abs(np.diff(trk.qdd_radps2, axis=0)) / np.diff(trk.t_s)[:, None]
        if np.any(jerk > self.j_max):
            msg = "too fast: tracking the part needs more joint jerk than the limits allow"
            raise _Fail(msg)
        T_B = self.profile.duration_s
        # Continuity: the tracking table starts exactly at the Ruckig target.
        trk_q = trk.q_rad - trk.q_rad[0] + q_pre
        pieces.append(Piece(t_a, T_B, table=(trk.t_s, trk_q, trk.qd_radps, trk.qdd_radps2), label="track"))
        # --- transfer to the bin (optionally through a hover 15 cm above the lift point)
        q_bin = self._q_bin(branch, q6, trk_q[-1])
        t = t_a + T_B
        cur = (trk_q[-1], trk.qd_radps[-1], trk.qdd_radps2[-1])
        if via_c:
            p_lift = trk.p_tip_m[-1] + np.array([0.0, 0.0, 0.15])
            qh, okh = self.ik.solve_point(*p_lift, tuple(float(b) for b in branch), q6, cur[0])
            if not okh:
                msg = "collision: no via pose above the lift point"
                raise _Fail(msg)
            v_via = np.clip(0.5 * (q_bin - np.array(qh)) / 0.6, -0.5 * self.v_max, 0.5 * self.v_max)
            seg = self.solver.solve(*cur, np.array(qh), v_via, np.zeros(6))
            if seg is None:
                msg = "collision: no motion through the via above the lift point"
                raise _Fail(msg)
            pieces.append(Piece(t, seg.duration, ruckig=seg, label="to_bin"))
            t += seg.duration
            cur = seg.end_state()
        seg_c = self.solver.solve(*cur, q_bin, np.zeros(6), np.zeros(6))
        if seg_c is None:
            msg = "unreachable: no motion from the lift to the bin"
            raise _Fail(msg)
        pieces.append(Piece(t, seg_c.duration, ruckig=seg_c, label="to_bin"))
        t_rel = t + seg_c.duration
        t_off_rel = t_rel + cfg.release_settle_s
        t_free_rel = t_off_rel + cfg.release_dwell_s
        pieces.append(Piece(t_rel, t_free_rel - t_rel, hold=q_bin, label="release"))
        if time.perf_counter() > deadline:
            raise _OutOfTime
        t_grasp = t_pre + self.profile.descent_s
        return _Built(
            track_id=track_id,
            traj=PiecewiseTrajectory(pieces),
            t_start_s=start.t_s,
            t_pre_s=t_pre,
            t_grasp_s=t_grasp,
            suction_on_s=t_grasp - cfg.suction_lead_s,
            suction_off_s=start.t_s + t_off_rel,
            t_free_s=start.t_s + t_free_rel,
            p_grasp_m=trk.p_tip_m[np.searchsorted(trk.t_s, self.profile.descent_s - 1e-9)],
            branch=np.asarray(branch, dtype=float),
            end=_Start(q_bin, np.zeros(6), np.zeros(6), start.t_s + t_free_rel),
            grasp_interval_s=(t_grasp, t_grasp + self.profile.dwell_s),
            contact_interval_s=(t_pre - 0.3, t_pre + T_B),
        )

    def _q_bin(self, branch: np.ndarray, q6: float, q_ref: np.ndarray) -> np.ndarray:
        """Release pose over the bin (same branch if reachable, else the ready branch)."""
        for br in (branch, self.ready_branch):
            q, ok = self.ik.solve_point(*self._p_bin, tuple(float(b) for b in br), q6, q_ref)
            if ok:
                return np.array(q)
        msg = "unreachable: no IK solution above the reject bin"
        raise _Fail(msg)

    def _with_return(self, b: _Built) -> PiecewiseTrajectory:
        """The plan plus the return to the ready pose."""
        seg_d = self.solver.solve(b.end.q, b.end.qd, b.end.qdd, self.ready_q, np.zeros(6), np.zeros(6))
        if seg_d is None:
            return b.traj
        t = b.traj.duration_s
        return PiecewiseTrajectory([*b.traj.pieces, Piece(t, seg_d.duration, ruckig=seg_d, label="to_ready")])

    # ----------------------------------------------------------------- collisions
    def _check_collisions(self, b: _Built, m: PartMotion) -> None:
        """Reject (raise _Fail) a plan whose path comes closer than the margin.

        Coarse to fine: samples 4 output ticks apart with every sphere swept to its
        neighbours (cheap, conservative); only intervals that fail are re-checked at one tick,
        then at a quarter tick, before a collision is declared. The release hold is a fixed
        pose and the return to ready is checked (and cached) separately.
        """
        cfg = self.config
        checked = [p for p in b.traj.pieces if p.label in ("approach", "track", "to_bin")]
        t_end = checked[-1].t_begin_s + checked[-1].duration_s
        dt = cfg.sample_dt_s
        # The output points double as the collision samples (sampled once).
        if b.samples is None:
            b.samples = b.traj.sample_uniform(dt)
        t_all, q_all = b.samples[0], b.samples[1]
        last = int(np.searchsorted(t_all, t_end - 1e-9))
        # Coarse samples: every 6th output point (48 ms), swept; refined only where they fail.
        idx = np.unique(np.append(np.arange(0, last + 1, 6), last))
        # The tracking segment in the ready branch was checked with the pick-window table
        # (contact and lift-top poses along the belt, cell obstacles): skip it unless
        # obstacles were added since.
        track = [p for p in b.traj.pieces if p.label == "track"]
        gap_after = None
        if track and np.array_equal(b.branch, self.ready_branch) and not len(self.collision._runtime):  # noqa: SLF001
            t0, t1 = track[0].t_begin_s, track[0].t_begin_s + track[0].duration_s
            k0, k1 = np.searchsorted(t_all, [t0 - 1e-9, t1 - 1e-9])
            idx = np.unique(np.concatenate([idx[(idx < k0) | (idx > k1)], [k0, k1]]))
            gap_after = k0
        for level in range(3):
            if level == 0:
                ts, q = t_all[idx], q_all[idx]
                gaps = None if gap_after is None else (idx[:-1] == gap_after)
            elif level == 1:
                sel = np.zeros(t_all.size, dtype=bool)
                for a, c in bad:
                    sel[(t_all >= a - 1e-12) & (t_all <= c + 1e-12)] = True
                ts, q = t_all[sel], q_all[sel]
                gaps = np.diff(np.flatnonzero(sel)) > 1
            else:
                ts = np.unique(np.concatenate([np.arange(a, c + 1e-12, dt / 4) for a, c in bad]))
                q = None
                gaps = np.diff(ts) > dt / 4 + 1e-9
            clear, static_clear = self._clear_at(b, m, ts, q, gaps)
            if clear.all():
                return
            i = np.flatnonzero(~clear)
            if not static_clear[i].all():
                i = i[~static_clear[i]]
                break  # a sample itself is too close: no refinement can clear that
            # Intervals around the failing samples, for the next (finer) level.
            bad = [(ts[max(k - 1, 0)], ts[min(k + 1, ts.size - 1)]) for k in i]
        k = int(i[0])
        q, _, _ = b.traj.state(ts[k])
        t_abs = b.t_start_s + ts[k]
        tip = self.kin.link_poses(q[None])[1][:, self._tip]
        d, what = self.collision.closest_pair(q, grasp_contact=bool(self._contact_mask(b, m, np.array([t_abs]), tip)[0]), held_part=b.t_grasp_s <= t_abs <= b.suction_off_s)
        piece = next((p.label for p in reversed(b.traj.pieces) if p.t_begin_s <= ts[k] + 1e-12), "approach")
        msg = f"collision: {what} ({d * 1e3:.0f} mm, margin {cfg.collision_margin_m * 1e3:.0f} mm) at t={ts[k]:.2f} s of the plan ({piece})"
        raise _Collision(msg, piece, float(ts[k]))

    def _contact_mask(self, b: _Built, m: PartMotion, t_abs: np.ndarray, p_tip: np.ndarray) -> np.ndarray:
        """Samples where the cup (and held part) may touch the conveyor: around the grasp,
        with the tip (positions (N, 3)) within 4 cm of the part, horizontally."""
        lo, hi = b.contact_interval_s
        near_t = (t_abs >= lo) & (t_abs <= hi)
        d = p_tip[:, :2] - m.at(t_abs)[:, :2]
        return near_t & (d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1] <= 0.04**2)

    def _clear_at(self, b: _Built, m: PartMotion, ts: np.ndarray, q: np.ndarray | None = None, gaps: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Swept-clear flags (N,) of the plan sampled at times ts (positions q if known), and
        whether each failing sample is at least clear by itself (no sweep): if not, it is a
        real collision."""
        if q is None:
            q = self._sample_piece_times(b.traj, ts)
        t_abs = b.t_start_s + ts
        R, p = self.kin.link_poses(q)
        contact = self._contact_mask(b, m, t_abs, p[:, self._tip])
        held = (t_abs >= b.t_grasp_s) & (t_abs <= b.suction_off_s)
        margin = self.config.collision_margin_m
        clear = self.collision.path_clear_from_poses(R, p, margin, contact, held, gaps)
        static = np.ones_like(clear)
        bad = np.flatnonzero(~clear)
        if bad.size:
            env, slf = self.collision.distances_from_poses(R[bad], p[bad], contact[bad], held[bad], cutoff_m=margin)
            static[bad] = (env >= margin) & (slf >= self.collision.self_margin_m)
        return clear, static

    @staticmethod
    def _sample_piece_times(traj: PiecewiseTrajectory, ts: np.ndarray) -> np.ndarray:
        """Positions (N, n) of a piecewise trajectory at sorted times ts."""
        out = []
        bounds = np.searchsorted(ts, [p.t_begin_s for p in traj.pieces[1:]], side="left")
        for piece, a, b in zip(traj.pieces, np.concatenate([[0], bounds]), np.concatenate([bounds, [ts.size]])):
            if b > a:
                out.append(piece.sample(ts[a:b] - piece.t_begin_s)[0])
        return np.concatenate(out)

    # ----------------------------------------------------------------- output
    def _to_plan(self, b: _Built, last: bool) -> RejectPlan:
        cfg = self.config
        if b.samples is None:
            b.samples = b.traj.sample_uniform(cfg.sample_dt_s)
        t, q, qd, qdd = b.samples
        if last and cfg.return_to_ready:
            ret = self._with_return(b)
            piece = ret.pieces[-1]
            # The return must be collision-free too (cached: it always starts over the bin at
            # rest); otherwise the plan ends over the bin.
            key = np.round(np.concatenate([b.end.q, self.ready_q]), 4).tobytes()
            if key not in self._seg_cache:
                ts = np.linspace(0, piece.duration_s, max(2, int(piece.duration_s / (2 * cfg.sample_dt_s)) + 1))
                self._seg_cache[key] = bool(self.collision.path_clear(piece.sample(ts)[0], cfg.collision_margin_m).all())
            if self._seg_cache[key] and piece.label == "to_ready":
                b.traj = ret
                local = np.linspace(0.0, piece.duration_s, int(math.ceil(piece.duration_s / cfg.sample_dt_s - 1e-9)) + 1)[1:]
                rq, rqd, rqdd = piece.sample(local)
                t = np.concatenate([t, piece.t_begin_s + local])
                q, qd, qdd = np.concatenate([q, rq]), np.concatenate([qd, rqd]), np.concatenate([qdd, rqdd])
        jt = JointTrajectory(self.joint_names, t, q, qd, qdd, start_stamp_s=b.t_start_s)
        return RejectPlan(
            track_id=b.track_id,
            status=RejectStatus.PLANNED,
            trajectory=jt,
            grasp_time_s=b.t_grasp_s,
            suction_on_s=b.suction_on_s,
            suction_off_s=b.suction_off_s,
            p_grasp_base_m=b.p_grasp_m.copy(),
        )

    def grasp_windows(self, track_id: int) -> tuple[tuple[float, float], tuple[float, float]] | None:
        """(cup-on-part interval, conveyor-contact interval) of the active plan for a part."""
        for b in self._active:
            if b.track_id == track_id:
                return b.grasp_interval_s, b.contact_interval_s
        return None


__all__ = ["CORRECTION_BOUNDS", "Corrections", "PlannerConfig", "RejectPlanner"]
