"""Numerical IK: success on random reachable targets (the issue's acceptance figures), joint
limits, clean failure on unreachable targets, clear errors on malformed input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from robot_helpers import ARM_URDF, SEVEN_DOF_BASE, SEVEN_DOF_TIP, seven_dof_urdf
from scipy.spatial.transform import Rotation

from factory_ai.robot import IKOptions, RobotModel

POS_TOL_M = 1e-4  # acceptance: 0.1 mm
ROT_TOL_RAD = math.radians(0.1)  # acceptance: 0.1 deg


@pytest.fixture(scope="module")
def arm() -> RobotModel:
    return RobotModel.from_urdf(ARM_URDF)


@pytest.fixture(scope="module")
def arm7() -> RobotModel:
    return RobotModel.from_urdf(seven_dof_urdf(), base_frame=SEVEN_DOF_BASE, tip_frame=SEVEN_DOF_TIP)


def _targets(model: RobotModel, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Reachable targets: FK of joint states drawn uniformly within the limits."""
    q = model.random_q(n, rng=seed)
    return q, np.stack([model.fk(x) for x in q])


def _solved(model: RobotModel, T: np.ndarray, q: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Which solutions really reach their target (checked by FK, not by the solver's own numbers)."""
    T_sol = np.stack([model.fk(x) for x in q])
    p_err = np.linalg.norm(T_sol[:, :3, 3] - T[:, :3, 3], axis=-1)
    r_err = Rotation.from_matrix(np.swapaxes(T_sol[:, :3, :3], -1, -2) @ T[:, :3, :3]).magnitude()
    return ok & (p_err <= POS_TOL_M) & (r_err <= ROT_TOL_RAD) & model.within_limits(q)


def test_batched_ik_solves_999_per_mille_of_10000_targets_on_the_arm(arm: RobotModel) -> None:
    _, T = _targets(arm, 10_000, seed=11)
    res = arm.ik_batch(T, rng=0)
    solved = _solved(arm, T, res.q_rad, res.success)
    assert solved.mean() >= 0.999, f"solved {solved.mean():.4%}"
    assert np.array_equal(solved, res.success)  # the solver's verdict is honest


def test_single_ik_solves_999_per_mille_on_the_arm(arm: RobotModel) -> None:
    _, T = _targets(arm, 2_000, seed=12)
    results = [arm.ik(Ti, rng=i) for i, Ti in enumerate(T)]
    q = np.stack([r.q_rad for r in results])
    solved = _solved(arm, T, q, np.array([r.success for r in results]))
    assert solved.mean() >= 0.999, f"solved {solved.mean():.4%}"


@pytest.mark.slow
def test_single_ik_solves_999_per_mille_of_10000_targets_on_the_arm(arm: RobotModel) -> None:
    _, T = _targets(arm, 10_000, seed=13)
    results = [arm.ik(Ti, rng=i) for i, Ti in enumerate(T)]
    q = np.stack([r.q_rad for r in results])
    solved = _solved(arm, T, q, np.array([r.success for r in results]))
    assert solved.mean() >= 0.999, f"solved {solved.mean():.4%}"


def test_ik_solves_99_percent_of_10000_targets_on_the_7dof_arm_within_its_limits(arm7: RobotModel) -> None:
    _, T = _targets(arm7, 10_000, seed=14)
    res = arm7.ik_batch(T, rng=0)
    solved = _solved(arm7, T, res.q_rad, res.success)
    assert solved.mean() >= 0.99, f"batched: solved {solved.mean():.4%}"
    assert np.all(arm7.within_limits(res.q_rad))
    assert np.all(np.abs(res.q_rad[:, 6]) <= math.pi)  # continuous joint reported in [-pi, pi]
    results = [arm7.ik(Ti, rng=i) for i, Ti in enumerate(T[:500])]
    q = np.stack([r.q_rad for r in results])
    solved = _solved(arm7, T[:500], q, np.array([r.success for r in results]))
    assert solved.mean() >= 0.99, f"single: solved {solved.mean():.4%}"


def test_seeded_ik_stays_near_a_nearby_seed(arm: RobotModel) -> None:
    """What the planner relies on: a seed close to a solution returns that solution, quickly."""
    q_true, T = _targets(arm, 300, seed=16)
    noise = np.random.default_rng(0).normal(0.0, 0.03, q_true.shape)
    results = [arm.ik(T[i], q_seed=np.clip(q_true[i] + noise[i], arm.q_min_rad, arm.q_max_rad)) for i in range(300)]
    assert all(r.success for r in results)
    near = [np.abs(r.q_rad - q_true[i]).max() < 0.2 for i, r in enumerate(results)]
    assert np.mean(near) >= 0.98
    assert np.median([r.starts for r in results]) == 1


def test_unreachable_target_returns_failure_not_exception(arm: RobotModel, arm7: RobotModel) -> None:
    far = np.eye(4)
    far[:3, 3] = [2.0, 0.0, 0.3]  # beyond the 0.85 m reach
    res = arm.ik(far, options=IKOptions(max_starts=5))
    assert not res.success
    assert res.pos_err_m > 0.5
    assert "no solution" in res.message
    assert arm.within_limits(res.q_rad)
    batch = arm7.ik_batch(np.stack([far, arm7.fk(np.full(7, -0.5))]))
    assert batch.success.tolist() == [False, True]
    assert batch[0].success is False and batch[1].success is True


def test_ik_is_deterministic_for_a_given_rng(arm: RobotModel) -> None:
    _, T = _targets(arm, 20, seed=17)
    a, b = arm.ik_batch(T, rng=3), arm.ik_batch(T, rng=3)
    np.testing.assert_array_equal(a.q_rad, b.q_rad)
    np.testing.assert_array_equal(arm.ik(T[0], rng=5).q_rad, arm.ik(T[0], rng=5).q_rad)


def test_ik_batch_accepts_seeds_per_target(arm: RobotModel) -> None:
    q_true, T = _targets(arm, 50, seed=18)
    one = arm.ik_batch(T, q_seeds=q_true)
    assert one.success.all() and one.starts.max() == 1
    np.testing.assert_allclose(one.q_rad, q_true, atol=1e-6)
    many = arm.ik_batch(T, q_seeds=np.stack([arm.random_q(50, rng=1), q_true], axis=1))
    assert many.success.all()
    with pytest.raises(ValueError, match="q_seeds must have shape"):
        arm.ik_batch(T, q_seeds=np.zeros((49, 6)))


@pytest.mark.parametrize(
    ("T_bad", "needle"),
    [
        (np.full((4, 4), np.nan), "T_base_target contains NaN"),
        (np.eye(3), r"T_base_target must have shape \(4, 4\)"),
        (np.diag([1.0, 1.0, -1.0, 1.0]), "T_base_target is not a rigid transform"),
        (np.diag([2.0, 1.0, 1.0, 1.0]), "T_base_target is not a rigid transform"),
    ],
)
def test_malformed_target_raises_value_error_naming_it(arm: RobotModel, T_bad: np.ndarray, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        arm.ik(T_bad)
    with pytest.raises(ValueError, match=needle.replace(r"\(4, 4\)", r"\(B, 4, 4\)")):
        arm.ik_batch(T_bad[None] if T_bad.shape == (4, 4) else T_bad)


def test_malformed_seed_raises_value_error_naming_it(arm: RobotModel) -> None:
    with pytest.raises(ValueError, match="q_seed contains NaN"):
        arm.ik(np.eye(4), q_seed=[0, 0, math.nan, 0, 0, 0])
    with pytest.raises(ValueError, match=r"q_seed must have shape \(6,\)"):
        arm.ik(np.eye(4), q_seed=np.zeros(7))
    with pytest.raises(ValueError, match="IKOptions.pos_tol_m"):
        IKOptions(pos_tol_m=-1.0)


def test_rotation_error_is_exact_up_to_half_a_turn() -> None:
    """The batched solver's rotation error must stay right near 180 deg, where targets start."""
    from factory_ai.robot.ik import log3_batch

    rng = np.random.default_rng(0)
    axis = rng.normal(size=(2000, 3))
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    angle = np.concatenate([rng.uniform(0.0, math.pi, 1000), math.pi - 10.0 ** rng.uniform(-12, -1, 1000)])
    R = Rotation.from_rotvec(axis * angle[:, None]).as_matrix()
    w = log3_batch(R)
    np.testing.assert_allclose(Rotation.from_rotvec(w).as_matrix(), R, atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(w, axis=1), angle, atol=1e-12)
