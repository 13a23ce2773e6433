"""Learner persistence: records survive reopen, writes are atomic, a corrupt live model falls back."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import torch

from factory_ai.learning import Corrections, FeedbackLearner, LearningStore, ModelStatus, atomic_write
from factory_ai.learning.store import STAGING_DIR
from factory_ai.types import DefectType, DefectVerdict, InspectionLabel, PickOutcome, PickResult
from learning_helpers import TinyLogisticModel, make_crops, trained_model


def make_learner(tmp_path: Path, model: TinyLogisticModel | None = None) -> FeedbackLearner:
    return FeedbackLearner(
        tmp_path / "learner.db", initial_model=model or trained_model(0), load_model=TinyLogisticModel.load
    )


def feed(learner: FeedbackLearner, n: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    crops, defective = make_crops(rng, n, 0.2)
    scores = learner.live_model.scores(crops)
    for i in range(n):
        p = float(scores[i])
        learner.record_verdict(DefectVerdict(i, i, p, DefectType.OK, p, p, p >= learner.threshold), crops[i])
        learner.record_label(InspectionLabel(i, i + 5.0, bool(defective[i])))
        learner.record_pick(PickOutcome(i, i + 1.0, PickResult.IN_BIN, np.array([0.004, 0.0, 0.0]),
                                        v_belt_pred_mps=0.2, lead_time_s=1.0))


def test_store_uses_wal_and_full_sync(tmp_path: Path) -> None:
    store = LearningStore(tmp_path / "x.db")
    con = sqlite3.connect(tmp_path / "x.db")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    store.close()


def test_everything_survives_reopen(tmp_path: Path) -> None:
    learner = make_learner(tmp_path)
    feed(learner, 30)
    learner.maybe_update()
    before = learner.summary()
    ids = {t: learner.store.ids(t) for t in ("verdicts", "labels", "picks")}
    learner.close()

    again = make_learner(tmp_path, model=TinyLogisticModel(version="ignored: a live model exists"))
    assert again.summary() == before
    assert {t: again.store.ids(t) for t in ids} == ids
    assert again.live_model.version == "initial+ft0"  # restored from disk, not the argument
    assert again.corrections.camera_offset_base_m[0] > 0.002  # the estimate resumed, not reset
    assert again.live_model.threshold == again.threshold


def test_atomic_write_keeps_old_file_when_the_writer_fails(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    atomic_write(path, lambda p: p.write_bytes(b"old"))

    def broken(p: Path) -> None:
        p.write_bytes(b"half")
        msg = "disk full"
        raise OSError(msg)

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, broken)
    assert path.read_bytes() == b"old"
    assert not any((tmp_path / STAGING_DIR).iterdir())


def test_corrupt_live_model_falls_back_to_last_good_version(tmp_path: Path) -> None:
    learner = make_learner(tmp_path)
    first = learner.live_version
    cand = TinyLogisticModel(torch.ones(4), 0.0, version="second")
    mv = learner.register_candidate(cand, parent=first)
    learner.promote(mv.version, cand)
    live_file = learner.model_dir / learner.store.model_version(mv.version).file
    learner.close()
    live_file.write_bytes(live_file.read_bytes()[:40])  # torn / bit-rotted file

    again = make_learner(tmp_path)
    assert again.live_version == first
    assert again.store.model_version(mv.version).status is ModelStatus.CORRUPT
    assert any(kind == "fallback" for _, kind, _ in again.store.events())


def test_interrupted_save_is_cleaned_up_on_restart(tmp_path: Path) -> None:
    learner = make_learner(tmp_path)
    pending = learner.store.begin_model_version("half-written", parent=learner.live_version)
    staging = learner.model_dir / STAGING_DIR
    staging.mkdir(exist_ok=True)
    (staging / f"{pending.file}.tmp-1-abc").write_bytes(b"partial")
    (learner.model_dir / "model-v9999.pt").write_bytes(b"orphan")  # file whose row never committed
    live = learner.live_version
    learner.close()

    again = make_learner(tmp_path)
    assert again.live_version == live
    assert again.store.model_version(pending.version).status is ModelStatus.REJECTED
    assert not staging.exists()
    assert not (again.model_dir / "model-v9999.pt").exists()


def test_pick_records_keep_the_corrections_applied(tmp_path: Path) -> None:
    learner = make_learner(tmp_path)
    applied = Corrections((0.001, 0.0), 0.01, 1.0)
    learner.record_pick(PickOutcome(1, 1.0, PickResult.IN_BIN, np.array([0.002, 0.0, 0.0]),
                                    v_belt_pred_mps=0.2, lead_time_s=1.0), applied=applied)
    row = learner.store.pick_rows()[-1]
    assert Corrections.from_dict(json.loads(row["applied"])) == applied
    assert row["offset_x_m"] == pytest.approx(0.002)


def test_replay_buffer_is_bounded(tmp_path: Path) -> None:
    from factory_ai.learning import LearnerConfig, ReplayConfig

    cfg = LearnerConfig(replay=ReplayConfig(max_train_per_class=5, max_holdout_per_class=2, max_pending=3))
    learner = FeedbackLearner(tmp_path / "l.db", initial_model=trained_model(0), config=cfg)
    feed(learner, 60)
    learner.maybe_update()  # evicts beyond the bounds
    files = list(learner.crop_dir.glob("*.npz"))
    assert len(files) <= 2 * (5 + 2) + 3
    assert {f.name for f in files} == learner.store.referenced_crop_files()
