"""The benchmark peer: the standard pipeline a user could assemble from installable parts.

OMPL RRTConnect (PyPI `ompl`) with OMPL's path simplification plans a joint path to a *static*
intercept pose (the cup waits above where the part will be), TOPP-RA (PyPI `toppra`) time-
parameterizes it under joint velocity and acceleration limits (TOPP-RA has no jerk limits),
and a Cartesian catch-up ramp then accelerates the cup along the belt until it moves with the
part, followed by the same descend / grasp / lift motion as ours. A moving arm is first braked
to rest with Ruckig (what a MoveIt user gets by stopping before planning).

State validity is Pinocchio's collision module on coal (compiled C++; one call per state does
FK and all pair checks) on the same link capsules and obstacle boxes as our collision model,
so the checker decides nothing in Python loops over geometry.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import pinocchio as pin
import ruckig

from factory_ai.planning.intercept import PartMotion, VerticalProfile, build_tracking
from factory_ai.planning.motion import Piece, PiecewiseTrajectory, duration_estimate
from factory_ai.planning.planner import RejectPlanner
from factory_ai.types import JointState, JointTrajectory, PartObservation

CHECKER_NAME = "pinocchio.computeCollisions + coal (C++) on capsules/boxes, called per state from OMPL"


@dataclass
class PeerResult:
    """Outcome of one peer plan (times on the cell clock)."""

    trajectory: JointTrajectory | None
    grasp_time_s: float = math.nan
    reason: str = ""
    validity_checks: int = 0
    attempts: int = 0


class OmplToppraPeer:
    """RRTConnect + simplification + TOPP-RA to a static intercept pose, plus catch-up and grasp.

    Args:
        planner: our planner, used only for shared facts (cell geometry, IK, part motion
            prediction, grasp heights, limits, collision geometry) so both solve the same task.
        solve_time_s: OMPL time limit per attempt.
        ramp_s: duration of the catch-up ramp (rest -> belt speed).
        hover_height_m: the static intercept pose's height above contact (the cup waits there,
            so it keeps the checker's clearance to the belt; it descends from rest).
    """

    def __init__(self, planner: RejectPlanner, solve_time_s: float = 1.0, ramp_s: float = 0.4, hover_height_m: float = 0.05) -> None:
        from ompl import base as ob
        from ompl import geometric as og
        from ompl import util as ou

        ou.setLogLevel(ou.LogLevel.LOG_WARN)
        logging.getLogger("toppra").setLevel(logging.WARNING)  # it logs every parametrization at INFO
        self._ob, self._og = ob, og
        self.pl = planner
        self.solve_time_s = solve_time_s
        self.ramp_s = ramp_s
        self.hover_m = hover_height_m
        self.toppra_acc_scale = 0.9
        self.toppra_gridpoints = 101
        cfg = planner.config
        # Same grasp as ours, but descending from rest at the hover height and ending the lift at rest.
        self.profile = VerticalProfile.build(
            hover_height_m, 1e-3, cfg.grasp_window_s, cfg.lift_height_m, 1e-3,
            cfg.vertical_acc_mps2, cfg.vertical_jerk_mps3, cfg.sample_dt_s, max_speed_mps=0.25,
        )
        self._build_collision(cfg.collision_margin_m)
        n = len(planner.joint_names)
        self.space = ob.RealVectorStateSpace(n)
        bounds = ob.RealVectorBounds(n)
        for i in range(n):
            bounds.setLow(i, float(planner.q_min[i]))
            bounds.setHigh(i, float(planner.q_max[i]))
        self.space.setBounds(bounds)
        self.checks = 0

    # ----------------------------------------------------------------- geometry
    def _build_collision(self, margin_m: float) -> None:
        import coal

        cm = self.pl.collision
        robot = self.pl.robot
        self.model = robot._pin  # noqa: SLF001 - the robot's own Pinocchio model (no geometry)
        self.data = self.model.createData()
        gm = pin.GeometryModel()
        ids = []
        for k, c in enumerate(cm.capsules):
            fid = self.model.getFrameId(c.link)
            frame = self.model.frames[fid]
            axis = c.b - c.a
            length = float(np.linalg.norm(axis))
            z = axis / length if length > 1e-9 else np.array([0.0, 0.0, 1.0])
            x = np.cross(z, [1.0, 0.0, 0.0])
            if np.linalg.norm(x) < 1e-6:
                x = np.cross(z, [0.0, 1.0, 0.0])
            x /= np.linalg.norm(x)
            R = np.column_stack([x, np.cross(z, x), z])
            M = frame.placement * pin.SE3(R, 0.5 * (c.a + c.b))
            geo = coal.Capsule(c.radius, length) if length > 1e-9 else coal.Sphere(c.radius)
            ids.append(gm.addGeometryObject(pin.GeometryObject(f"{c.link}_{k}", frame.parentJoint, fid, M, geo)))
        obs_ids = []
        for o in cm.obstacles():
            if o.shape == "box":
                geo = coal.Box(*o.dims)
            elif o.shape == "cylinder":
                geo = coal.Cylinder(o.dims[0], o.dims[1])
            else:
                geo = coal.Sphere(o.dims[0])
            M = pin.SE3(o.T_base_obj[:3, :3].copy(), o.T_base_obj[:3, 3].copy())
            obs_ids.append((gm.addGeometryObject(pin.GeometryObject(o.name, 0, 0, M, geo)), o))
        # Same pairs as our model: non-adjacent, non-allowed links; moving links vs obstacles.
        ia, ib = cm._self_pairs  # noqa: SLF001
        pairs, margins = [], []
        for a, b in zip(ia, ib):
            pairs.append((ids[a], ids[b]))
            margins.append(cm.self_margin_m)
        moving = {cm.link_names[li] for li in np.unique(cm._sphere_link[cm._env_spheres])}  # noqa: SLF001
        static_links = set(cm.link_names) - moving
        for k, c in enumerate(cm.capsules):
            if c.link in static_links:
                continue
            for gid, o in obs_ids:
                pairs.append((ids[k], gid))
                # The cup must come down to the part: it may skim the conveyor (no margin).
                grasp = c.link in cm.grasp_links and o.group == "conveyor"
                margins.append(0.0 if grasp else margin_m)
        for a, b in pairs:
            gm.addCollisionPair(pin.CollisionPair(int(a), int(b)))
        self.gmodel = gm
        self.gdata = pin.GeometryData(gm)
        for k, mgn in enumerate(margins):
            self.gdata.collisionRequests[k].security_margin = float(mgn)
        self.n_pairs = len(pairs)

    def valid(self, q: np.ndarray) -> bool:
        """One compiled collision query (FK + all pairs, stops at the first hit)."""
        self.checks += 1
        return not pin.computeCollisions(self.model, self.data, self.gmodel, self.gdata, q, True)

    # ----------------------------------------------------------------- planning
    def plan(self, state: JointState, obs: PartObservation, now_s: float) -> PeerResult:
        """Plan the pick of one part from `state` (at now_s); returns the trajectory to the lift end."""
        pl = self.pl
        self.checks = 0
        idx = [tuple(state.names).index(n) for n in pl.joint_names]
        q0 = np.asarray(state.q_rad, dtype=float)[idx]
        v0 = np.clip(np.asarray(state.qd_radps, dtype=float)[idx], -pl.v_max, pl.v_max)
        a0 = np.clip(np.asarray(state.qdd_radps2, dtype=float)[idx], -pl.a_max, pl.a_max)
        try:
            m = pl.part_motion(obs)
        except ValueError as exc:
            return PeerResult(None, reason=f"invalid observation: {exc}")
        pieces: list[Piece] = []
        t = 0.0
        # 1. Brake to rest if moving (jerk-limited).
        if np.any(np.abs(v0) > 1e-9) or np.any(np.abs(a0) > 1e-9):
            brake = self._brake(q0, v0, a0)
            if brake is None:
                return PeerResult(None, reason="brake failed")
            pieces.append(brake)
            t = brake.duration_s
            q_stop = brake.sample(np.array([brake.duration_s]))[0][0]
        else:
            q_stop = q0
        q6 = float(q_stop[5])
        # 2. Guess the arrival, plan to the static pre-grasp, retry later if late.
        lateral = float((m.p_ref_m - pl._belt_origin) @ pl._belt_lat)  # noqa: SLF001
        speed = float(np.linalg.norm(m.v_mps[:2]))
        est_pre = None
        slack_s = 0.05
        attempts = 0
        for attempts in range(1, 4):
            t_est = t + slack_s
            if est_pre is not None:
                t_est += float(duration_estimate(q_stop, 0 * q_stop, 0 * q_stop, est_pre, 0 * q_stop, pl.v_max, pl.a_max, pl.j_max)) * 1.3
            else:
                p_now = m.at(now_s + t)
                p_now[2] = pl.contact_z_m + self.hover_m
                q_guess, ok = pl.ik.solve(p_now[None], pl.ready_branch, q6, q_stop)
                est_pre = q_guess[0]
                t_est += float(duration_estimate(q_stop, 0 * q_stop, 0 * q_stop, est_pre, 0 * q_stop, pl.v_max, pl.a_max, pl.j_max)) * 1.3
            t_ramp = t_est  # cup at rest over X0 from here; ramp starts now
            x0 = m.at(now_s + t_ramp + self.ramp_s / 2)
            win = pl.pick_window(lateral, speed)
            # The tracking segment starts when the ramp ends; it must start inside the window.
            s0 = float((m.at(now_s + t_ramp + self.ramp_s) - pl._belt_origin) @ pl._belt_dir)  # noqa: SLF001
            if win is None or not (win[0] <= s0 <= win[1]):
                if win is not None and s0 < win[0] and speed > 1e-4:
                    slack_s += (win[0] - s0) / speed + 0.01
                    est_pre = None
                    continue
                return PeerResult(None, reason="static intercept outside the pick window", attempts=attempts)
            x0[2] = pl.contact_z_m + self.hover_m
            q_goal, ok = pl.ik.solve(x0[None], pl.ready_branch, q6, q_stop)
            if not ok[0]:
                return PeerResult(None, reason="no IK for the static intercept pose", attempts=attempts)
            q_goal = q_goal[0]
            est_pre = q_goal
            path = self._rrt(q_stop, q_goal)
            if path is None:
                return PeerResult(None, reason="RRTConnect found no path", attempts=attempts)
            topp = self._toppra(path)
            if topp is None:
                return PeerResult(None, reason="TOPP-RA failed", attempts=attempts)
            if t + topp.duration_s <= t_ramp + 1e-9:
                break
            slack_s += (t + topp.duration_s - t_ramp) + 0.02
        else:
            return PeerResult(None, reason="arrives late at the static intercept after 3 attempts", attempts=attempts)
        topp.t_begin_s = t
        pieces.append(topp)
        if t_ramp - (t + topp.duration_s) > 1e-9:
            pieces.append(Piece(t + topp.duration_s, t_ramp - (t + topp.duration_s), hold=q_goal, label="wait"))
        # 3. Catch-up ramp along the belt, then the grasp (descend, track, lift).
        ramp = self._ramp(m, now_s + t_ramp, q6, q_goal)
        if ramp is None:
            return PeerResult(None, reason="catch-up ramp unreachable", attempts=attempts)
        ramp.t_begin_s = t_ramp
        pieces.append(ramp)
        t_pre = t_ramp + self.ramp_s
        trk = build_tracking(pl.ik, m, now_s + t_pre, self.profile, pl.contact_z_m, pl.ready_branch, q6, ramp.table[1][-1], pl.q_min, pl.q_max)
        if not trk.ok:
            return PeerResult(None, reason="tracking unreachable", attempts=attempts)
        pieces.append(Piece(t_pre, self.profile.duration_s, table=(trk.t_s, trk.q_rad, trk.qd_radps, trk.qdd_radps2), label="track"))
        traj = PiecewiseTrajectory(pieces)
        ts, q, qd, qdd = traj.sample_uniform(pl.config.sample_dt_s)
        jt = JointTrajectory(pl.joint_names, ts, q, qd, qdd, start_stamp_s=now_s)
        return PeerResult(jt, grasp_time_s=now_s + t_pre + self.profile.descent_s, validity_checks=self.checks, attempts=attempts)

    def _brake(self, q0, v0, a0) -> Piece | None:
        pl = self.pl
        otg = ruckig.Ruckig(6)
        inp = ruckig.InputParameter(6)
        inp.control_interface = ruckig.ControlInterface.Velocity
        inp.current_position, inp.current_velocity, inp.current_acceleration = q0, v0, a0
        inp.target_velocity, inp.target_acceleration = np.zeros(6), np.zeros(6)
        inp.max_velocity, inp.max_acceleration, inp.max_jerk = pl.v_max, pl.a_max, pl.j_max
        traj = ruckig.Trajectory(6)
        if otg.calculate(inp, traj) not in (ruckig.Result.Working, ruckig.Result.Finished):
            return None
        ts = np.linspace(0.0, traj.duration, max(2, int(math.ceil(traj.duration / pl.config.sample_dt_s)) + 1))
        st = np.array([traj.at_time(float(x)) for x in ts])
        return Piece(0.0, float(traj.duration), table=(ts, st[:, 0], st[:, 1], st[:, 2]), label="brake")

    def _rrt(self, q_start: np.ndarray, q_goal: np.ndarray) -> np.ndarray | None:
        ob, og = self._ob, self._og
        ss = og.SimpleSetup(self.space)
        ss.setStateValidityChecker(lambda s: self.valid(np.array([s[i] for i in range(6)])))
        si = ss.getSpaceInformation()
        si.setStateValidityCheckingResolution(0.005)  # fraction of the space extent (~3 cm at the tip)
        start, goal = self.space.allocState(), self.space.allocState()
        for i in range(6):
            start[i] = float(q_start[i])
            goal[i] = float(q_goal[i])
        ss.setStartAndGoalStates(start, goal)
        ss.setPlanner(og.RRTConnect(si))
        if not ss.solve(self.solve_time_s):
            return None
        if not ss.haveExactSolutionPath():
            return None
        ss.simplifySolution(0.05)
        path = ss.getSolutionPath()
        return np.array([[s[i] for i in range(6)] for s in path.getStates()])

    def _toppra(self, waypoints: np.ndarray) -> Piece | None:
        import toppra
        import toppra.algorithm as algo
        import toppra.constraint as constraint

        pl = self.pl
        seg = np.linalg.norm(np.diff(waypoints, axis=0), axis=1)
        keep = np.concatenate([[True], seg > 1e-6])
        wp = waypoints[keep]
        if len(wp) < 2:
            wp = np.vstack([waypoints[0], waypoints[-1] + 1e-6])
        ss = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(wp, axis=0), axis=1))])
        ss /= ss[-1]
        path = toppra.SplineInterpolator(ss, wp, bc_type="clamped")
        # TOPP-RA holds the limits at its grid points only; the joint acceleration between them
        # (and a spline controller's interpolation) overshoots, so it gets 10 % headroom.
        vlim = np.column_stack([-pl.v_max, pl.v_max])
        alim = np.column_stack([-pl.a_max, pl.a_max]) * self.toppra_acc_scale
        inst = algo.TOPPRA(
            [constraint.JointVelocityConstraint(vlim), constraint.JointAccelerationConstraint(alim)],
            path,
            gridpoints=np.linspace(0.0, 1.0, self.toppra_gridpoints),
            parametrizer="ParametrizeConstAccel",
        )
        jt = inst.compute_trajectory(0.0, 0.0)
        if jt is None:
            return None
        dur = float(jt.duration)
        ts = np.linspace(0.0, dur, max(2, int(math.ceil(dur / pl.config.sample_dt_s)) + 1))
        q, qd, qdd = jt(ts), jt(ts, 1), jt(ts, 2)
        # TOPP-RA's path acceleration is piecewise constant: end points may carry round-off.
        qd[0] = qd[-1] = 0.0
        qdd[0] = qdd[-1] = 0.0
        return Piece(0.0, dur, table=(ts, q, qd, qdd), label="toppra")

    def _ramp(self, m: PartMotion, t0_abs: float, q6: float, q_ref: np.ndarray) -> Piece | None:
        """Cup from rest over X0 to moving with the part (quintic smoothstep in velocity)."""
        pl = self.pl
        T = self.ramp_s
        n = max(2, int(math.ceil(T / pl.config.sample_dt_s)) + 1)
        tau = np.linspace(0.0, T, n)
        v = m.v_mps.copy()
        x_start = m.at(t0_abs + T / 2)  # the part is v*T/2 behind the cup when the ramp starts
        h = 1e-3

        def pos(tt: np.ndarray) -> np.ndarray:
            u = np.clip(tt / T, 0.0, 1.0)
            # Distance (in units of v) covered: smoothstep velocity, then the belt's (past T).
            s = T * (2.5 * u**4 - 3 * u**5 + u**6) + np.maximum(tt - T, 0.0)
            p = x_start + s[:, None] * v
            p[:, 2] = pl.contact_z_m + self.hover_m
            return p

        pts = np.concatenate([pos(tau - h), pos(tau), pos(tau + h)])
        q, ok = pl.ik.solve(pts, pl.ready_branch, q6, q_ref)
        if not ok.all():
            return None
        qm, q0, qp = q[:n], q[n : 2 * n], q[2 * n :]
        qd = (qp - qm) / (2 * h)
        qdd = (qp - 2 * q0 + qm) / (h * h)
        qd[0], qdd[0] = 0.0, 0.0
        return Piece(0.0, T, table=(tau, q0, qd, qdd), label="ramp")


__all__ = ["CHECKER_NAME", "OmplToppraPeer", "PeerResult"]
