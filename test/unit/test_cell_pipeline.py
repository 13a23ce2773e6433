"""The pipeline's promise: a doubtful or defective part ends in the bin or as an explicit alarm."""

from __future__ import annotations

import numpy as np

from factory_ai.cell.pipeline import CellPipeline, PipelineConfig
from factory_ai.types import (
    DefectType,
    DefectVerdict,
    JointState,
    JointTrajectory,
    PartObservation,
    RejectPlan,
    RejectStatus,
)

NAMES = tuple(f"j{i}" for i in range(6))


def _obs(tid: int, stamp: float = 0.0) -> PartObservation:
    return PartObservation(tid, stamp, np.array([-0.5, 0.45, 0.01]), 0.0, np.array([0.2, 0, 0]), (0, 0, 10, 10),
                           crop=np.zeros((8, 8, 3), np.uint8))


class FakeTracker:
    def __init__(self, frames):
        self.frames = frames

    def update(self, rgb, stamp_s):
        if rgb.size == 0:
            msg = "image is empty"
            raise ValueError(msg)
        return self.frames.pop(0) if self.frames else []


class FakeClassifier:
    def __init__(self, p):
        self.p = p

    def classify(self, crops, track_ids, stamp_s):
        out = []
        for tid in track_ids:
            p = self.p[tid]
            out.append(DefectVerdict(tid, stamp_s, p, DefectType.CRACK if p > 0.5 else DefectType.OK, p, p,
                                     reject=p > 0.5, uncertain=0.4 < p <= 0.5))
        return out


def _traj(t0):
    t = np.array([0.0, 1.0])
    z = np.zeros((2, 6))
    return JointTrajectory(NAMES, t, z, z, z, start_stamp_s=t0)


class FakePlanner:
    def __init__(self, reachable=True):
        self.reachable = reachable
        self.calls = 0

    def plan(self, state, targets, now_s, latency_s=0.0):
        self.calls += 1
        out = []
        for o in targets:
            if self.reachable:
                out.append(RejectPlan(o.track_id, RejectStatus.PLANNED, _traj(now_s), grasp_time_s=now_s + 1.0,
                                      suction_on_s=now_s + 0.9, suction_off_s=now_s + 2.0))
            else:
                out.append(RejectPlan(o.track_id, RejectStatus.CANNOT_REJECT, reason="outside pick window"))
        return out


STATE = JointState(NAMES, np.zeros(6), np.zeros(6), np.zeros(6))
RGB = np.zeros((4, 4, 3), np.uint8)


def _run(pipe, t_end, held_fn):
    events = []
    t = 0.0
    while t < t_end:
        c = pipe.tick(t, STATE, True, held_fn(t))
        events.append((t, c))
        t = round(t + 0.01, 6)
    return events


def test_defective_part_is_planned_picked_and_released_over_the_bin():
    pipe = CellPipeline(FakeTracker([[_obs(1)]]), FakeClassifier({1: 0.9}), FakePlanner())
    pipe.on_frame(RGB, 0.0)
    ev = _run(pipe, 2.5, lambda t: 1.0 <= t < 2.0)
    assert any(c.trajectory is not None for _, c in ev)
    assert [t for t, c in ev if c.suction_on is True][0] >= 0.9
    released = [t for t, c in ev if c.released]
    assert released and released[0] >= 2.0
    assert not pipe.alarms


def test_good_part_is_left_alone():
    planner = FakePlanner()
    pipe = CellPipeline(FakeTracker([[_obs(1)]]), FakeClassifier({1: 0.05}), planner)
    pipe.on_frame(RGB, 0.0)
    ev = _run(pipe, 1.0, lambda t: False)
    assert planner.calls == 0 and all(c.trajectory is None for _, c in ev)


def test_unreachable_defect_raises_cannot_reject_alarm_with_part_id():
    pipe = CellPipeline(FakeTracker([[_obs(7)]]), FakeClassifier({7: 0.95}), FakePlanner(reachable=False))
    pipe.on_frame(RGB, 0.0)
    _run(pipe, 0.1, lambda t: False)
    assert [(a.track_id, a.kind) for a in pipe.alarms] == [(7, "cannot_reject")]


def test_two_missed_picks_raise_pick_failed_twice():
    pipe = CellPipeline(FakeTracker([[_obs(3)]]), FakeClassifier({3: 0.9}), FakePlanner(),
                        config=PipelineConfig(max_pick_attempts=2))
    pipe.on_frame(RGB, 0.0)
    ev = _run(pipe, 4.0, lambda t: False)  # vacuum never holds the part
    assert sum(len(c.pick_failures) for _, c in ev) == 2
    assert [(a.track_id, a.kind) for a in pipe.alarms] == [(3, "pick_failed_twice")]


def test_uncertain_verdict_is_rejected_and_flagged_not_passed():
    pipe = CellPipeline(FakeTracker([[_obs(4)]]), FakeClassifier({4: 0.45}), FakePlanner())
    pipe.on_frame(RGB, 0.0)
    assert [(a.track_id, a.kind) for a in pipe.alarms] == [(4, "uncertain_verdict")]
    assert 4 in pipe.scheduler.pending


def test_corrupt_frame_is_an_alarm_and_the_pipeline_keeps_going():
    pipe = CellPipeline(FakeTracker([[_obs(5)]]), FakeClassifier({5: 0.9}), FakePlanner())
    obs, verdicts, alarms = pipe.on_frame(np.zeros((0, 0, 3), np.uint8), 0.0)
    assert obs == [] and [a.kind for a in alarms] == ["bad_input"]
    obs, verdicts, _ = pipe.on_frame(RGB, 0.1)
    assert [v.track_id for v in verdicts] == [5]
