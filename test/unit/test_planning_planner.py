"""The reject planner: every plan passes the independent checker; moving starts, replans,
several parts, impossible parts, obstacles and the time budget behave as a user expects."""

from __future__ import annotations

import numpy as np
import pytest
from planning_helpers import arm, make_checker, make_planner, moving_state, observation, rest_state

from factory_ai.planning.motion import RuckigSolver, duration_estimate
from factory_ai.types import JointState, JointTrajectory, RejectStatus


@pytest.fixture(scope="module")
def planner():
    return make_planner()


@pytest.fixture(scope="module")
def checker(planner):
    return make_checker(planner)


def _check(checker, planner, plan, state, obs):
    m = planner.part_motion(obs)
    return checker.check(plan.trajectory, state, m, plan.grasp_time_s, plan.suction_off_s)


@pytest.mark.parametrize("v_mps", [0.1, 0.3, 0.5])
@pytest.mark.parametrize("lateral_m", [-0.1, 0.0, 0.1])
def test_plans_from_rest_pass_the_checker(planner, checker, v_mps, lateral_m):
    planner.reset()
    state = rest_state()
    obs = observation(1, -0.5, lateral_m, v_mps)
    (plan,) = planner.plan(state, [obs], 0.0)
    assert plan.status == RejectStatus.PLANNED, plan.reason
    rep = _check(checker, planner, plan, state, obs)
    assert rep.ok, str(rep)
    assert rep.intercept_error_m <= 0.002
    # Suction on before contact, off after the grasp window, over the bin.
    assert plan.suction_on_s < plan.grasp_time_s < plan.suction_off_s
    p_grasp = planner.part_motion(obs).at(plan.grasp_time_s)
    assert np.linalg.norm(plan.p_grasp_base_m[:2] - p_grasp[:2]) < 1e-3
    # Sampled finely enough for a controller.
    assert np.max(np.diff(plan.trajectory.t_s)) <= planner.config.sample_dt_s + 1e-9


def test_limits_hold_from_moving_starts(planner, checker):
    rng = np.random.default_rng(7)
    for k in range(6):
        planner.reset()
        state = moving_state(planner, rng)
        assert np.abs(state.qd_radps).max() > 0.1 and np.abs(state.qdd_radps2).max() > 0.5
        obs = observation(k, rng.uniform(-0.7, -0.4), rng.uniform(-0.1, 0.1), rng.uniform(0.1, 0.5))
        (plan,) = planner.plan(state, [obs], 0.0)
        assert plan.status == RejectStatus.PLANNED, plan.reason
        rep = _check(checker, planner, plan, state, obs)
        assert rep.ok, str(rep)
        assert max(rep.start_jump) < 1e-6


def test_replan_mid_motion_has_no_jump_at_the_switch(planner, checker):
    planner.reset()
    state = rest_state()
    obs = observation(1, -0.6, 0.0, 0.3)
    (first,) = planner.plan(state, [obs], 0.0)
    # 0.4 s later, mid-approach, a fresher observation says the part is 1 cm further on.
    t_sw = 0.4
    tr = first.trajectory
    k = int(np.argmin(np.abs(tr.t_s - t_sw)))
    t_sw = float(tr.t_s[k])
    mid = JointState(tr.joint_names, tr.q_rad[k], tr.qd_radps[k], tr.qdd_radps2[k], t_sw)
    assert np.abs(mid.qd_radps).max() > 0.3  # really moving
    newer = observation(1, -0.6 + 0.3 * t_sw + 0.01, 0.0, 0.3, stamp_s=t_sw)
    (second,) = planner.plan(mid, [newer], t_sw)
    assert second.status == RejectStatus.PLANNED, second.reason
    new = second.trajectory
    assert new.start_stamp_s == pytest.approx(t_sw)
    np.testing.assert_allclose(new.q_rad[0], tr.q_rad[k], atol=1e-9)
    np.testing.assert_allclose(new.qd_radps[0], tr.qd_radps[k], atol=1e-9)
    np.testing.assert_allclose(new.qdd_radps2[0], tr.qdd_radps2[k], atol=1e-9)
    rep = _check(checker, planner, second, mid, newer)
    assert rep.ok, str(rep)
    # The grasp moved with the observation (1 cm further along = ~33 ms earlier).
    assert second.grasp_time_s != pytest.approx(first.grasp_time_s, abs=1e-4)


def test_warm_start_from_the_executing_plan(planner):
    """A replan with the measured state slightly off still starts from the plan's exact state."""
    planner.reset()
    obs = observation(3, -0.6, 0.0, 0.2)
    (first,) = planner.plan(rest_state(), [obs], 0.0)
    tr = first.trajectory
    k = 40
    noisy = JointState(tr.joint_names, tr.q_rad[k] + 1e-4, tr.qd_radps[k] * 1.01, tr.qdd_radps2[k] * 0.9, float(tr.t_s[k]))
    (again,) = planner.plan(noisy, [obs], float(tr.t_s[k]))
    np.testing.assert_allclose(again.trajectory.q_rad[0], tr.q_rad[k], atol=1e-9)
    np.testing.assert_allclose(again.trajectory.qd_radps[0], tr.qd_radps[k], atol=1e-9)
    # Nothing changed: the same intercept (to within a control tick).
    assert again.grasp_time_s == pytest.approx(first.grasp_time_s, abs=planner.config.sample_dt_s)


def test_several_parts_are_scheduled_earliest_deadline_first(planner, checker):
    planner.reset()
    state = rest_state()
    # Listed out of order; the most downstream part has the earliest deadline.
    obs = [observation(10, -0.75, 0.05, 0.15), observation(11, -0.35, -0.05, 0.15), observation(12, -0.55, 0.0, 0.15)]
    plans = planner.plan(state, obs, 0.0)
    assert [p.status for p in plans] == [RejectStatus.PLANNED] * 3, [p.reason for p in plans]
    assert [p.track_id for p in plans] == [11, 12, 10]
    prev_end, prev_state = None, state
    for p, o in zip(plans, [obs[1], obs[2], obs[0]]):
        tr = p.trajectory
        if prev_end is not None:
            # Each plan starts where (and when) the previous one ends.
            assert tr.start_stamp_s == pytest.approx(prev_end)
            np.testing.assert_allclose(tr.q_rad[0], prev_state.q_rad, atol=1e-9)
        rep = _check(checker, planner, p, prev_state, o)
        assert rep.ok, str(rep)
        # The grasp happens inside the part's pick window.
        lateral = float((planner.part_motion(o).p_ref_m - planner._belt_origin) @ planner._belt_lat)
        lo, hi = planner.pick_window(lateral, 0.15)
        s_grasp = float((planner.part_motion(o).at(p.grasp_time_s) - planner._belt_origin) @ planner._belt_dir)
        assert lo - 0.05 <= s_grasp <= hi + 0.2
        prev_end = tr.start_stamp_s + tr.t_s[-1]
        prev_state = JointState(tr.joint_names, tr.q_rad[-1], tr.qd_radps[-1], tr.qdd_radps2[-1], prev_end)


def test_a_part_that_would_miss_its_window_behind_others_is_taken_first(planner):
    """Two parts, the later deadline first in EDF would not leave time: the check reorders."""
    planner.reset()
    state = rest_state()
    a = observation(20, 0.05, 0.0, 0.25)  # near the window end: must go first
    b = observation(21, -0.7, 0.0, 0.25)
    plans = planner.plan(state, [b, a], 0.0)
    planned = [p.track_id for p in plans if p.status == RejectStatus.PLANNED]
    assert planned[0] == 20
    assert all(p.status == RejectStatus.PLANNED or p.reason for p in plans)


@pytest.mark.parametrize(
    ("obs_kwargs", "reason"),
    [
        ({"s_m": -0.5, "v_mps": 0.9}, "too fast"),
        ({"s_m": 0.9, "v_mps": 0.3}, "outside the pick window"),
        ({"s_m": -0.5, "lateral_m": 0.6, "v_mps": 0.3}, "unreachable"),
    ],
)
def test_impossible_parts_get_cannot_reject_with_a_reason(planner, obs_kwargs, reason):
    planner.reset()
    (plan,) = planner.plan(rest_state(), [observation(5, **obs_kwargs)], 0.0)
    assert plan.status == RejectStatus.CANNOT_REJECT
    assert reason in plan.reason
    assert plan.trajectory is None


def test_nan_observation_and_nan_state(planner):
    planner.reset()
    bad = observation(6, -0.5)
    bad = type(bad)(6, 0.0, np.array([np.nan, 0.45, 0.01]), 0.0, bad.v_base_mps, bad.bbox_px)
    good = observation(7, -0.5)
    plans = planner.plan(rest_state(), [bad, good], 0.0)
    by_id = {p.track_id: p for p in plans}
    assert by_id[6].status == RejectStatus.CANNOT_REJECT and "invalid observation" in by_id[6].reason
    assert by_id[7].status == RejectStatus.PLANNED
    state = rest_state()
    nan_state = JointState(state.names, state.q_rad * np.nan, state.qd_radps, state.qdd_radps2)
    with pytest.raises(ValueError, match="NaN"):
        planner.plan(nan_state, [good], 0.0)


def test_a_box_across_the_path_is_avoided_or_refused():
    planner = make_planner()
    checker = make_checker(planner)
    obs = observation(8, -0.5, 0.0, 0.2)
    (free,) = planner.plan(rest_state(), [obs], 0.0)
    # A box right where the free plan's cup passes, mid-approach.
    tr = free.trajectory
    k = int(np.searchsorted(tr.t_s, 0.5 * (free.grasp_time_s - tr.start_stamp_s)))
    T = np.eye(4)
    T[:3, 3] = planner.robot.fk(tr.q_rad[k])[:3, 3]
    planner.collision.add_obstacle("crate", "box", T, (0.12, 0.12, 0.12))
    try:
        planner.reset()
        (plan,) = planner.plan(rest_state(), [obs], 0.0)
        if plan.status == RejectStatus.PLANNED:
            rep = _check(checker, planner, plan, rest_state(), obs)
            assert rep.ok, str(rep)
            assert rep.min_clearance_m >= checker.config.margin_m
        else:
            assert "collision" in plan.reason
        # Either way the checker flags the old plan as colliding now.
        assert not _check(checker, planner, free, rest_state(), obs).ok
    finally:
        planner.collision.remove_obstacle("crate")


def test_the_checker_catches_broken_trajectories(planner, checker):
    planner.reset()
    state = rest_state()
    obs = observation(9, -0.5, 0.0, 0.3)
    (plan,) = planner.plan(state, [obs], 0.0)
    tr = plan.trajectory
    m = planner.part_motion(obs)

    def variant(**kw):
        fields = dict(joint_names=tr.joint_names, t_s=tr.t_s, q_rad=tr.q_rad, qd_radps=tr.qd_radps, qdd_radps2=tr.qdd_radps2, start_stamp_s=tr.start_stamp_s)
        fields.update(kw)
        return JointTrajectory(**fields)

    # Twice as fast: velocity, acceleration and jerk over the limits.
    fast = variant(t_s=tr.t_s / 2, qd_radps=tr.qd_radps * 2, qdd_radps2=tr.qdd_radps2 * 4)
    rep = checker.check(fast, state)
    assert not rep.ok and any("velocity limit" in f for f in rep.failures)
    # A jump at the start.
    jump = variant(q_rad=tr.q_rad + np.array([0.05, 0, 0, 0, 0, 0]))
    rep = checker.check(jump, state)
    assert not rep.ok and any("start position jump" in f for f in rep.failures)
    # Through the conveyor: push the elbow down mid-trajectory.
    q = tr.q_rad.copy()
    n = len(q)
    bump = np.sin(np.linspace(0, np.pi, n))[:, None] * np.array([0.0, 0.9, 0.0, 0.0, 0.0, 0.0])
    rep = checker.check(variant(q_rad=q + bump), state)
    assert not rep.ok and any("collision" in f for f in rep.failures)
    # Late by 50 ms: the intercept misses.
    rep = checker.check(variant(start_stamp_s=tr.start_stamp_s + 0.05), None, m, plan.grasp_time_s)
    assert not rep.ok and any("intercept error" in f for f in rep.failures)
    # The original passes.
    assert checker.check(tr, state, m, plan.grasp_time_s, plan.suction_off_s).ok


def test_corrections_shift_the_intercept(planner):
    planner.reset()
    obs = observation(30, -0.5, 0.0, 0.3)
    (base,) = planner.plan(rest_state(), [obs], 0.0)
    try:
        planner.set_corrections(camera_offset_m=np.array([0.0, 0.01, 0.0]))
        planner.reset()
        (shifted,) = planner.plan(rest_state(), [obs], 0.0)
        m0 = planner.part_motion(obs)
        assert m0.p_ref_m[1] == pytest.approx(obs.p_base_m[1] + 0.01)
        assert shifted.p_grasp_base_m[1] == pytest.approx(base.p_grasp_base_m[1] + 0.01, abs=1e-6)
        c = planner.set_corrections(latency_s=9.0, belt_speed_scale=0.1)  # clamped, logged
        assert c.latency_s == 0.5 and c.belt_speed_scale == 0.7
        with pytest.raises(ValueError, match="latency_s"):
            planner.set_corrections(latency_s=float("nan"))
    finally:
        planner.set_corrections(camera_offset_m=np.zeros(3), latency_s=0.0, belt_speed_scale=1.0)


def test_time_budget_gives_an_answer_not_a_late_plan():
    planner = make_planner(time_budget_s=1e-6, time_budget_per_extra_s=0.0)
    plans = planner.plan(rest_state(), [observation(40, -0.5), observation(41, -0.6)], 0.0)
    assert len(plans) == 2
    for p in plans:
        assert p.status == RejectStatus.CANNOT_REJECT and "budget" in p.reason


def test_duration_estimate_ranks_like_ruckig():
    _, _, limits = arm()
    solver = RuckigSolver(limits.v_max, limits.a_max, limits.j_max)
    rng = np.random.default_rng(4)
    est, true = [], []
    for _ in range(100):
        q0, q1 = rng.uniform(-2, 2, 6), rng.uniform(-2, 2, 6)
        v0, a0, v1 = rng.uniform(-1, 1, 6), rng.uniform(-3, 3, 6), rng.uniform(-0.3, 0.3, 6)
        est.append(float(duration_estimate(q0, v0, a0, q1, v1, limits.v_max, limits.a_max, limits.j_max)))
        true.append(solver.min_duration(q0, v0, a0, q1, v1, np.zeros(6)))
    ratio = np.array(est) / np.array(true)
    assert np.all((ratio > 0.7) & (ratio < 1.3))
    seg = solver.solve(q0, v0, a0, q1, v1, np.zeros(6))
    q, qd, qdd = seg.sample(np.array([0.0, seg.duration]))
    np.testing.assert_allclose(q[0], q0, atol=1e-9)
    np.testing.assert_allclose(q[1], q1, atol=1e-9)
    np.testing.assert_allclose(qd[1], v1, atol=1e-9)


def test_grasps_stay_in_the_cells_pick_zone_out_of_the_camera_view(planner):
    """The arm must not pick where the camera looks: it would hide parts or be seen as one."""
    zone_lo, zone_hi = planner.cell.conveyor.pick_zone_m
    for lateral in (-0.1, 0.0, 0.1):
        for v in (0.1, 0.3, 0.5):
            win = planner.pick_window(lateral, v)
            assert win is not None
            assert zone_lo <= win[0] < win[1] <= zone_hi
    plan = planner.plan(rest_state(), [observation(1, s_m=-0.45, v_mps=0.3)], now_s=0.0)[0]
    assert plan.status == RejectStatus.PLANNED
    assert plan.p_grasp_base_m[0] >= zone_lo - 1e-6
