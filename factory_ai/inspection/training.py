"""Training: images -> features (cached) -> memory bank + supervised head -> calibration.

The backbone stays frozen, so features are extracted once (ONNX Runtime, cached in /tmp keyed
by the images and the network input) and everything else trains on them in seconds to minutes
on a CPU. Steps:

1. split the labelled images into a fit part and a validation part (stratified, seeded), unless
   a validation set is given;
2. per-channel standardization from the good fit images;
3. memory bank: feature cells of the good fit images (optionally also rotated by 90/180/270
   degrees: parts and their surface texture come in any orientation), greedy coreset;
4. supervised head (ok + defect types) on the fit images, class-balanced, with feature-map flips;
5. calibration and the threshold for the target escape rate on the validation part, which the
   memory bank and the head have not seen.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F

from factory_ai.inspection.calibration import Calibration, fit_calibration, supervised_logit
from factory_ai.inspection.classifier import DefectClassifier
from factory_ai.inspection.data import check_crop, read_image, to_input
from factory_ai.inspection.mask import cell_mask, part_mask
from factory_ai.inspection.memory import greedy_coreset
from factory_ai.inspection.metrics import detection_report
from factory_ai.inspection.model import InspectionNet, NetConfig, smooth_and_reduce

log = logging.getLogger(__name__)

MEMORY_AUGMENTS = {"none": 1, "rot90": 4, "rot90flip": 8}


class Progress(Protocol):
    """Progress callback: stage name, units done, units total."""

    def __call__(self, stage: str, done: int, total: int) -> None: ...


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


@dataclass(frozen=True)
class TrainConfig:
    """Training settings (saved in the model card).

    Attributes:
        net: architecture.
        seed: seeds the split, the coreset, the head initialisation and its batches.
        val_fraction: share of the labelled images held out for calibration (when no
            validation set is given).
        head_epochs / batch_size / lr / weight_decay: supervised head optimisation.
        memory_augment: "none", "rot90" (x4) or "rot90flip" (x8) copies of the good fit images
            in the memory bank.
        max_memory_candidates: cells the coreset chooses from (bounds the time).
        target_escape: share of defective validation parts allowed to pass at the threshold.
        target_false_reject: threshold target when there are no defective validation parts.
        fusion: "noisy_or" or "lr" (see calibration.py).
        uncertain_band_logit: half-width of the uncertain band around the threshold.
        good_only: learn only the anomaly part (no supervised head).
        proj_kind: "pca" or "random" projection for the anomaly branch (when net.proj_dim > 0).
    """

    net: NetConfig = field(default_factory=NetConfig)
    seed: int = 0
    val_fraction: float = 0.2
    head_epochs: int = 20
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    memory_augment: str = "none"
    max_memory_candidates: int = 250_000
    target_escape: float = 0.005
    target_false_reject: float = 0.01
    fusion: str = "lr"
    uncertain_band_logit: float = 1.0
    good_only: bool = False
    proj_kind: str = "pca"

    def __post_init__(self) -> None:
        if self.memory_augment not in MEMORY_AUGMENTS:
            msg = f"memory_augment must be one of {sorted(MEMORY_AUGMENTS)}, got {self.memory_augment!r}"
            raise ValueError(msg)
        if not 0.0 < self.val_fraction < 1.0:
            msg = f"val_fraction must be in (0, 1), got {self.val_fraction}"
            raise ValueError(msg)


# -- image sources and cached features ----------------------------------------------------------


class ImageSource(Protocol):
    """Random access to images (H, W, 3) uint8 RGB, with a content fingerprint for the cache."""

    def __len__(self) -> int: ...

    def image(self, i: int) -> np.ndarray: ...

    def fingerprint(self) -> str: ...


class FileImages:
    """Images read from files where they lie (never copied)."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = [Path(p) for p in paths]

    def __len__(self) -> int:
        return len(self.paths)

    def image(self, i: int) -> np.ndarray:
        return read_image(self.paths[i])

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for p in self.paths:
            st = p.stat()
            h.update(f"{p.resolve()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
        return h.hexdigest()


class ArrayImages:
    """Images held in memory (e.g. twin renderings)."""

    def __init__(self, images: Sequence[np.ndarray]) -> None:
        self.images = [check_crop(a) for a in images]

    def __len__(self) -> int:
        return len(self.images)

    def image(self, i: int) -> np.ndarray:
        return self.images[i]

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for a in self.images:
            h.update(str(a.shape).encode())
            h.update(a.tobytes())
        return h.hexdigest()


def cache_dir() -> Path:
    """Where extracted features are cached ($FACTORY_AI_CACHE, default /tmp/factory_ai_cache)."""
    return Path(os.environ.get("FACTORY_AI_CACHE", Path(tempfile.gettempdir()) / "factory_ai_cache"))


def _augment(img: np.ndarray, k: int) -> np.ndarray:
    out = np.rot90(img, k % 4)
    return np.ascontiguousarray(out[:, ::-1] if k >= 4 else out)


def extract_features(
    net: InspectionNet,
    source: ImageSource,
    n_aug: int = 1,
    progress: Progress = _no_progress,
    stage: str = "features",
    use_cache: bool = True,
) -> np.ndarray:
    """Raw backbone features (N, A, C, h, w) float16 of every image and its A augmentations.

    Cached on disk by image fingerprint, input size, backbone tap and A (read back as a
    memory map, so a large set does not have to fit in RAM twice).
    """
    from factory_ai.inspection.runtime import ModuleRunner

    cfg = net.config
    s = cfg.input_px
    n = len(source)
    h = s // net.features.stride
    shape = (n, n_aug, net.features.channels, h, h)
    key = hashlib.sha256(f"{source.fingerprint()}|{s}|{cfg.tap}|{n_aug}|{cfg.normalize_gain}|v1".encode()).hexdigest()[:24]
    path = cache_dir() / f"lite0_{key}.npy"
    if use_cache and path.is_file():
        feats = np.load(path, mmap_mode="r")
        if feats.shape == shape:
            progress(stage, n, n)
            return feats
    runner = ModuleRunner(net.features, s)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.stem + ".", suffix=".npy.tmp", dir=path.parent)
    os.close(fd)
    try:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float16, shape=shape)
        batch = 32
        for i0 in range(0, n, batch):
            idx = range(i0, min(n, i0 + batch))
            imgs = [to_input(source.image(i), s, cfg.normalize_gain) for i in idx]
            for a in range(n_aug):
                x = np.stack([_augment(im, a) for im in imgs]).transpose(0, 3, 1, 2).astype(np.float32)
                out[i0 : i0 + len(imgs), a] = runner(x)[0].astype(np.float16)
            progress(stage, min(n, i0 + batch), n)
        out.flush()
        del out
        if use_cache:
            os.replace(tmp, path)
            return np.load(path, mmap_mode="r")
        return np.load(tmp)
    finally:
        Path(tmp).unlink(missing_ok=True)


# -- the pieces ----------------------------------------------------------------------------------


def stratified_split(types: Sequence[str], val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(fit indices, validation indices), every type split in the same proportion."""
    rng = np.random.default_rng(seed)
    types = np.asarray(types)
    fit, val = [], []
    for t in sorted(set(types.tolist())):
        idx = rng.permutation(np.flatnonzero(types == t))
        n_val = int(round(val_fraction * len(idx)))
        if len(idx) >= 2:
            n_val = min(max(n_val, 1), len(idx) - 1)
        else:
            n_val = 0
        val.extend(idx[:n_val].tolist())
        fit.extend(idx[n_val:].tolist())
    return np.sort(np.array(fit, dtype=int)), np.sort(np.array(val, dtype=int))


def fit_standardization(net: InspectionNet, feats: np.ndarray, idx: np.ndarray, max_images: int = 2000, seed: int = 0) -> None:
    """Per-channel mean and scale from good images; scale = std * sqrt(C) so distances are O(1)."""
    rng = np.random.default_rng(seed)
    sel = np.sort(rng.permutation(idx)[:max_images])
    f = torch.from_numpy(np.asarray(feats[sel]).astype(np.float32))  # (n, A, C, h, w)
    c = f.shape[2]
    f = f.permute(2, 0, 1, 3, 4).reshape(c, -1)
    net.feat_mean = f.mean(1)
    net.feat_scale = (f.std(1) * c**0.5).clamp_min(1e-3)


def _embed(net: InspectionNet, feats: np.ndarray, idx: np.ndarray, aug: int | slice = 0) -> torch.Tensor:
    f = torch.from_numpy(np.asarray(feats[idx, aug]).astype(np.float32))
    if f.ndim == 5:  # (n, A, C, h, w) -> (n * A, C, h, w)
        f = f.reshape(-1, *f.shape[2:])
    with torch.no_grad():
        return net.embed_features(f)


def compute_masks(net: InspectionNet, source: ImageSource, n_aug: int = 1) -> np.ndarray | None:
    """(N, A, h, w) bool part cells of every image and augmentation, or None without masking."""
    cfg = net.config
    if not cfg.mask_background:
        return None
    cells = cfg.input_px // net.features.stride
    out = np.zeros((len(source), n_aug, cells, cells), dtype=bool)
    for i in range(len(source)):
        m = part_mask(to_input(source.image(i), cfg.input_px, cfg.normalize_gain), cfg.mask_dilate)
        for a in range(n_aug):
            out[i, a] = cell_mask(_augment(m, a), cells)
    return out


def fit_projection(net: InspectionNet, feats: np.ndarray, good_idx: np.ndarray, kind: str = "pca", seed: int = 0,
                   max_cells: int = 100_000, masks: np.ndarray | None = None) -> None:
    """Fit the anomaly branch's projection (C -> proj_dim) on good cells: "pca" or "random".

    PCA keeps the directions in which good parts vary most. Random (orthonormal) keeps all
    directions equally (Johnson-Lindenstrauss), so a flaw that shows in a direction good
    parts rarely use is not projected away.
    """
    d = net.config.proj_dim
    if d <= 0:
        return
    c = net.features.channels
    g = torch.Generator().manual_seed(int(seed))
    if kind == "random":
        q, _ = torch.linalg.qr(torch.randn(c, d, generator=g))
        net.proj = q.contiguous()
        return
    if kind != "pca":
        msg = f"projection kind must be 'pca' or 'random', got {kind!r}"
        raise ValueError(msg)
    rng = np.random.default_rng(seed)
    sel = np.sort(rng.permutation(good_idx)[: max(1, max_cells // (feats.shape[3] * feats.shape[4]))])
    e = _embed(net, feats, sel)
    cells = e.permute(0, 2, 3, 1).reshape(-1, c)
    if masks is not None:
        cells = cells[torch.from_numpy(masks[sel, 0].reshape(-1))]
    cells = cells - cells.mean(0)
    _, _, vh = torch.linalg.svd(cells, full_matrices=False)
    net.proj = vh[:d].T.contiguous()


def build_memory(net: InspectionNet, feats: np.ndarray, good_idx: np.ndarray, max_candidates: int, seed: int,
                 progress: Progress = _no_progress, masks: np.ndarray | None = None) -> None:
    """Memory bank = coreset of the good images' embedded cells (all augmentations, part cells only)."""
    rng = np.random.default_rng(seed)
    n_aug, h, w = feats.shape[1], feats.shape[3], feats.shape[4]
    per_img = max(1, int(np.ceil(max_candidates / max(1, len(good_idx) * n_aug))))
    cells = []
    for i0 in range(0, len(good_idx), 64):
        sel = good_idx[i0 : i0 + 64]
        e = _embed(net, feats, sel, slice(None))  # (n*A, C, h, w)
        e = e.permute(0, 2, 3, 1).reshape(e.shape[0], h * w, -1)
        if net.config.proj_dim > 0:
            e = e @ net.proj
        m = np.ones((e.shape[0], h * w), dtype=bool) if masks is None else masks[sel].reshape(e.shape[0], h * w)
        for j in range(e.shape[0]):
            on = np.flatnonzero(m[j]) if m[j].any() else np.arange(h * w)
            if len(on) > per_img:
                on = rng.choice(on, per_img, replace=False)
            cells.append(e[j, torch.from_numpy(on)])
        progress("memory cells", min(len(good_idx), i0 + 64), len(good_idx))
    cells = torch.cat(cells)
    n = net.config.memory_size
    keep = greedy_coreset(cells, n, max_candidates=max_candidates, seed=seed, progress=lambda k: progress("coreset", k, n))
    progress("coreset", n, n)
    net.set_memory(cells[keep])


def train_head(net: InspectionNet, feats: np.ndarray, idx: np.ndarray, labels: np.ndarray, epochs: int, batch_size: int,
               lr: float, weight_decay: float, seed: int, progress: Progress = _no_progress,
               binary: bool = False) -> list[float]:
    """Train the supervised head on cached features; class-balanced; returns the epoch losses.

    Args:
        labels: class index per image in `idx` (0 = ok); with `binary`, 0/1 defect labels
            trained through the defect-vs-ok logit (fine-tuning on line feedback).
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels, dtype=int)
    counts = np.bincount(labels, minlength=2 if binary else len(net.config.class_names)).astype(float)
    w_cls = torch.tensor(np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / (counts > 0).sum(), 0.0), dtype=torch.float32)
    params = list(net.head_conv.parameters()) + list(net.head_fc.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    steps = max(1, epochs * int(np.ceil(len(idx) / batch_size)))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    net.head_conv.train()
    losses = []
    for ep in range(epochs):
        order = rng.permutation(len(idx))
        total = 0.0
        for b0 in range(0, len(order), batch_size):
            sel = order[b0 : b0 + batch_size]
            e = _embed(net, feats, idx[sel])
            # Flips of the feature map: cheap augmentation (parts show up mirrored in texture).
            if rng.random() < 0.5:
                e = e.flip(3)
            if rng.random() < 0.5:
                e = e.flip(2)
            y = torch.from_numpy(labels[sel])
            logits = net.head(e)
            if binary:
                s = torch.logsumexp(logits[:, 1:], dim=1) - logits[:, 0]
                loss = F.binary_cross_entropy_with_logits(s, y.float(), weight=w_cls[y])
            else:
                loss = F.cross_entropy(logits, y, weight=w_cls)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(sel)
        losses.append(total / len(idx))
        progress("head epochs", ep + 1, epochs)
    net.head_conv.eval()
    return losses


def raw_scores_from_features(net: InspectionNet, feats: np.ndarray, idx: np.ndarray,
                             masks: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(supervised logit (N,), raw anomaly (N,)) of cached (un-augmented) features."""
    s_all, a_all = [], []
    with torch.no_grad():
        for i0 in range(0, len(idx), 64):
            sel = idx[i0 : i0 + 64]
            e = _embed(net, feats, sel)
            s_all.append(supervised_logit(net.head(e).numpy()))
            m = None if masks is None else masks[sel, 0]
            a_all.append(smooth_and_reduce(net.anomaly_map(e).numpy(), m, net.config.smooth_sigma)[1])
    if not s_all:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(s_all), np.concatenate(a_all)


def score_report(cal: Calibration, s: np.ndarray, raw: np.ndarray, defective: np.ndarray) -> dict[str, dict]:
    """detection_report per score kind at its own threshold."""
    probs = cal.probabilities(s, raw)
    return {
        kind: detection_report(p, defective, cal.thresholds[kind])
        for kind, p in probs.items()
        if np.all(np.isfinite(p))
    }


# -- the whole pipeline ---------------------------------------------------------------------------


@dataclass
class TrainResult:
    """A trained classifier and the figures for metrics.json / the model card."""

    classifier: DefectClassifier
    metrics: dict
    validation_scores: dict = field(default_factory=dict)  # sup_logit, raw_anomaly, defective, types


def train_classifier(
    source: ImageSource,
    types: Sequence[str],
    config: TrainConfig,
    val_source: ImageSource | None = None,
    val_types: Sequence[str] | None = None,
    progress: Progress = _no_progress,
    meta: dict | None = None,
) -> TrainResult:
    """Train a `DefectClassifier` from labelled images (types "ok" or a defect type name).

    Args:
        source / types: training images and their labels.
        config: training settings.
        val_source / val_types: validation images for calibration; None = hold out
            `config.val_fraction` of the training images.
        progress: stage progress callback.
        meta: provenance stored with the weights (data, command...).
    """
    t0 = time.time()
    types = [str(t).lower() for t in types]
    if len(types) != len(source):
        msg = f"got {len(source)} images but {len(types)} labels"
        raise ValueError(msg)
    if config.good_only:
        keep = np.flatnonzero(np.array(types) == "ok")
        defect_types: list[str] = []
    else:
        keep = np.arange(len(types))
        defect_types = sorted({t for t in types if t != "ok"})
        if not defect_types:
            msg = "training needs defective images (or good_only=True for an anomaly-only model)"
            raise ValueError(msg)
    if (np.array(types)[keep] == "ok").sum() < 4:
        msg = "training needs at least 4 good images"
        raise ValueError(msg)
    class_names = ("ok", *defect_types) if defect_types else ("ok", "defect")
    net_cfg = NetConfig(**{**config.net.to_dict(), "class_names": class_names})
    torch.manual_seed(config.seed)
    net = InspectionNet(net_cfg)

    if val_source is None:
        sub_types = [types[i] for i in keep]
        fit_rel, val_rel = stratified_split(sub_types, config.val_fraction, config.seed)
        fit_idx, val_idx = keep[fit_rel], keep[val_rel]
        val_feats_src, val_y_types = None, [types[i] for i in val_idx]
    else:
        fit_idx, val_idx = keep, None
        val_y_types = [str(t).lower() for t in (val_types or [])]
        if len(val_y_types) != len(val_source):
            msg = f"got {len(val_source)} validation images but {len(val_y_types)} labels"
            raise ValueError(msg)
        val_feats_src = val_source
    fit_types = np.array([types[i] for i in fit_idx])
    good_fit = fit_idx[fit_types == "ok"]

    n_aug = MEMORY_AUGMENTS[config.memory_augment]
    feats = extract_features(net, source, 1, progress, "features")
    masks = compute_masks(net, source)
    if val_feats_src is not None:
        val_feats = extract_features(net, val_feats_src, 1, progress, "validation features")
        val_masks = compute_masks(net, val_feats_src)
        val_idx = np.arange(len(val_feats_src))
    else:
        val_feats, val_masks = feats, masks

    fit_standardization(net, feats, good_fit, seed=config.seed)
    fit_projection(net, feats, good_fit, config.proj_kind, config.seed, masks=masks)
    if n_aug == 1:
        build_memory(net, feats, good_fit, config.max_memory_candidates, config.seed, progress, masks)
    else:
        good_src = _Subset(source, good_fit)
        aug_feats = extract_features(net, good_src, n_aug, progress, "augmented features")
        build_memory(net, aug_feats, np.arange(len(good_fit)), config.max_memory_candidates, config.seed, progress,
                     compute_masks(net, good_src, n_aug))

    losses: list[float] = []
    if not config.good_only:
        label_of = {name: k for k, name in enumerate(class_names)}
        labels = np.array([label_of[t] for t in fit_types])
        losses = train_head(net, feats, fit_idx, labels, config.head_epochs, config.batch_size, config.lr,
                            config.weight_decay, config.seed, progress)
    val_y = np.array([t != "ok" for t in val_y_types], dtype=bool)
    s_val, raw_val = raw_scores_from_features(net, val_feats, val_idx, val_masks)
    cal = fit_calibration(
        None if config.good_only else s_val, raw_val, val_y, config.target_escape, config.target_false_reject,
        config.fusion, config.uncertain_band_logit,
    )  # fmt: skip
    report = score_report(cal, s_val, raw_val, val_y)
    metrics = {
        "validation": report,
        "validation_note": "threshold and calibration were fitted on this validation split",
        "n_train": {"good": int((fit_types == "ok").sum()), "defect": int((fit_types != "ok").sum())},
        "n_validation": {"good": int((~val_y).sum()), "defect": int(val_y.sum())},
        "classes": list(class_names),
        "memory_size": int(net.memory.shape[0]),
        "head_loss": [round(x, 5) for x in losses],
        "threshold": float(cal.thresholds["combined"]),
        "threshold_basis": cal.threshold_basis,
        "train_seconds": round(time.time() - t0, 1),
    }
    full_meta = dict(meta or {})
    full_meta.update(
        train_config={k: (v.to_dict() if hasattr(v, "to_dict") else v) for k, v in config.__dict__.items()},
        created_utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
    clf = DefectClassifier(net, cal, full_meta)
    metrics["version"] = clf.version
    scores = {"sup_logit": s_val, "raw_anomaly": raw_val, "defective": val_y, "types": np.array(val_y_types)}
    return TrainResult(clf, metrics, scores)


class _Subset:
    """The images of a source at some indices (for augmented memory features)."""

    def __init__(self, source: ImageSource, idx: np.ndarray) -> None:
        self.source, self.idx = source, np.asarray(idx)

    def __len__(self) -> int:
        return len(self.idx)

    def image(self, i: int) -> np.ndarray:
        return self.source.image(int(self.idx[i]))

    def fingerprint(self) -> str:
        return hashlib.sha256((self.source.fingerprint() + str(self.idx.tolist())).encode()).hexdigest()


# -- fine-tuning on line feedback -----------------------------------------------------------------


def fine_tune(clf: DefectClassifier, crops: list[np.ndarray], defective: np.ndarray, epochs: int, seed: int,
              progress: Callable[[str, int, int], None] = _no_progress) -> DefectClassifier:
    """See `DefectClassifier.fine_tuned`."""
    if len(crops) != len(defective) or len(crops) == 0:
        msg = f"fine_tuned needs as many labels as crops (> 0), got {len(crops)} crops and {len(defective)} labels"
        raise ValueError(msg)
    if epochs < 0:
        msg = f"epochs must be >= 0, got {epochs}"
        raise ValueError(msg)
    net = copy.deepcopy(clf.net)
    src = ArrayImages(crops)
    feats = extract_features(net, src, 1, progress, "features", use_cache=False)
    masks = compute_masks(net, src)
    y = np.asarray(defective, dtype=bool)
    types = np.where(y, "defect", "ok")
    fit_idx, hold_idx = stratified_split(types.tolist(), 0.25, seed)
    if (y[hold_idx].sum() < 1) or ((~y[hold_idx]).sum() < 2):
        fit_idx, hold_idx = np.arange(len(y)), np.zeros(0, dtype=int)
    if epochs > 0 and y[fit_idx].any() and (~y[fit_idx]).any():
        train_head(net, feats, fit_idx, y[fit_idx].astype(int), epochs, 32, 5e-4, 1e-4, seed, progress, binary=True)
    good_fit = fit_idx[~y[fit_idx]]
    if len(good_fit):
        e = net.anomaly_cells(_embed(net, feats, good_fit))
        if masks is not None:
            e = e[torch.from_numpy(masks[good_fit, 0].reshape(-1))]
        cells = torch.cat([net.memory, e])
        keep = greedy_coreset(cells, net.config.memory_size, seed=seed)
        net.set_memory(cells[keep])
    cal = copy.deepcopy(clf.calibration)
    if len(hold_idx):
        s, raw = raw_scores_from_features(net, feats, hold_idx, masks)
        cal = fit_calibration(s if cal.has_supervised else None, raw, y[hold_idx], cal.target_escape,
                              cal.target_false_reject, cal.fusion, cal.uncertain_band_logit)
    meta = {k: v for k, v in clf.meta.items() if k != "version"}
    meta.update(parent_version=clf.version, fine_tuned_on={"good": int((~y).sum()), "defect": int(y.sum())},
                fine_tune_epochs=int(epochs), fine_tune_seed=int(seed),
                recalibrated=bool(len(hold_idx)), created_utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    return DefectClassifier(net, cal, meta, clf.backend)
