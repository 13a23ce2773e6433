"""Validation of incoming camera frames: bad input becomes a clear error, never a crash deeper in."""

from __future__ import annotations

import numpy as np


class BadFrameError(ValueError):
    """The camera frame cannot be used (empty, wrong size or type, NaN); the message says why."""


def check_rgb_frame(rgb: object, width_px: int | None = None, height_px: int | None = None) -> np.ndarray:
    """Return `rgb` as an HxWx3 uint8 array or raise `BadFrameError` naming the problem.

    Args:
        rgb: the frame, expected (height_px, width_px, 3) uint8 RGB.
        width_px: expected width, or None to accept any.
        height_px: expected height, or None to accept any.
    """
    if rgb is None:
        msg = "rgb frame is None"
        raise BadFrameError(msg)
    if not isinstance(rgb, np.ndarray):
        msg = f"rgb frame must be a numpy array, got {type(rgb).__name__}"
        raise BadFrameError(msg)
    if rgb.size == 0:
        msg = f"rgb frame is empty (shape {rgb.shape})"
        raise BadFrameError(msg)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        msg = f"rgb frame must have shape (H, W, 3), got {rgb.shape}"
        raise BadFrameError(msg)
    h, w = rgb.shape[:2]
    if (width_px is not None and w != width_px) or (height_px is not None and h != height_px):
        msg = f"rgb frame is {w}x{h} px but the camera is {width_px}x{height_px} px"
        raise BadFrameError(msg)
    if np.issubdtype(rgb.dtype, np.floating) or np.issubdtype(rgb.dtype, np.complexfloating):
        n_bad = int(np.count_nonzero(~np.isfinite(rgb)))
        if n_bad:
            msg = f"rgb frame contains {n_bad} NaN/inf values (dtype {rgb.dtype})"
            raise BadFrameError(msg)
    if rgb.dtype != np.uint8:
        msg = f"rgb frame must be uint8, got dtype {rgb.dtype}"
        raise BadFrameError(msg)
    return rgb
