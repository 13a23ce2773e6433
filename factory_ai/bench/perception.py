"""Perception latency: one 640x480 frame with 5 parts -> tracked parts -> verdicts for all of them.

Times the whole per-frame path the cell runs (PartTracker.update: detection, tracking, canonical
crops; then DefectClassifier.classify on the 5 crops, heatmaps included) on the CPU threads the
product gets (2), and, in the same run, a peer figure: the full EfficientNet-Lite0 classifier
forward (eager torch, as a plain fine-tuned model would run) on the same 5 crops.
"""

from __future__ import annotations

import argparse
import logging
import os
import time

import numpy as np

log = logging.getLogger(__name__)

TARGET_P95_MS = 20.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Frame count, weights, thread count."""
    parser.add_argument("--frames", type=int, default=200, help="timed frames (default 200)")
    parser.add_argument("--weights", default=None, help="classifier weights (default: the shipped model)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for torch / ONNX Runtime (default 2)")
    parser.add_argument("--synthetic", action="store_true", help="use a synthetic frame instead of a twin rendering")
    parser.add_argument("--seed", type=int, default=3, help="twin scene seed")


def _twin_frame(seed: int, n_parts: int = 5) -> np.ndarray | None:
    """A twin frame with exactly n parts fully in view, or None when the twin cannot render."""
    try:
        from factory_ai.config import load_cell_description
        from factory_ai.sim.dataset import render_labeled_scenes

        cell = load_cell_description()
        scenes = render_labeled_scenes(20, seed=seed, cell=cell, parts_per_scene=(n_parts, n_parts), defect_rate=0.4)
        try:
            for fr in scenes:
                if sum(p.fully_in_view for p in fr.parts) == n_parts == len(fr.parts):
                    return fr.frame.rgb
        finally:
            scenes.close()
    except Exception as exc:  # the twin is optional here: fall back to a synthetic frame
        log.warning("twin frame unavailable (%s); using a synthetic frame", exc)
    return None


def _synthetic_frame(seed: int, n_parts: int = 5) -> np.ndarray:
    """Dark textured belt with n bright washers and nuts spread along it (640x480 RGB)."""
    import cv2

    rng = np.random.default_rng(seed)
    img = np.clip(rng.normal(50, 8, (480, 640)), 0, 255).astype(np.uint8)
    for k in range(n_parts):
        c = (int(70 + k * 120), int(160 + (k % 2) * 150))
        cv2.circle(img, c, 30, 150, -1)
        cv2.circle(img, c, 8, 50, -1)
    return np.repeat(img[:, :, None], 3, axis=2)


def _stats(ts: list[float]) -> dict[str, float]:
    a = 1e3 * np.asarray(ts)
    return {"p50": round(float(np.percentile(a, 50)), 3), "p95": round(float(np.percentile(a, 95)), 3),
            "mean": round(float(a.mean()), 3)}


def run(args: argparse.Namespace) -> dict:
    """Time frame -> verdicts; print a table; return the figures."""
    os.environ["FACTORY_AI_THREADS"] = str(args.threads)
    import torch

    from factory_ai.config import load_cell_description
    from factory_ai.inspection import DefectClassifier
    from factory_ai.inspection.backbone import load_lite0_pretrained
    from factory_ai.vision import PartTracker

    torch.set_num_threads(args.threads)
    cell = load_cell_description()
    rgb = None if args.synthetic else _twin_frame(args.seed)
    source = "twin" if rgb is not None else "synthetic"
    if rgb is None:
        rgb = _synthetic_frame(args.seed)
    clf = DefectClassifier.load(args.weights)
    clf.warm_up()
    tracker = PartTracker(cell)
    dt = 1.0 / 30.0
    total, vision, classify = [], [], []
    n_parts = []
    for k in range(args.frames + 10):
        stamp = k * dt
        t0 = time.perf_counter()
        obs = tracker.update(rgb, stamp)
        t1 = time.perf_counter()
        crops = [o.crop for o in obs]
        clf.classify(crops, [o.track_id for o in obs], stamp)
        t2 = time.perf_counter()
        if k >= 10:  # warm-up frames (tracks confirm, caches fill)
            total.append(t2 - t0)
            vision.append(t1 - t0)
            classify.append(t2 - t1)
            n_parts.append(len(obs))
    # Peer: the full EfficientNet-Lite0 (eager torch) on the same crops at the classifier's input size.
    peer = load_lite0_pretrained()
    s = clf.config.input_px
    import cv2

    x = torch.from_numpy(np.stack([cv2.resize(c, (s, s)) for c in crops]).transpose(0, 3, 1, 2).astype(np.float32))
    x = (x - 127.0) / 128.0
    peer_ts = []
    with torch.inference_mode():
        for k in range(min(args.frames, 100) + 5):
            t0 = time.perf_counter()
            peer(x)
            if k >= 5:
                peer_ts.append(time.perf_counter() - t0)
    figures = {
        "latency_ms": _stats(total),
        "vision_ms": _stats(vision),
        "classifier_ms": _stats(classify),
        "peer_full_lite0_torch_ms": _stats(peer_ts),
        "parts_per_frame": {"min": int(min(n_parts)), "max": int(max(n_parts))},
        "frame": f"{rgb.shape[1]}x{rgb.shape[0]} {source}",
        "frames": len(total),
        "threads": args.threads,
        "classifier_backend": clf._runner.backend if clf._runner is not None else "?",
        "classifier_input_px": s,
        "classifier_version": clf.version,
        "target_p95_ms": TARGET_P95_MS,
    }
    print(f"perception latency, {figures['frame']} frame, {figures['parts_per_frame']['max']} parts, "
          f"{args.threads} threads, classifier on {figures['classifier_backend']}")
    print(f"{'stage':<34}{'p50 ms':>9}{'p95 ms':>9}")
    for name, key in (("frame -> verdicts (total)", "latency_ms"), ("  vision (PartTracker.update)", "vision_ms"),
                      ("  classifier (5 crops)", "classifier_ms"),
                      (f"peer: full Lite0 torch, {len(crops)} crops", "peer_full_lite0_torch_ms")):
        print(f"{name:<34}{figures[key]['p50']:>9.2f}{figures[key]['p95']:>9.2f}")
    print(f"target p95 <= {TARGET_P95_MS:.0f} ms: {'met' if figures['latency_ms']['p95'] <= TARGET_P95_MS else 'NOT met'}")
    return figures
