"""The twin's arm controller: tracking, replacement mid-motion, refusals."""

import mujoco
import numpy as np
import pytest
from sim_helpers import cup_down_ik, min_jerk_trajectory, quiet_config

from factory_ai.sim import CellSim, TrajectoryError
from factory_ai.sim.scene import ARM_PREFIX
from factory_ai.types import JointTrajectory


@pytest.fixture(scope="module")
def sim(cell):
    s = CellSim(cell, quiet_config())
    yield s
    s.close()


def _cup_world(sim, q):
    d = mujoco.MjData(sim.model)
    d.qpos[sim._arm_qadr] = q
    mujoco.mj_kinematics(sim.model, d)
    return d.xpos[sim.model.body(ARM_PREFIX + "suction_cup").id].copy()


def test_trajectory_to_a_target_is_tracked_to_2mm(sim):
    sim.reset(0)
    target = cup_down_ik(sim, [0.15, 0.5, 0.12])
    traj = min_jerk_trajectory(sim.joint_names, sim.joint_state().q_rad, target, 1.2)
    sim.execute(traj)
    err = []
    for _ in range(60):
        sim.step(0.02)
        err.append(np.abs(sim.commanded_state().q_rad - sim.joint_state().q_rad).max())
    assert max(err) > 1e-5  # a real servo lags
    cup = sim.T_world_frame("suction_cup")[:3, 3]
    assert np.linalg.norm(cup - _cup_world(sim, target)) <= 0.002


def test_replacing_a_trajectory_mid_motion_causes_no_jump(sim):
    sim.reset(0)
    q0 = sim.joint_state().q_rad
    sim.execute(min_jerk_trajectory(sim.joint_names, q0, cup_down_ik(sim, [0.2, 0.45, 0.1]), 1.5))
    qs = []
    for k in range(300):  # 0.6 s at 2 ms
        if k == 200:
            before = sim.commanded_state()
            new_target = cup_down_ik(sim, [-0.1, 0.5, 0.15])
            sim.execute(min_jerk_trajectory(sim.joint_names, before.q_rad, new_target, 1.5))
            after = sim.commanded_state()
            assert np.allclose(before.q_rad, after.q_rad) and np.allclose(before.qd_radps, after.qd_radps)
        sim.step(0.002)
        qs.append(sim.joint_state().q_rad)
    dq = np.abs(np.diff(np.array(qs), axis=0)).max(axis=1)
    # Per-step motion around the switch is no bigger than just before it (no jump).
    assert dq[199:205].max() <= 1.5 * dq[190:199].max() + 1e-6
    assert dq.max() <= 3.15 * 0.002 * 1.2  # never faster than the joints' velocity limit


def test_bad_trajectories_are_refused_and_the_arm_holds(sim):
    sim.reset(0)
    q = sim.joint_state().q_rad
    names = list(sim.joint_names)
    with pytest.raises(TrajectoryError, match="unknown"):
        sim.execute(JointTrajectory(tuple(names[:5] + ["gripper_joint"]), np.array([1.0]), q[None], np.zeros((1, 6)),
                                    np.zeros((1, 6))))
    too_fast = q.copy()
    too_fast[0] += 2.0
    with pytest.raises(TrajectoryError, match="velocity"):
        sim.execute(min_jerk_trajectory(sim.joint_names, q, too_fast, 0.3))
    sim.step(0.2)
    assert np.abs(sim.joint_state().q_rad - q).max() < 1e-3


def test_joint_order_of_a_trajectory_is_mapped_by_name(sim):
    sim.reset(0)
    q0 = sim.joint_state().q_rad
    target = q0 + np.array([0.2, -0.1, 0.1, 0.0, 0.1, -0.2])
    traj = min_jerk_trajectory(sim.joint_names, q0, target, 0.8)
    order = np.arange(6)[::-1]
    reversed_traj = JointTrajectory(tuple(np.array(sim.joint_names)[order]), traj.t_s, traj.q_rad[:, order],
                                    traj.qd_radps[:, order], traj.qdd_radps2[:, order])
    sim.execute(reversed_traj)
    sim.step(1.2)
    assert np.allclose(sim.joint_state().q_rad, target, atol=1e-3)
    assert sim.joint_state().names == tuple(sim.joint_names)
