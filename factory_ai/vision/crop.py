"""The canonical part crop: the one function that makes classifier inputs, for training and at run time."""

from __future__ import annotations

import cv2
import numpy as np

from factory_ai.vision.frame_check import check_rgb_frame


def canonical_crop_matrix(center_px: np.ndarray, angle_rad: float, size_px: int, extent_px: float) -> np.ndarray:
    """Affine map (2, 3) from crop pixels to frame pixels.

    Crop pixel (x, y) = centre of the crop + (extent/size) * R(angle) @ offset, so the crop's
    +x axis follows the image direction `angle_rad` and its centre sits on `center_px`.
    """
    s = float(extent_px) / float(size_px)
    c, sn = np.cos(angle_rad), np.sin(angle_rad)
    A = s * np.array([[c, -sn], [sn, c]])
    half = 0.5 * (size_px - 1)
    t = np.asarray(center_px, dtype=np.float64) - A @ np.array([half, half])
    return np.column_stack([A, t])


def canonical_crop(
    rgb: np.ndarray,
    center_px: np.ndarray | tuple[float, float],
    angle_rad: float,
    size_px: int = 96,
    extent_px: float | None = None,
) -> np.ndarray:
    """A square crop centred on a part, rotated to its canonical axis and resized.

    Pure: the same inputs give the same output; training data and run time both call this.

    Args:
        rgb: (H, W, 3) uint8 frame.
        center_px: (2,) part centre (u, v) in the frame, sub-pixel.
        angle_rad: image direction (from +u towards +v) of the part's canonical x axis; it
            becomes the crop's +x axis.
        size_px: side of the output crop (px).
        extent_px: side of the frame region the crop covers (px); None = size_px (no scaling).
            The tracker passes the part's enclosing diameter times a margin, so every part
            fills the crop the same way whatever its size.

    Returns:
        (size_px, size_px, 3) uint8 crop.
    """
    rgb = check_rgb_frame(rgb)
    if isinstance(size_px, bool) or not isinstance(size_px, (int, np.integer)) or size_px < 8:
        msg = f"size_px must be an integer >= 8, got {size_px!r}"
        raise ValueError(msg)
    center = np.asarray(center_px, dtype=np.float64).reshape(-1)
    if center.shape != (2,) or not np.all(np.isfinite(center)):
        msg = f"center_px must be 2 finite numbers, got {center_px!r}"
        raise ValueError(msg)
    if not np.isfinite(angle_rad):
        msg = f"angle_rad must be finite, got {angle_rad!r}"
        raise ValueError(msg)
    extent = float(size_px if extent_px is None else extent_px)
    if not np.isfinite(extent) or extent <= 0.0:
        msg = f"extent_px must be a positive number, got {extent_px!r}"
        raise ValueError(msg)
    M = canonical_crop_matrix(center, float(angle_rad), int(size_px), extent)
    return cv2.warpAffine(
        rgb,
        M,
        (int(size_px), int(size_px)),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
