"""Which cells of a crop show the part: the anomaly score ignores the belt and neighbouring parts.

In the twin (and on a real dark belt) a part is the bright blob around the crop centre. Belt
texture and the corner of a neighbouring part that slips into a crop are not flaws, yet they
are the most "unusual" cells of a good crop, so the image score only looks at the part.
"""

from __future__ import annotations

import cv2
import numpy as np


def part_mask(img: np.ndarray, dilate_frac: float = 0.06, radius_frac: float = 0.47) -> np.ndarray:
    """(S, S) bool mask of the part nearest the crop centre, bore filled, dilated, within a disc.

    The disc (the part's bounding circle: the tracker's crop spans 1.15 part diameters, so
    0.435 of the side, plus a margin) cuts off a neighbouring part that touches this one.
    Falls back to the disc alone when no plausible part is found, so masking can never hide
    a flaw on a part it failed to segment.

    Args:
        img: (S, S, 3) uint8 RGB crop.
        dilate_frac: dilation radius as a share of the crop side.
        radius_frac: radius of the disc about the crop centre as a share of the side.
    """
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    disc = (xx - (w - 1) / 2.0) ** 2 + (yy - (h - 1) / 2.0) ** 2 <= (radius_frac * max(h, w)) ** 2
    return disc & _blob_mask(img, dilate_frac)


def _blob_mask(img: np.ndarray, dilate_frac: float) -> np.ndarray:
    h, w = img.shape[:2]
    gray = cv2.GaussianBlur(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), (5, 5), 0)
    _, bw = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    n, labels, stats, centroids = cv2.connectedComponentsWithStats(bw, connectivity=8)
    if n <= 1:
        return np.ones((h, w), dtype=bool)
    # The part: the large component whose centroid is closest to the crop centre.
    c = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    area = stats[1:, cv2.CC_STAT_AREA].astype(float)
    dist = np.linalg.norm(centroids[1:] - c, axis=1)
    ok = area >= 0.05 * h * w
    if not ok.any():
        return np.ones((h, w), dtype=bool)
    k = 1 + int(np.argmin(np.where(ok, dist, np.inf)))
    blob = (labels == k).astype(np.uint8)
    contours, _ = cv2.findContours(blob, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros_like(blob)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    r = max(1, int(round(dilate_frac * max(h, w))))
    filled = cv2.dilate(filled, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    return filled.astype(bool)


def cell_mask(mask: np.ndarray, cells: int) -> np.ndarray:
    """(cells, cells) bool: a feature cell counts when any of its pixels is on the part."""
    h, w = mask.shape
    m = cv2.resize(mask.astype(np.float32), (cells, cells), interpolation=cv2.INTER_AREA)
    return m > 0.0


def cell_masks(images: list[np.ndarray], cells: int, dilate_frac: float) -> np.ndarray:
    """(B, cells, cells) bool masks of network inputs (B x (S, S, 3) uint8)."""
    if not images:
        return np.zeros((0, cells, cells), dtype=bool)
    return np.stack([cell_mask(part_mask(im, dilate_frac), cells) for im in images])
