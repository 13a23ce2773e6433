"""Kill test: the learner process is SIGKILLed at random moments (also mid model save) and restarted.

After every kill: every record the worker acknowledged is in the database, the live model file
matches its registered hash and loads with torch.load(weights_only=True), and no temp file is
ever registered or loaded as a model.
"""

from __future__ import annotations

import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch

from learning_helpers import TinyLogisticModel

from factory_ai.learning import FeedbackLearner, LearningStore, ModelStatus
from factory_ai.learning.store import STAGING_DIR, sha256_file

HELPERS = Path(__file__).resolve().parents[1] / "learning_helpers.py"
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Acks:
    """What the worker said was durable before it died."""

    verdicts: set[int] = field(default_factory=set)
    labels: set[int] = field(default_factory=set)
    picks: set[int] = field(default_factory=set)
    promoted: list[int] = field(default_factory=list)


class Worker:
    """The learner subprocess, its stdout read line by line on a thread."""

    def __init__(self, db_path: Path, start: int, seed: int, save_delay_s: float) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
        self.proc = subprocess.Popen(
            [sys.executable, str(HELPERS), "worker", str(db_path), "--start", str(start), "--seed", str(seed),
             "--save-delay-s", str(save_delay_s)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO_ROOT,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put(None)

    def wait_for(self, prefix: str, acks: Acks, timeout_s: float) -> bool:
        """Consume lines (recording acks) until one starts with prefix; False on timeout/exit."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                return False
            if line is None:
                msg = f"worker exited early (rc={self.proc.wait()}): {self.proc.stderr.read()[-2000:]}"
                raise AssertionError(msg)
            record(line, acks)
            if line.startswith(prefix):
                return True
        return False

    def kill_and_drain(self, acks: Acks) -> None:
        """SIGKILL, then read what it had written to the pipe before dying."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        while (line := self.lines.get(timeout=30)) is not None:
            record(line, acks)
        self.proc.stdout.close()
        self.proc.stderr.close()


def record(line: str, acks: Acks) -> None:
    parts = line.split()
    if len(parts) == 3 and parts[0] == "ACK":
        kind, n = parts[1], int(parts[2])
        {"verdict": acks.verdicts, "label": acks.labels, "pick": acks.picks}.get(kind, set()).add(n)
        if kind == "promoted":
            acks.promoted.append(n)


def check_after_kill(db_path: Path, acks: Acks) -> None:
    """The state a restart finds, checked BEFORE any recovery runs."""
    store = LearningStore(db_path)
    try:
        assert acks.verdicts <= store.ids("verdicts"), "acknowledged verdicts lost"
        assert acks.labels <= store.ids("labels"), "acknowledged labels lost"
        assert acks.picks <= {int(r["track_id"]) for r in store.pick_rows()}, "acknowledged picks lost"
        live = store.live_model_version()
        assert live is not None, "no live model registered"
        if acks.promoted:
            assert live.version >= acks.promoted[-1], "an acknowledged promotion was lost"
        model_dir = db_path.with_name(f"{db_path.stem}_models")
        path = model_dir / live.file
        assert path.parent == model_dir and path.name.startswith("model-v") and path.suffix == ".pt"
        assert STAGING_DIR not in path.parts
        assert sha256_file(path) == live.sha256, "live model file does not match its hash"
        payload = torch.load(path, weights_only=True)
        assert set(payload) >= {"weight", "bias", "threshold"}
        for mv in store.model_versions():
            assert ".tmp" not in mv.file
            if mv.status in (ModelStatus.LIVE, ModelStatus.RETIRED):
                assert mv.sha256 and (model_dir / mv.file).is_file()
    finally:
        store.close()


def kill_cycles(tmp_path: Path, n_cycles: int, seed: int) -> None:
    rng = random.Random(seed)
    db_path = tmp_path / "learner.db"
    acks = Acks()
    for cycle in range(n_cycles):
        worker = Worker(db_path, start=100_000 * cycle, seed=seed + cycle, save_delay_s=0.3)
        try:
            assert worker.wait_for("READY", acks, timeout_s=120), "worker did not start"
            if cycle % 2 == 0:
                # Mid model save: half the bytes are in the temp file when the kill lands.
                assert worker.wait_for("SAVE_MID", acks, timeout_s=60), "no model save seen"
                time.sleep(rng.uniform(0.0, 0.2))
            else:
                worker.wait_for("never", acks, timeout_s=rng.uniform(0.05, 1.5))  # a random moment
        finally:
            worker.kill_and_drain(acks)
        if cycle % 2 == 0:
            # Evidence that the kill landed inside the save: its half-written temp file is there.
            assert any((db_path.with_name(f"{db_path.stem}_models") / STAGING_DIR).glob("*.tmp-*"))
        check_after_kill(db_path, acks)
    assert acks.picks and acks.promoted, "the workers acknowledged nothing: the test proved nothing"

    # A restart recovers: staging cleaned, no half-registered version, the live model loads.
    learner = FeedbackLearner(db_path, load_model=TinyLogisticModel.load)
    try:
        assert not (learner.model_dir / STAGING_DIR).exists()
        assert all(mv.status is not ModelStatus.SAVING for mv in learner.store.model_versions())
        assert acks.picks <= {int(r["track_id"]) for r in learner.store.pick_rows()}
        assert learner.live_model.scores([np.zeros((24, 24, 3), np.uint8)]).shape == (1,)
    finally:
        learner.close()


def test_learner_survives_sigkill(tmp_path: Path) -> None:
    kill_cycles(tmp_path, n_cycles=3, seed=0)


@pytest.mark.slow
def test_learner_survives_many_sigkills(tmp_path: Path) -> None:
    kill_cycles(tmp_path, n_cycles=20, seed=1)
