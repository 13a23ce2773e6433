"""Test fakes for the learner: a tiny torch logistic classifier, synthetic crops, a kill-test worker.

The fakes implement `factory_ai.learning.ScoringModel`, so the learner's tests do not depend on
the real classifier. Run as a script, this file is the subprocess of the kill test:

    python test/learning_helpers.py worker DB_PATH --start N --seed S --save-delay-s D
"""

from __future__ import annotations

import argparse
import functools
import io
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

CROP_PX = 24
N_FEATURES = 4


def make_crops(
    rng: np.random.Generator, n: int, defect_rate: float, kinds: tuple[str, ...] = ("spot",)
) -> tuple[list[np.ndarray], np.ndarray]:
    """Synthetic canonical crops: textured grey parts, defects are a bright spot or a dark scratch.

    Args:
        rng: the only source of randomness.
        n: number of crops.
        defect_rate: share of defective crops.
        kinds: defect kinds to draw from ("spot", "scratch").

    Returns:
        (n crops of CROP_PX x CROP_PX x 3 uint8, (n,) bool defective).
    """
    defective = rng.random(n) < defect_rate
    base = rng.normal(120.0, 12.0, size=(n, CROP_PX, CROP_PX))
    for i in np.flatnonzero(defective):
        kind = kinds[rng.integers(len(kinds))]
        r, c = rng.integers(2, CROP_PX - 6, size=2)
        if kind == "spot":
            base[i, r:r + 4, c:c + 4] += rng.uniform(50.0, 110.0)
        elif kind == "scratch":
            base[i, r, 2:CROP_PX - 2] -= rng.uniform(50.0, 110.0)
        else:
            msg = f"make_crops: unknown defect kind {kind!r}"
            raise ValueError(msg)
    img = np.clip(base, 0, 255).astype(np.uint8)
    return [np.repeat(im[..., None], 3, axis=2) for im in img], defective


def crop_features(crops: list[np.ndarray]) -> torch.Tensor:
    """(B, 4) features: brightest and darkest 2x2 block, mean, std (all scaled to ~unit range)."""
    x = torch.as_tensor(np.stack([np.asarray(c, dtype=np.float32).mean(axis=2) for c in crops])) / 255.0
    pooled = torch.nn.functional.avg_pool2d(x[:, None], 2)[:, 0].flatten(1)
    f = torch.stack([pooled.max(1).values, pooled.min(1).values, x.flatten(1).mean(1), x.flatten(1).std(1)], 1)
    return (f - torch.tensor([0.55, 0.40, 0.47, 0.05])) / torch.tensor([0.1, 0.1, 0.02, 0.02])


class TinyLogisticModel:
    """A logistic-regression defect classifier on 4 crop features (implements ScoringModel)."""

    def __init__(
        self, weight: torch.Tensor | None = None, bias: float = 0.0, threshold: float = 0.5,
        version: str = "tiny-0", save_delay_s: float = 0.0,
    ) -> None:
        self.weight = torch.zeros(N_FEATURES) if weight is None else weight.detach().clone().float()
        self.bias = torch.tensor(float(bias))
        self._threshold = float(threshold)
        self._version = version
        self.save_delay_s = save_delay_s  # > 0: save writes half, prints SAVE_MID, sleeps, finishes

    @property
    def version(self) -> str:
        return self._version

    @property
    def threshold(self) -> float:
        return self._threshold

    def set_threshold(self, p: float) -> None:
        self._threshold = float(p)

    def scores(self, crops: list[np.ndarray]) -> np.ndarray:
        with torch.no_grad():
            return torch.sigmoid(crop_features(crops) @ self.weight + self.bias).numpy().astype(np.float64)

    def fine_tuned(self, crops: list[np.ndarray], defective: np.ndarray, epochs: int, seed: int) -> TinyLogisticModel:
        torch.manual_seed(seed)
        x = crop_features(crops)
        y = torch.as_tensor(np.asarray(defective, dtype=np.float32))
        w = self.weight.clone().requires_grad_(True)
        b = self.bias.clone().requires_grad_(True)
        opt = torch.optim.Adam([w, b], lr=0.1)
        pos_weight = (y.numel() - y.sum()).clamp(min=1) / y.sum().clamp(min=1)  # class balance
        for _ in range(max(epochs, 1) * 60):
            opt.zero_grad()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(x @ w + b, y, pos_weight=pos_weight)
            loss.backward()
            opt.step()
        return TinyLogisticModel(w.detach(), float(b.detach()), self._threshold, f"{self._version}+ft{seed}",
                                 self.save_delay_s)

    def payload(self) -> dict:
        return {"weight": self.weight, "bias": self.bias, "threshold": torch.tensor(self._threshold),
                "version": self._version}

    def save(self, path: str | Path) -> None:
        buf = io.BytesIO()
        torch.save(self.payload(), buf)
        data = buf.getvalue()
        # Deliberately NOT atomic: the learner must make it so.
        with open(path, "wb") as f:
            if self.save_delay_s > 0.0:
                f.write(data[: len(data) // 2])
                f.flush()
                print("SAVE_MID", flush=True)
                time.sleep(self.save_delay_s)
            f.write(data[len(data) // 2:] if self.save_delay_s > 0.0 else data)

    @classmethod
    def load(cls, path: str | Path) -> TinyLogisticModel:
        d = torch.load(path, weights_only=True)
        return cls(d["weight"], float(d["bias"]), float(d["threshold"]), str(d["version"]))


class SabotagedModel(TinyLogisticModel):
    """Fine-tuning returns a model that ranks parts backwards: the gate must refuse it."""

    def fine_tuned(self, crops: list[np.ndarray], defective: np.ndarray, epochs: int, seed: int) -> TinyLogisticModel:
        good = super().fine_tuned(crops, defective, epochs, seed)
        return TinyLogisticModel(-good.weight, -float(good.bias), self.threshold, f"sabotaged{seed}")


@functools.lru_cache(maxsize=8)
def _trained_params(seed: int, kinds: tuple[str, ...], n: int) -> tuple[torch.Tensor, float, str]:
    crops, defective = make_crops(np.random.default_rng(seed), n, 0.3, kinds)
    m = TinyLogisticModel(version="initial").fine_tuned(crops, defective, epochs=5, seed=seed)
    return m.weight, float(m.bias), m.version


def trained_model(seed: int = 0, kinds: tuple[str, ...] = ("spot",), n: int = 400) -> TinyLogisticModel:
    """A fresh TinyLogisticModel fitted on synthetic crops of the given defect kinds (fit cached)."""
    w, b, version = _trained_params(seed, tuple(kinds), n)
    return TinyLogisticModel(w, b, 0.5, version)


# -- kill-test worker ---------------------------------------------------------------------


def _worker(db_path: Path, start: int, seed: int, save_delay_s: float) -> None:
    from factory_ai.learning import FeedbackLearner
    from factory_ai.types import DefectType, DefectVerdict, InspectionLabel, PickOutcome, PickResult

    initial = trained_model(seed)
    learner = FeedbackLearner(db_path, initial_model=initial, load_model=TinyLogisticModel.load)
    print(f"READY {learner.live_version}", flush=True)
    rng = np.random.default_rng(seed)
    i = start
    while True:
        crops, defective = make_crops(rng, 1, 0.2)
        p = float(learner.live_model.scores(crops)[0])
        verdict = DefectVerdict(i, float(i), p, DefectType.OK, p, p, p >= learner.threshold)
        print(f"ACK verdict {learner.record_verdict(verdict, crops[0])}", flush=True)
        label = InspectionLabel(i, float(i) + 0.5, bool(defective[0]))
        print(f"ACK label {learner.record_label(label)}", flush=True)
        outcome = PickOutcome(i, float(i) + 0.7, PickResult.IN_BIN, rng.normal(0.0, 0.002, 3), float(i) + 0.7,
                              v_belt_pred_mps=0.2, lead_time_s=1.0)
        learner.record_pick(outcome)
        print(f"ACK pick {i}", flush=True)
        if i % 3 == 0:
            live = learner.live_model
            w = live.weight + torch.as_tensor(rng.normal(0.0, 0.05, N_FEATURES), dtype=torch.float32)
            cand = TinyLogisticModel(w, float(live.bias), live.threshold, f"w{i}", save_delay_s)
            mv = learner.register_candidate(cand, parent=learner.live_version)
            learner.promote(mv.version, cand)
            print(f"ACK promoted {mv.version}", flush=True)
        if i % 5 == 0:
            learner.maybe_update()
        i += 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("worker")
    w.add_argument("db_path", type=Path)
    w.add_argument("--start", type=int, default=0)
    w.add_argument("--seed", type=int, default=0)
    w.add_argument("--save-delay-s", type=float, default=0.3)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    _worker(args.db_path, args.start, args.seed, args.save_delay_s)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.fspath(Path(__file__).resolve().parents[1]))
    sys.exit(main())
