"""Replay buffer of labelled crops: compressed .npz files referenced by the learner's database."""

from __future__ import annotations

import io
import secrets
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from factory_ai.learning.store import LabelledCrop, atomic_write_bytes


@dataclass(frozen=True)
class ReplayConfig:
    """Bounds and cadence of the replay buffer and of fine-tuning."""

    holdout_every: int = 4  # every 4th labelled crop of a class is held out (25 %, stratified)
    max_train_per_class: int = 400  # bounded, class-balanced buffer: oldest evicted first
    max_holdout_per_class: int = 150
    max_pending: int = 300  # crops still waiting for their (late) label
    good_per_defect: float = 3.0  # at most this many good crops per defective one in a fine-tune set
    min_train_defects: int = 8  # fine-tune only with at least this many defective training crops
    min_holdout_defects: int = 4  # ... and a held-out buffer with this many defects
    min_holdout_good: int = 10  # ... and this many good parts
    finetune_every_labels: int = 50  # a fine-tune is due after this many new labels
    finetune_on_escapes: int = 3  # ... or after this many new escaped-defect labels
    epochs: int = 3

    def __post_init__(self) -> None:
        if self.holdout_every < 2:
            msg = f"ReplayConfig.holdout_every must be >= 2, got {self.holdout_every}"
            raise ValueError(msg)
        if min(self.max_train_per_class, self.max_holdout_per_class, self.max_pending) < 1:
            msg = "ReplayConfig buffer bounds must be >= 1"
            raise ValueError(msg)


def save_crop(crop_dir: Path, crop: np.ndarray) -> str:
    """Write a crop atomically as compressed .npz; returns its file name inside crop_dir.

    Args:
        crop_dir: the replay folder.
        crop: HxWx3 uint8 canonical crop.
    """
    a = np.asarray(crop)
    if a.ndim not in (2, 3) or a.size == 0:
        msg = f"save_crop: expected an HxW or HxWxC image, got shape {a.shape}"
        raise ValueError(msg)
    buf = io.BytesIO()
    np.savez_compressed(buf, crop=a)
    name = f"crop-{secrets.token_hex(8)}.npz"
    atomic_write_bytes(Path(crop_dir) / name, buf.getvalue())
    return name


def load_crop(crop_dir: Path, name: str) -> np.ndarray:
    """Read a crop written by save_crop."""
    with np.load(Path(crop_dir) / name, allow_pickle=False) as z:
        return z["crop"]


def balanced_training_set(items: list[LabelledCrop], good_per_defect: float) -> list[LabelledCrop]:
    """All defective crops and the most recent good ones, at most good_per_defect per defect."""
    defects = [it for it in items if it.defective]
    goods = [it for it in items if not it.defective]
    n_good = min(len(goods), max(int(round(good_per_defect * len(defects))), 1))
    return defects + goods[len(goods) - n_good:]
