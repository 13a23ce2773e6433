"""Labelled image folders and crop validation for the classifier.

A data folder holds `good/` and `defect/` sub-folders (names configurable, e.g. the casting set's
`ok_front` / `def_front`); nested folders are allowed and a folder under `defect/` names the
defect type (`defect/crack/x.png` -> "crack"). Images are read where they lie; nothing is copied.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})
MIN_CROP_PX = 16
MAX_ASPECT = 3.0
GAIN_TARGET = 180.0


class BadImageError(ValueError):
    """An image or crop the classifier cannot judge (empty, truncated, wrong size, NaN...)."""


@dataclass(frozen=True)
class LabeledImages:
    """Image files with labels: `types[i]` is "ok" or a defect type name."""

    paths: tuple[Path, ...]
    types: tuple[str, ...]

    @property
    def defective(self) -> np.ndarray:
        """(N,) bool."""
        return np.array([t != "ok" for t in self.types], dtype=bool)

    def __len__(self) -> int:
        return len(self.paths)

    def subset(self, idx: np.ndarray) -> LabeledImages:
        """The images at the given indices."""
        return LabeledImages(tuple(self.paths[i] for i in idx), tuple(self.types[i] for i in idx))


def read_exclusions(csv_path: Path) -> set[str]:
    """Relative image paths to leave out, from a CSV (column `test_path` or `path`, else the first).

    E.g. the casting set's `exact_duplicates_train_test.csv` (test images that are byte copies
    of training images).
    """
    with open(csv_path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames:
            msg = f"exclusion CSV {csv_path} has no header"
            raise ValueError(msg)
        col = next((c for c in ("test_path", "path") if c in reader.fieldnames), reader.fieldnames[0])
        return {Path(row[col]).as_posix() for row in reader if row.get(col)}


def _excluded(path: Path, exclusions: set[str]) -> bool:
    # Exclusion paths are relative to some dataset root: match on the path's tail.
    parts = path.as_posix().split("/")
    return any("/".join(parts[i:]) in exclusions for i in range(len(parts)))


def scan_folder(
    root: Path,
    good_dir: str = "good",
    defect_dir: str = "defect",
    exclusions: set[str] | None = None,
    allow_missing_defect: bool = False,
) -> LabeledImages:
    """Images under `root/good_dir` (type "ok") and `root/defect_dir` (type = sub-folder or "defect").

    Args:
        root: the data folder.
        good_dir / defect_dir: names of the two class folders.
        exclusions: relative paths to leave out (matched on the path's tail).
        allow_missing_defect: a folder without `defect_dir` is fine (good-only training).
    """
    root = Path(root)
    good_root, defect_root = root / good_dir, root / defect_dir
    if not good_root.is_dir():
        msg = f"data folder {root} has no '{good_dir}/' sub-folder (good parts)"
        raise FileNotFoundError(msg)
    if not defect_root.is_dir() and not allow_missing_defect:
        msg = f"data folder {root} has no '{defect_dir}/' sub-folder (defective parts)"
        raise FileNotFoundError(msg)
    exclusions = exclusions or set()
    paths: list[Path] = []
    types: list[str] = []
    n_excluded = 0
    for cls_root, is_good in ((good_root, True), (defect_root, False)):
        if not cls_root.is_dir():
            continue
        for p in sorted(cls_root.rglob("*")):
            if not p.is_file() or p.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            if exclusions and _excluded(p, exclusions):
                n_excluded += 1
                continue
            rel = p.relative_to(cls_root)
            paths.append(p)
            types.append("ok" if is_good else (rel.parts[0].lower() if len(rel.parts) > 1 else "defect"))
    if not paths:
        msg = f"no images found under {good_root} or {defect_root}"
        raise FileNotFoundError(msg)
    if n_excluded:
        log.info("left out %d excluded images under %s", n_excluded, root)
    return LabeledImages(tuple(paths), tuple(types))


def read_image(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB; BadImageError naming the file if it is missing, truncated or not an image."""
    data = np.fromfile(str(path), dtype=np.uint8) if Path(path).is_file() else None
    if data is None or data.size == 0:
        msg = f"cannot read image {path}: missing or empty file"
        raise BadImageError(msg)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if img is None:
        msg = f"cannot decode image {path}: not an image or wrong encoding"
        raise BadImageError(msg)
    # Truncated JPEGs decode with a grey tail; OpenCV only warns, so check for the end marker.
    if Path(path).suffix.lower() in (".jpg", ".jpeg") and not _jpeg_complete(data):
        msg = f"image {path} is truncated (no JPEG end marker)"
        raise BadImageError(msg)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _jpeg_complete(data: np.ndarray) -> bool:
    tail = data[-64:].tobytes()
    return b"\xff\xd9" in tail


def check_crop(crop: object) -> np.ndarray:
    """Validate one classifier input: (H, W, 3) uint8 RGB, both sides >= 16 px, aspect <= 3.

    Raises:
        BadImageError: saying what is wrong (None, empty, wrong dtype, NaN, wrong shape...).
    """
    if crop is None:
        msg = "crop is None"
        raise BadImageError(msg)
    a = np.asarray(crop)
    if a.size == 0:
        msg = f"crop is empty (shape {a.shape})"
        raise BadImageError(msg)
    if a.dtype != np.uint8:
        if np.issubdtype(a.dtype, np.floating) and not np.all(np.isfinite(a)):
            msg = "crop contains NaN or inf"
            raise BadImageError(msg)
        msg = f"crop must be uint8 RGB, got dtype {a.dtype}"
        raise BadImageError(msg)
    if a.ndim != 3 or a.shape[2] != 3:
        msg = f"crop must be (H, W, 3) RGB, got shape {a.shape}"
        raise BadImageError(msg)
    h, w = a.shape[:2]
    if min(h, w) < MIN_CROP_PX or max(h, w) > MAX_ASPECT * min(h, w):
        msg = f"crop size {w}x{h} px is unusable (sides >= {MIN_CROP_PX} px, aspect <= {MAX_ASPECT})"
        raise BadImageError(msg)
    return a


def to_input(crop: np.ndarray, size_px: int, normalize_gain: bool = False) -> np.ndarray:
    """Resize a checked crop to the network input (size, size, 3) uint8.

    Args:
        normalize_gain: scale intensities so the crop's 90th grey percentile (the lit part
            surface) lands at `GAIN_TARGET`: exposure and light vary from frame to frame, a
            flaw is a local change.
    """
    h, w = crop.shape[:2]
    out = crop
    if h != size_px or w != size_px:
        interp = cv2.INTER_AREA if min(h, w) > size_px else cv2.INTER_LINEAR
        out = cv2.resize(crop, (size_px, size_px), interpolation=interp)
    if normalize_gain:
        level = float(np.percentile(out.reshape(-1, 3).mean(axis=1), 90))
        gain = GAIN_TARGET / max(level, 8.0)
        out = cv2.convertScaleAbs(out, alpha=gain)
    return out
