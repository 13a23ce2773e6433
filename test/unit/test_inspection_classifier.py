"""DefectClassifier on small generated crops: training, verdicts, bad input, persistence, fine-tuning."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from factory_ai.inspection import BadImageError, DefectClassifier, WeightsError
from factory_ai.inspection.metrics import auroc
from factory_ai.inspection.model import NetConfig
from factory_ai.inspection.training import ArrayImages, TrainConfig, train_classifier
from factory_ai.types import DefectType
from inspection_helpers import make_set

KNOWN = ("hole", "scratch")
UNSEEN = "stain"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small model (64 px crops at 96 px input, stride-8 features) trained on good + hole + scratch."""
    import os

    os.environ.setdefault("FACTORY_AI_CACHE", str(tmp_path_factory.mktemp("cache")))
    crops, types = make_set(seed=0, n_good=120, n_per_type=40, types=KNOWN)
    cfg = TrainConfig(net=NetConfig(input_px=96, tap=5, memory_size=512, mask_background=True), head_epochs=15,
                      val_fraction=0.3, target_escape=0.02)
    return train_classifier(ArrayImages(crops), types, cfg).classifier


@pytest.fixture(scope="module")
def fresh():
    """Unseen parts of the same process (another seed), including the unseen flaw type."""
    return make_set(seed=1, n_good=60, n_per_type=30, types=(*KNOWN, UNSEEN))


def test_classifier_separates_known_flaws_on_unseen_parts(trained, fresh):
    crops, types = fresh
    y = np.array([t != "ok" for t in types])
    known = np.array([t in ("ok", *KNOWN) for t in types])
    p = trained.scores([c for c, k in zip(crops, known) if k])
    assert auroc(p, y[known]) > 0.97


def test_anomaly_score_catches_a_flaw_type_never_seen_in_training(trained, fresh):
    crops, types = fresh
    t = np.array(types)
    m = (t == "ok") | (t == UNSEEN)
    sub = [c for c, k in zip(crops, m) if k]
    p_anom = trained.scores(sub, kind="anomaly")
    y = t[m] == UNSEEN
    assert auroc(p_anom, y) > 0.95
    # The cell decides on the combined score: the unseen flaw is rejected there too.
    verdicts = trained.classify(sub)
    caught = np.mean([v.reject for v, yy in zip(verdicts, y) if yy])
    assert caught >= 0.9


def test_verdicts_carry_calibrated_scores_type_and_heatmap(trained, fresh):
    crops, types = fresh
    verdicts = trained.classify(crops[:5] + crops[-5:], track_ids=list(range(100, 110)), stamp_s=12.5)
    assert [v.track_id for v in verdicts] == list(range(100, 110))
    for v, c in zip(verdicts, crops[:5] + crops[-5:]):
        assert v.stamp_s == 12.5
        assert 0.0 <= v.p_defect <= 1.0 and 0.0 <= v.anomaly_score <= 1.0 and 0.0 <= v.supervised_score <= 1.0
        assert v.reject == (v.p_defect > trained.threshold)
        assert (v.defect_type is DefectType.OK) == (not v.reject)
        assert v.heatmap.shape == c.shape[:2] and v.heatmap.dtype == np.float32
        assert 0.0 <= v.heatmap.min() and v.heatmap.max() <= 1.0


def test_heatmap_points_at_the_flaw():
    rng = np.random.default_rng(5)
    from inspection_helpers import part_crop

    crops, types = make_set(seed=0, n_good=120, n_per_type=40, types=KNOWN)
    clf = train_classifier(ArrayImages(crops), types, TrainConfig(
        net=NetConfig(input_px=96, tap=5, memory_size=512), head_epochs=1, good_only=True)).classifier
    good = part_crop(rng, "ok")
    flawed = good.copy()
    flawed[40:46, 18:24] = 30  # a dark pit at a known place
    h = clf.classify([flawed])[0].heatmap
    peak = np.unravel_index(np.argmax(h), h.shape)
    assert abs(peak[0] - 43) <= 10 and abs(peak[1] - 21) <= 10


@pytest.mark.parametrize(
    "bad",
    [
        None,
        np.zeros((0, 0, 3), np.uint8),  # empty
        np.zeros((64, 64, 3), np.float32) * np.nan,  # NaN
        np.zeros((64, 64), np.uint8),  # no colour channels
        np.zeros((6, 6, 3), np.uint8),  # too small
        np.zeros((64, 4000, 3), np.uint8),  # absurd aspect
        np.full((64, 64, 3), 0.5, np.float64),  # wrong encoding (float image)
    ],
    ids=["none", "empty", "nan", "gray", "tiny", "aspect", "float"],
)
def test_bad_crop_is_never_a_silent_good(trained, fresh, bad):
    crops, _ = fresh
    verdicts = trained.classify([crops[0], bad, crops[1]], track_ids=[1, 2, 3])
    assert len(verdicts) == 3
    v = verdicts[1]
    assert v.reject and v.uncertain and v.track_id == 2
    assert verdicts[0].heatmap is not None and verdicts[2].heatmap is not None
    with pytest.raises(BadImageError, match="crop 1"):
        trained.scores([crops[0], bad])


def test_empty_batch_gives_no_verdicts(trained):
    assert trained.classify([]) == []
    assert trained.scores([]).shape == (0,)


def test_set_threshold_validates(trained):
    old = trained.threshold
    try:
        trained.set_threshold(0.3)
        assert trained.threshold == 0.3
        for bad in (0.0, 1.0, -0.1, float("nan")):
            with pytest.raises(ValueError, match="threshold"):
                trained.set_threshold(bad)
    finally:
        trained.set_threshold(old)


def test_save_load_round_trip_is_exact(trained, fresh, tmp_path):
    crops, _ = fresh
    path = trained.save(tmp_path / "m" / "model.pt")
    assert not list(path.parent.glob("*.tmp"))
    loaded = DefectClassifier.load(path)
    assert loaded.version == trained.version
    assert loaded.threshold == trained.threshold
    assert loaded.class_names == trained.class_names
    np.testing.assert_allclose(loaded.scores(crops[:20]), trained.scores(crops[:20]), atol=2e-3)
    # Plain tensors and dicts only.
    d = torch.load(path, weights_only=True)
    assert d["state"]["memory"].dtype == torch.float16


def test_save_is_atomic_when_writing_fails(trained, tmp_path, monkeypatch):
    path = trained.save(tmp_path / "model.pt")
    before = path.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        trained.save(path)
    assert path.read_bytes() == before
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize("damage", ["garbage", "truncated", "wrong_format", "wrong_shape"])
def test_corrupt_or_incompatible_weights_give_a_clear_error(trained, tmp_path, damage):
    path = trained.save(tmp_path / "model.pt")
    if damage == "garbage":
        path.write_bytes(b"this is not a model")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:1000])
    elif damage == "wrong_format":
        torch.save({"format": "something-else/9"}, path)
    else:
        d = torch.load(path, weights_only=True)
        d["state"]["feat_mean"] = torch.zeros(7)
        torch.save(d, path)
    with pytest.raises(WeightsError, match=str(path.name)):
        DefectClassifier.load(path)


def test_missing_weights_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        DefectClassifier.load(tmp_path / "nope.pt")


def test_fine_tuned_returns_a_new_candidate_and_leaves_self_unchanged(trained, fresh):
    crops, types = make_set(seed=7, n_good=40, n_per_type=20, types=(*KNOWN, UNSEEN))
    y = np.array([t != "ok" for t in types])
    before = trained.scores(fresh[0][:10])
    version = trained.version
    cand = trained.fine_tuned(crops, y, epochs=3, seed=0)
    assert cand is not trained and cand.version != version
    assert cand.meta["parent_version"] == version
    assert trained.version == version
    np.testing.assert_allclose(trained.scores(fresh[0][:10]), before)
    t = np.array(fresh[1])
    m = (t == "ok") | (t == UNSEEN)
    p = cand.scores([c for c, k in zip(fresh[0], m) if k])
    assert auroc(p, t[m] == UNSEEN) > 0.9
