"""Shared setup for the planning tests: the arm, limits, planner, checker and scene builders."""

from __future__ import annotations

import functools

import numpy as np
import ruckig

from factory_ai.config import load_cell_description
from factory_ai.planning import FeasibilityChecker, PlannerConfig, RejectPlanner
from factory_ai.robot import RobotModel, load_joint_limits
from factory_ai.types import JointState, PartObservation


@functools.lru_cache(maxsize=1)
def arm():
    """(cell, robot, limits) for the shipped cell, loaded once per test session."""
    cell = load_cell_description()
    robot = RobotModel.from_urdf(cell.arm.urdf_path)
    return cell, robot, load_joint_limits(robot)


def make_planner(**config) -> RejectPlanner:
    """A fresh planner (its pick-window table and collision grid are cached per process).

    The tests check what is planned, not how fast: a generous time budget keeps them
    deterministic on a loaded CI machine (the budget itself has its own test).
    """
    cell, robot, limits = arm()
    config.setdefault("time_budget_s", 1.0)
    return RejectPlanner(robot, cell, limits, PlannerConfig(**config))


def make_checker(planner: RejectPlanner | None = None) -> FeasibilityChecker:
    cell, robot, limits = arm()
    return FeasibilityChecker(robot, cell, limits, collision=None if planner is None else planner.collision)


def rest_state(q_rad: np.ndarray | None = None, stamp_s: float = 0.0) -> JointState:
    cell, robot, _ = arm()
    q = cell.arm.ready_q_rad.copy() if q_rad is None else np.asarray(q_rad, dtype=float)
    return JointState(robot.joint_names, q, np.zeros(6), np.zeros(6), stamp_s)


def observation(track_id: int, s_m: float, lateral_m: float = 0.0, v_mps: float = 0.3, stamp_s: float = 0.0, yaw: float = 0.0) -> PartObservation:
    """A part on the belt: s_m along the belt from its centre, lateral_m across, moving at v_mps."""
    cell, _, _ = arm()
    T = cell.T_base_belt
    p = T[:3, 3] + s_m * T[:3, 0] + lateral_m * T[:3, 1]
    return PartObservation(track_id, stamp_s, p, yaw, v_mps * T[:3, 0], (0, 0, 10, 10))


def moving_state(planner: RejectPlanner, rng: np.random.Generator, stamp_s: float = 0.0) -> JointState:
    """The arm part-way through a jerk-limited move from ready towards a random pose above the belt."""
    cell, robot, _ = arm()
    T = cell.T_base_belt
    p = T[:3, 3] + rng.uniform(-0.5, 0.5) * T[:3, 0] + rng.uniform(-0.1, 0.1) * T[:3, 1]
    p[2] += rng.uniform(0.05, 0.3)
    q_goal, ok = planner.ik.solve(p[None], planner.ready_branch, cell.arm.ready_q_rad[5], cell.arm.ready_q_rad)
    assert ok[0]
    otg = ruckig.Ruckig(6)
    inp = ruckig.InputParameter(6)
    inp.current_position = cell.arm.ready_q_rad
    inp.current_velocity = np.zeros(6)
    inp.current_acceleration = np.zeros(6)
    inp.target_position = q_goal[0]
    inp.target_velocity = np.zeros(6)
    inp.target_acceleration = np.zeros(6)
    inp.max_velocity, inp.max_acceleration, inp.max_jerk = planner.v_max, planner.a_max, planner.j_max
    traj = ruckig.Trajectory(6)
    otg.calculate(inp, traj)
    q, qd, qdd = traj.at_time(float(rng.uniform(0.2, 0.8) * traj.duration))
    return JointState(robot.joint_names, np.array(q), np.array(qd), np.array(qdd), stamp_s)
