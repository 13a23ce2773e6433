"""`factory-ai train` and `factory-ai eval` end to end on a small generated image folder."""

from __future__ import annotations

import json

import pytest

from factory_ai.cli import main
from inspection_helpers import make_set, write_folder

EVAL_KEYS = {"auroc", "recall_at_1pct_false_reject", "escape_rate_at_threshold", "false_reject_rate_at_threshold",
             "n_good", "n_defect"}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    crops, types = make_set(seed=0, n_good=60, n_per_type=20, types=("hole", "scratch"))
    write_folder(root / "train", crops, types)
    crops, types = make_set(seed=1, n_good=30, n_per_type=10, types=("hole", "scratch", "stain"))
    write_folder(root / "test", crops, types)
    return root


@pytest.fixture(scope="module")
def trained_dir(folders, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    rc = main(["train", "--data", str(folders / "train"), "--out", str(out), "--input-px", "64", "--memory-size", "256",
               "--epochs", "5", "--mask-background", "on"])
    assert rc == 0
    return out


def test_train_writes_weights_metrics_and_a_model_card(trained_dir):
    assert (trained_dir / "model.pt").is_file()
    metrics = json.loads((trained_dir / "metrics.json").read_text())
    assert set(metrics["validation"]) == {"combined", "supervised", "anomaly"}
    assert EVAL_KEYS <= set(metrics["validation"]["combined"])
    card = (trained_dir / "MODEL_CARD.md").read_text()
    # The card holds the exact command (test_model_card_command_reproduces_the_weights runs it).
    assert "factory-ai train --data" in card and metrics["command"] in card
    assert "Decision threshold" in card


@pytest.mark.parametrize("score", ["combined", "supervised", "anomaly"])
def test_eval_prints_and_writes_the_figures(folders, trained_dir, tmp_path, score, capsys):
    out = tmp_path / "eval.json"
    rc = main(["eval", "--data", str(folders / "test"), "--weights", str(trained_dir / "model.pt"), "--json", str(out),
               "--score", score])
    assert rc == 0
    report = json.loads(out.read_text())
    assert EVAL_KEYS <= set(report)
    assert report["n_good"] == 30 and report["n_defect"] == 30
    assert set(report["by_type"]) == {"hole", "scratch", "stain"}
    printed = capsys.readouterr().out
    assert "auroc" in printed and "recall_at_1pct_false_reject" in printed


def test_eval_exclusion_list_drops_images(folders, trained_dir, tmp_path):
    leaked = sorted((folders / "test" / "good").glob("*.png"))[:5]
    csv = tmp_path / "dups.csv"
    csv.write_text("test_path,train_path\n" + "".join(f"test/good/{p.name},x\n" for p in leaked))
    out = tmp_path / "eval.json"
    assert main(["eval", "--data", str(folders / "test"), "--weights", str(trained_dir / "model.pt"),
                 "--exclude", str(csv), "--json", str(out)]) == 0
    assert json.loads(out.read_text())["n_good"] == 25


def test_good_only_training_needs_no_defect_folder(folders, tmp_path):
    import shutil

    data = tmp_path / "goods"
    shutil.copytree(folders / "train" / "good", data / "good")
    out = tmp_path / "run"
    assert main(["train", "--data", str(data), "--good-only", "--out", str(out), "--input-px", "64",
                 "--memory-size", "256"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["threshold_basis"] == "false_reject_rate"
    assert "supervised" not in metrics["validation"]
    # A good-only model has no supervised score to evaluate.
    assert main(["eval", "--data", str(folders / "test"), "--weights", str(out / "model.pt"), "--score",
                 "supervised"]) == 2


def test_missing_class_folder_is_a_clear_error(tmp_path):
    (tmp_path / "good").mkdir()
    with pytest.raises(FileNotFoundError, match="defect"):
        main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "o")])


def test_model_card_command_reproduces_the_weights(trained_dir, tmp_path):
    import shlex

    import numpy as np

    from factory_ai.inspection import DefectClassifier

    command = json.loads((trained_dir / "metrics.json").read_text())["command"]
    argv = shlex.split(command)[1:]
    argv[argv.index("--out") + 1] = str(tmp_path / "again")
    assert main(argv) == 0
    a = DefectClassifier.load(trained_dir / "model.pt")
    b = DefectClassifier.load(tmp_path / "again" / "model.pt")
    assert a.version.split("-")[-1] == b.version.split("-")[-1]  # same content hash, other date
    assert a.threshold == b.threshold
    np.testing.assert_array_equal(a.net.memory.numpy(), b.net.memory.numpy())
