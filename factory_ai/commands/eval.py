"""Evaluate classifier weights on an image folder (--data DIR) or on unseen twin parts (--sim N).

Prints and writes (--json) `auroc`, `recall_at_1pct_false_reject`, `escape_rate_at_threshold`,
`false_reject_rate_at_threshold`, `n_good`, `n_defect` for the chosen score (default
`combined`, the one the cell decides on), plus a per-defect-type breakdown when types are known.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

HELP = "Evaluate classifier weights: AUROC, recall at 1% false reject, escape / false-reject rates at the threshold."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Data source, weights, score and output."""
    from factory_ai.commands.train import DEFECT_TYPE_NAMES, add_data_arguments

    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", type=Path, metavar="DIR", help="image folder with good/ and defect/ sub-folders")
    src.add_argument("--sim", type=int, metavar="N", help="render N fresh part crops with the twin")
    add_data_arguments(parser)
    parser.add_argument("--sim-seed", type=int, default=1001, help="--sim: scene seed (use one training did not; default 1001)")
    parser.add_argument("--crop-px", type=int, default=96, help="--sim: crop side (px)")
    parser.add_argument("--defect-types", nargs="+", choices=DEFECT_TYPE_NAMES, default=None,
                        help="--sim: only these defect types among the defective parts")
    parser.add_argument("--weights", type=Path, default=None, help="weights file (default: the shipped model)")
    parser.add_argument("--score", choices=("combined", "supervised", "anomaly"), default="combined",
                        help="which calibrated score to evaluate (default combined)")
    parser.add_argument("--json", type=Path, default=None, metavar="OUT", help="also write the figures to this JSON file")


def evaluate(clf, crops_or_source, types: list[str], score: str) -> dict:
    """Figures for one score kind, with a per-type breakdown."""
    from factory_ai.inspection.metrics import detection_report, recall_at_false_reject

    p = _scores(clf, crops_or_source, score)
    types_a = np.asarray(types)
    y = types_a != "ok"
    thr = clf.calibration.thresholds[score]
    report = detection_report(p, y, thr)
    by_type = {}
    for t in sorted(set(types) - {"ok"}):
        m = (types_a == "ok") | (types_a == t)
        by_type[t] = {"n": int((types_a == t).sum()), "recall_at_threshold": float(np.mean(p[types_a == t] > thr)),
                      "recall_at_1pct_false_reject": recall_at_false_reject(p[m], y[m], 0.01)}
    report.update(score=score, by_type=by_type, weights_version=clf.version)
    return report


def _scores(clf, source, score: str, batch: int = 64) -> np.ndarray:
    """Calibrated scores of every image (reads files in batches: a large folder never sits in RAM)."""
    n = len(source)
    out = np.empty(n)
    for i0 in range(0, n, batch):
        imgs = [source.image(i) for i in range(i0, min(n, i0 + batch))]
        out[i0 : i0 + len(imgs)] = clf.scores(imgs, kind=score)
    return out


def run(args: argparse.Namespace) -> int:
    """Score the data, print the figures, write JSON."""
    from factory_ai.commands.train import load_folder, render_twin_crops
    from factory_ai.inspection import DefectClassifier
    from factory_ai.inspection.training import ArrayImages, FileImages

    clf = DefectClassifier.load(args.weights)
    if args.score == "supervised" and not clf.calibration.has_supervised:
        print(f"error: {args.weights} is a good-only model: it has no supervised score", file=sys.stderr)
        return 2
    if args.sim is not None:
        crops, types = render_twin_crops(args.sim, args.sim_seed, args.crop_px, 0.5,
                                         tuple(args.defect_types) if args.defect_types else None)
        source = ArrayImages(crops)
        data = {"source": "digital twin", "n": len(crops), "scene_seed": args.sim_seed,
                "defect_types": args.defect_types or "all"}
    else:
        images = load_folder(args.data, args)
        source, types = FileImages(images.paths), list(images.types)
        data = {"source": str(args.data), "excluded_by": str(args.exclude) if args.exclude else None}
    report = evaluate(clf, source, types, args.score)
    report["data"] = data
    keys = ("auroc", "recall_at_1pct_false_reject", "escape_rate_at_threshold", "false_reject_rate_at_threshold",
            "n_good", "n_defect")
    print(f"score: {args.score}   weights: {args.weights or 'shipped'} ({clf.version})   threshold {report['threshold']:.6g}")
    for k in keys:
        v = report[k]
        print(f"  {k:<32} {v:.4f}" if isinstance(v, float) else f"  {k:<32} {v}")
    for t, r in report["by_type"].items():
        print(f"  {t:<12} n={r['n']:<5} recall@threshold {r['recall_at_threshold']:.3f}   "
              f"recall@1%FR {r['recall_at_1pct_false_reject']:.3f}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.json.with_suffix(args.json.suffix + ".tmp")
        tmp.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
        tmp.replace(args.json)
        print(f"wrote {args.json}")
    return 0
