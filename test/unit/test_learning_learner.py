"""Feedback learner: gated promotion, rollback, threshold updates from labels, cheap no-op updates."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch
from learning_helpers import SabotagedModel, TinyLogisticModel, make_crops, trained_model

from factory_ai.learning import (
    FeedbackLearner,
    LearnerConfig,
    LearnerError,
    ModelStatus,
    ReplayConfig,
    evaluate_scores,
    promotion_gate,
)
from factory_ai.types import DefectType, DefectVerdict, InspectionLabel

FAST = LearnerConfig(replay=ReplayConfig(finetune_every_labels=40, min_train_defects=6, min_holdout_defects=3))


def stream(learner: FeedbackLearner, n: int, seed: int, kinds: tuple[str, ...], start: int = 0) -> list:
    """n parts through the learner: verdict by the live model, then the downstream label."""
    rng = np.random.default_rng(seed)
    crops, defective = make_crops(rng, n, 0.3, kinds)
    reports = []
    for i in range(n):
        tid = start + i
        p = float(learner.live_model.scores([crops[i]])[0])
        learner.record_verdict(DefectVerdict(tid, tid, p, DefectType.OK, p, p, p >= learner.threshold), crops[i])
        learner.record_label(InspectionLabel(tid, tid + 3.0, bool(defective[i])))
        reports.append(learner.maybe_update())
    return reports


def escape_rate_on(model: TinyLogisticModel, kinds: tuple[str, ...], threshold: float) -> float:
    crops, defective = make_crops(np.random.default_rng(99), 600, 0.5, kinds)
    return evaluate_scores(model.scores(crops), defective, threshold).escape_rate


def test_better_candidate_is_promoted_after_a_new_defect_type(tmp_path: Path) -> None:
    # The shipped model knows bright spots; dark scratches appear: fine-tuning must learn them.
    learner = FeedbackLearner(tmp_path / "l.db", initial_model=trained_model(0), config=FAST)
    first = learner.live_version
    before = escape_rate_on(learner.live_model, ("scratch",), learner.threshold)
    reports = stream(learner, 160, seed=1, kinds=("spot", "scratch"))
    promoted = [r.finetune for r in reports if r.promoted]
    assert promoted, [r.finetune for r in reports if r.finetune]
    assert learner.live_version > first
    assert learner.store.model_version(learner.live_version).status is ModelStatus.LIVE
    after = escape_rate_on(learner.live_model, ("scratch",), learner.threshold)
    print(f"scratch escape rate: shipped {before:.3f} -> live v{learner.live_version} {after:.3f}")
    assert after < before
    gate = promoted[-1].gate
    assert gate.candidate.auroc >= gate.live.auroc - FAST.gate.auroc_tolerance


def test_worse_candidate_is_rejected(tmp_path: Path) -> None:
    good = trained_model(0)
    model = SabotagedModel(good.weight, float(good.bias), 0.5, "sabotage-prone")
    learner = FeedbackLearner(tmp_path / "l.db", initial_model=model, load_model=SabotagedModel.load, config=FAST)
    live = learner.live_version
    reports = stream(learner, 120, seed=2, kinds=("spot",))
    tried = [r.finetune for r in reports if r.finetune is not None]
    assert tried, "no fine-tune was attempted"
    assert not any(f.promoted for f in tried)
    assert learner.live_version == live
    for f in tried:
        mv = learner.store.model_version(f.candidate_version)
        assert mv.status is ModelStatus.REJECTED
        assert mv.metrics["gate"]["reasons"]
        assert not (learner.model_dir / mv.file).exists()  # rejected files are not kept


def test_gate_tolerances() -> None:
    rng = np.random.default_rng(0)
    d = rng.random(400) < 0.2
    live = evaluate_scores(np.where(d, 0.9, 0.1) + rng.normal(0, 0.05, 400), d, 0.5)
    same = evaluate_scores(np.where(d, 0.9, 0.1) + rng.normal(0, 0.05, 400), d, 0.5)
    missing = evaluate_scores(np.where(d & (np.arange(400) % 5 == 0), 0.3, np.where(d, 0.9, 0.1)), d, 0.5)
    assert promotion_gate(live, same).promote
    refused = promotion_gate(live, missing)
    assert not refused.promote
    assert any("escape" in r for r in refused.reasons)


def test_rollback_restores_the_previous_model(tmp_path: Path) -> None:
    learner = FeedbackLearner(tmp_path / "l.db", initial_model=trained_model(0))
    first = learner.live_version
    crops, _ = make_crops(np.random.default_rng(0), 20, 0.5)
    s_first = learner.live_model.scores(crops)
    cand = TinyLogisticModel(torch.tensor([1.0, -1.0, 0.5, 0.5]), -1.0, version="next")
    mv = learner.register_candidate(cand, parent=first)
    learner.promote(mv.version, cand)
    assert learner.live_version == mv.version

    assert learner.rollback() == first
    np.testing.assert_allclose(learner.live_model.scores(crops), s_first)
    assert learner.store.model_version(mv.version).status is ModelStatus.ROLLED_BACK
    learner.close()
    again = FeedbackLearner(tmp_path / "l.db", load_model=TinyLogisticModel.load)
    assert again.live_version == first  # the rollback is persistent
    with pytest.raises(LearnerError, match="no previous"):
        again.rollback()


def test_threshold_follows_escapes_and_is_persisted(tmp_path: Path) -> None:
    learner = FeedbackLearner(tmp_path / "l.db", initial_model=trained_model(0), config=LearnerConfig(
        replay=ReplayConfig(finetune_every_labels=10**6, finetune_on_escapes=10**6)))  # threshold only
    learner.live_model.set_threshold(0.9)
    learner.update_threshold()  # nothing labelled yet: holds
    start = learner.threshold
    stream(learner, 120, seed=3, kinds=("spot", "scratch"))  # scratches score low: escapes
    history = learner.store.threshold_history()
    assert learner.threshold < start
    assert history[-1][2] == learner.threshold
    assert all(h[3]["reason"] in ("hold", "escapes", "floor", "certified", "no_labels") for h in history)
    assert learner.live_model.threshold == learner.threshold


def test_maybe_update_is_cheap_when_nothing_is_due(tmp_path: Path) -> None:
    learner = FeedbackLearner(tmp_path / "l.db", initial_model=trained_model(0))
    stream(learner, 12, seed=4, kinds=("spot",))
    t0 = time.perf_counter()
    for _ in range(100):
        report = learner.maybe_update()
    per_call_ms = (time.perf_counter() - t0) * 10.0
    print(f"maybe_update with nothing due: {per_call_ms:.3f} ms per call")
    assert report.threshold is None
    assert report.finetune is None
    assert per_call_ms < 20.0  # a part arrives every ~0.5 s: this must not be felt


def test_label_joins_the_latest_verdict_of_its_track(tmp_path: Path) -> None:
    learner = FeedbackLearner(tmp_path / "l.db", initial_model=trained_model(0))
    for stamp, p in ((1.0, 0.2), (2.0, 0.8)):  # the track was re-classified: the second counts
        learner.record_verdict(DefectVerdict(7, stamp, p, DefectType.OK, p, p, p >= 0.5))
    learner.record_label(InspectionLabel(7, 5.0, True))
    scores, labels = learner.store.labelled_scores(learner.live_version)
    assert scores == [0.8]
    assert labels == [True]


def test_background_updater_recalibrates_off_the_hot_path(tmp_path: Path) -> None:
    from factory_ai.learning import BackgroundUpdater

    learner = FeedbackLearner(tmp_path / "l.db", initial_model=trained_model(0), config=LearnerConfig(
        replay=ReplayConfig(finetune_every_labels=10**6, finetune_on_escapes=10**6)))
    updater = BackgroundUpdater(learner, period_s=0.02).start()
    try:
        rng = np.random.default_rng(5)
        crops, defective = make_crops(rng, 30, 0.3)
        for i in range(30):  # the hot path only records
            p = float(learner.live_model.scores([crops[i]])[0])
            learner.record_verdict(DefectVerdict(i, i, p, DefectType.OK, p, p, p >= learner.threshold), crops[i])
            learner.record_label(InspectionLabel(i, i + 1.0, bool(defective[i])))
        deadline = time.monotonic() + 10.0
        while learner.store.count("thresholds") == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        updater.stop()
    assert learner.store.count("thresholds") >= 1
    assert updater.last_report is not None
