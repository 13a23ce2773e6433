"""The simulated joint_trajectory_controller: validation, interpolation, replacement."""

import numpy as np
import pytest

from factory_ai.sim.controller import (
    ControllerLimits,
    TrajectoryController,
    evaluate_quintic,
    quintic_coefficients,
)
from factory_ai.sim.types import TrajectoryError
from factory_ai.types import JointTrajectory

NAMES = ("a", "b", "c")


def _limits():
    n = len(NAMES)
    return ControllerLimits(NAMES, np.full(n, -3.0), np.full(n, 3.0), np.full(n, 2.0), np.full(n, 10.0))


def _move(q1, t_end=1.0, names=NAMES, start=0.0):
    t = np.array([0.0, t_end])
    q = np.vstack([np.zeros(len(names)), q1])
    return JointTrajectory(tuple(names), t, q, np.zeros_like(q), np.zeros_like(q), start)


def test_quintic_meets_positions_velocities_accelerations_at_the_points():
    rng = np.random.default_rng(0)
    t = np.array([0.0, 0.4, 1.1, 1.5])
    q, qd, qdd = rng.normal(size=(3, 4, 2))
    coeffs = quintic_coefficients(t, q, qd, qdd)
    eq, eqd, eqdd = evaluate_quintic(t, coeffs, t[:-1])
    assert np.allclose(eq, q[:-1]) and np.allclose(eqd, qd[:-1]) and np.allclose(eqdd, qdd[:-1])
    end = coeffs[-1]
    h = t[-1] - t[-2]
    powers = h ** np.arange(6)
    assert np.allclose(powers @ end, q[-1])
    assert np.allclose((np.arange(1, 6) * h ** np.arange(5)) @ end[1:], qd[-1])


@pytest.mark.parametrize(
    ("names", "match"),
    [(("a", "b"), "missing"), (("a", "b", "c", "d"), "unknown"), (("a", "b", "x"), "unknown"), (("a", "a", "b"), "twice")],
)
def test_wrong_joint_names_are_refused_with_the_culprit(names, match):
    ctrl = TrajectoryController(_limits())
    with pytest.raises(TrajectoryError, match=match):
        ctrl.execute(_move(np.full(len(names), 0.1), names=names), now_s=0.0)


@pytest.mark.parametrize(
    ("q1", "t_end", "match"),
    [(np.array([3.5, 0.0, 0.0]), 5.0, "position"), (np.array([1.9, 0.0, 0.0]), 0.4, "velocity")],
)
def test_limit_violations_are_refused(q1, t_end, match):
    ctrl = TrajectoryController(_limits())
    with pytest.raises(TrajectoryError, match=match):
        ctrl.execute(_move(q1, t_end), now_s=0.0)


def test_acceleration_over_the_limit_is_refused():
    ctrl = TrajectoryController(_limits())
    traj = JointTrajectory(NAMES, np.array([0.0, 1.0]), np.zeros((2, 3)), np.zeros((2, 3)),
                           np.array([[0.0, 0.0, 0.0], [0.0, 20.0, 0.0]]))
    with pytest.raises(TrajectoryError, match="b acceleration"):
        ctrl.execute(traj, now_s=0.0)


def test_joint_order_is_mapped_by_name():
    a, b = TrajectoryController(_limits()), TrajectoryController(_limits())
    a.execute(_move(np.array([0.1, 0.2, 0.3])), 0.0)
    b.execute(_move(np.array([0.3, 0.2, 0.1]), names=("c", "b", "a")), 0.0)
    t = np.linspace(0, 1.2, 13)
    assert np.allclose(a.reference(t)[0], b.reference(t)[0])


def test_replacing_mid_motion_starts_from_the_commanded_state():
    ctrl = TrajectoryController(_limits())
    ctrl.execute(_move(np.array([1.0, -1.0, 0.5]), 1.0), 0.0)
    q_before, qd_before, _ = ctrl.reference(0.4)
    ctrl.execute(_move(np.array([-0.5, 0.5, 0.0]), 2.0, start=0.0), 0.4)  # its t=0 is in the past
    q_after, qd_after, _ = ctrl.reference(0.4)
    assert np.allclose(q_before, q_after) and np.allclose(qd_before, qd_after)
    assert np.allclose(ctrl.reference(2.5)[0], [-0.5, 0.5, 0.0])


def test_holds_the_last_point_after_the_end():
    ctrl = TrajectoryController(_limits())
    ctrl.execute(_move(np.array([0.2, 0.0, -0.2]), 0.5), 0.0)
    q, qd, qdd = ctrl.reference(np.array([0.6, 5.0]))
    assert np.allclose(q, [0.2, 0.0, -0.2]) and np.allclose(qd, 0.0) and np.allclose(qdd, 0.0)


def test_a_trajectory_entirely_in_the_past_is_refused():
    ctrl = TrajectoryController(_limits())
    with pytest.raises(TrajectoryError, match="nothing to execute"):
        ctrl.execute(_move(np.array([0.1, 0.1, 0.1]), 0.5, start=1.0), now_s=3.0)
