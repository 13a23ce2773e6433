"""Seeded generator of small good and defective part crops for the inspection tests.

Like anomalib's DummyImageGenerator: a bright brushed-metal washer on a dark noisy belt, with
optional flaws drawn procedurally. Types: "hole" (dark pit), "scratch" (bright line),
"crack" (dark jagged line), "stain" (dark blotch; used as the type a model never saw).
"""

from __future__ import annotations

import cv2
import numpy as np

TYPES = ("hole", "scratch", "crack", "stain")


def part_crop(rng: np.random.Generator, defect: str = "ok", size: int = 64) -> np.ndarray:
    """One (size, size, 3) uint8 RGB crop of a washer, good or with one flaw."""
    img = rng.normal(45.0, 7.0, (size, size)).astype(np.float32)
    c = (size - 1) / 2.0 + rng.normal(0.0, 0.4, 2)
    r_out, r_in = 0.40 * size, 0.12 * size
    yy, xx = np.mgrid[0:size, 0:size]
    rr = np.hypot(xx - c[0], yy - c[1])
    metal = (rr <= r_out) & (rr >= r_in)
    a = rng.uniform(0, np.pi)
    brush = 6.0 * np.sin((xx * np.cos(a) + yy * np.sin(a)) * rng.uniform(0.8, 1.2))
    level = rng.uniform(130.0, 160.0)
    img[metal] = (level + brush + rng.normal(0.0, 3.0, (size, size)))[metal]
    flaw = np.zeros((size, size), np.float32)
    if defect != "ok":
        ang = rng.uniform(0, 2 * np.pi)
        rad = rng.uniform(r_in + 0.2 * size * 0.4, r_out - 0.08 * size)
        p = (int(c[0] + rad * np.cos(ang)), int(c[1] + rad * np.sin(ang)))
        if defect == "hole":
            cv2.circle(flaw, p, max(2, size // 24), -90.0, -1)
        elif defect == "scratch":
            d = rng.uniform(0, np.pi)
            q = (int(p[0] + 0.25 * size * np.cos(d)), int(p[1] + 0.25 * size * np.sin(d)))
            cv2.line(flaw, p, q, 70.0, 1)
        elif defect == "crack":
            pts = [np.array(p, float)]
            h = rng.uniform(0, 2 * np.pi)
            for _ in range(8):
                h += rng.normal(0, 0.6)
                pts.append(pts[-1] + 2.0 * np.array([np.cos(h), np.sin(h)]))
            cv2.polylines(flaw, [np.array(pts, np.int32)], False, -80.0, 1)
        elif defect == "stain":
            cv2.ellipse(flaw, p, (max(3, size // 12), max(2, size // 20)), float(rng.uniform(0, 180)), 0, 360, -60.0, -1)
        else:
            msg = f"unknown defect {defect!r}"
            raise ValueError(msg)
        flaw *= metal
    img = np.clip(img + flaw, 0, 255).astype(np.uint8)
    return np.repeat(img[:, :, None], 3, axis=2)


def make_set(seed: int, n_good: int, n_per_type: int, types: tuple[str, ...], size: int = 64) -> tuple[list[np.ndarray], list[str]]:
    """Crops and their types ("ok" or a flaw) from one seed."""
    rng = np.random.default_rng(seed)
    labels = ["ok"] * n_good + [t for t in types for _ in range(n_per_type)]
    return [part_crop(rng, t, size) for t in labels], labels


def write_folder(root, crops: list[np.ndarray], types: list[str]) -> None:
    """Write crops as PNGs into root/good/ and root/defect/<type>/ (a `--data` folder)."""
    from pathlib import Path

    root = Path(root)
    for i, (c, t) in enumerate(zip(crops, types, strict=True)):
        d = root / "good" if t == "ok" else root / "defect" / t
        d.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(d / f"{i:04d}.png"), c[:, :, ::-1])
