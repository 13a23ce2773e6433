"""Part detection in one overhead frame: belt-normalized segmentation, touching-part splitting,
sub-pixel centroid, shape class and orientation from image moments (all in image pixels)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import cv2
import numpy as np


class PartShape(str, Enum):
    """Outline class the vision recognises from above."""

    WASHER = "washer"  # disc or washer: no orientation
    HEX_NUT = "hex_nut"  # regular hexagon: orientation modulo 60 deg
    BRACKET = "bracket"  # L outline: orientation modulo 360 deg
    UNKNOWN = "unknown"


# Rotational symmetry period of each outline (rad); 0 means "orientation is meaningless".
SYMMETRY_RAD = {
    PartShape.WASHER: 0.0,
    PartShape.HEX_NUT: np.pi / 3.0,
    PartShape.BRACKET: 2.0 * np.pi,
    PartShape.UNKNOWN: 2.0 * np.pi,
}


@dataclass(frozen=True)
class SegmentationConfig:
    """Knobs of the belt/part segmentation (pixels and brightness ratios).

    Args:
        background_scale: downsampling factor of the belt illumination model.
        background_kernel_px: window (full-res px) of the median that estimates the belt's
            brightness; larger than any cluster of parts, small against lighting gradients.
        min_contrast: part/belt brightness ratio below which nothing is a part: above the
            belt's weave (up to ~1.5 on the twin) and below the dimmest metal (~2.2); each
            part's outline is then traced at half its own brightness (`refine_blob`).
        min_area_px: blobs smaller than this are noise (a 30 mm part covers ~1,100 px).
        split_min_dynamic_px: a distance-transform peak must rise this much (px) above the
            saddle to its neighbour to count as a separate touching part ...
        split_rel_dynamic: ... and this fraction of the blob's largest inscribed radius: an
            L's own ridge bumps stay well under 0.3, two hex nuts flat to flat rise 0.42,
            parts touching at a point nearly 1.
        border_margin_px: a part closer than this to the image or belt-region edge is not
            fully in view.
    """

    background_scale: int = 8
    background_kernel_px: int = 200
    min_contrast: float = 1.6
    min_area_px: int = 300
    split_min_dynamic_px: float = 3.0
    split_rel_dynamic: float = 0.3
    border_margin_px: int = 2

    def __post_init__(self) -> None:
        if self.background_scale < 1:
            msg = f"background_scale must be >= 1, got {self.background_scale}"
            raise ValueError(msg)
        if self.min_contrast <= 1.0:
            msg = f"min_contrast must be > 1 (a ratio to the belt brightness), got {self.min_contrast}"
            raise ValueError(msg)


@dataclass(frozen=True)
class Detection:
    """One part found in one frame (image coordinates).

    Orientation features are image directions (rad, from +u towards +v) from complex moments
    of the filled outline about its centroid: `vertex_angle_image_rad` = phase(sum z^6) / 6
    points at a hexagon vertex (defined modulo 60 deg); `bisector_angle_image_rad` points
    from an L's corner along its bisector to the leg tips (see `bisector_angle_image_rad`).
    """

    centroid_px: np.ndarray  # (2,) sub-pixel (u, v)
    bbox_px: tuple[int, int, int, int]  # u_min, v_min, u_max, v_max (inclusive)
    area_px: float
    radius_px: float  # largest distance from the centroid to the outline (bounding circle about it)
    shape: PartShape
    vertex_angle_image_rad: float
    bisector_angle_image_rad: float
    fully_in_view: bool


def belt_illumination(gray: np.ndarray, roi_small: np.ndarray, cfg: SegmentationConfig) -> np.ndarray:
    """Belt brightness at low resolution, robust to parts, shadows and lighting gradients.

    Two passes of a large median: the first gives a rough belt level; cells much brighter than
    it (parts) are replaced by it, and the second median no longer feels clusters of parts.

    Args:
        gray: (H, W) uint8 image.
        roi_small: (h, w) bool, belt region at the low resolution.
        cfg: segmentation knobs.

    Returns:
        (h, w) float32 belt brightness (>= 1).
    """
    h, w = roi_small.shape
    small = cv2.resize(gray, (w, h), interpolation=cv2.INTER_AREA)
    fill = np.uint8(np.median(small[roi_small])) if np.any(roi_small) else np.uint8(np.median(small))
    small = np.where(roi_small, small, fill).astype(np.uint8)
    k = max(3, int(round(cfg.background_kernel_px / cfg.background_scale)) | 1)
    bg1 = cv2.medianBlur(small, k)
    bright = small.astype(np.float32) > cfg.min_contrast * np.maximum(bg1.astype(np.float32), 1.0)
    bg2 = cv2.medianBlur(np.where(bright, bg1, small).astype(np.uint8), k)
    return np.maximum(bg2.astype(np.float32), 1.0)


def segment_parts(
    gray: np.ndarray, roi: np.ndarray, roi_small: np.ndarray, cfg: SegmentationConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Coarse part mask and the belt brightness it was measured against.

    A pixel is a part candidate where it is `min_contrast` times brighter than the belt under
    the same light; lighting changes scale belt and parts alike, so this holds through them.

    Args:
        gray: (H, W) uint8.
        roi: (H, W) uint8 0/255 belt region.
        roi_small: (h, w) bool belt region at the background model's resolution.
        cfg: segmentation knobs.

    Returns:
        (H, W) uint8 0/255 coarse mask inside the belt region, and (H, W) float32 belt
        brightness.
    """
    H, W = gray.shape
    bg_small = belt_illumination(gray, roi_small, cfg)
    bg = cv2.resize(bg_small, (W, H), interpolation=cv2.INTER_LINEAR)
    # The level image is smooth: comparing in uint8 costs half a grey level of threshold and
    # spares a full-frame float division (ratios are computed around blobs only).
    level = cv2.resize(
        np.clip(np.round(bg_small * np.float32(cfg.min_contrast)), 0, 255).astype(np.uint8),
        (W, H),
        interpolation=cv2.INTER_LINEAR,
    )
    mask = cv2.bitwise_and(cv2.compare(gray, level, cv2.CMP_GT), roi)
    # Opening removes isolated bright weave pixels that would otherwise roughen outlines.
    return cv2.morphologyEx(mask, cv2.MORPH_OPEN, _OPEN_KERNEL), bg


_OPEN_KERNEL = np.ones((3, 3), np.uint8)


def refine_blob(ratio: np.ndarray, coarse: np.ndarray, cfg: SegmentationConfig) -> np.ndarray:
    """A part's own mask at half its brightness above the belt (uint8 0/255).

    Parts differ in brightness (finish, tilt to the light): a threshold half way between the
    belt (1) and this blob's median level puts its outline on the anti-aliased edge, so size,
    shape class and centroid do not depend on how bright the part is.

    Args:
        ratio: (h, w) belt ratio patch around the blob.
        coarse: (h, w) uint8 0/255 coarse mask of this blob only.
    """
    level = float(np.median(ratio[coarse > 0]))
    thr = max(cfg.min_contrast, 0.5 * (1.0 + level))
    near = cv2.dilate(coarse, _OPEN_KERNEL)  # a neighbour's pixels stay out
    fine = cv2.bitwise_and((ratio > thr).astype(np.uint8) * 255, near)
    return cv2.morphologyEx(fine, cv2.MORPH_OPEN, _OPEN_KERNEL)


def _distance_to_background(mask: np.ndarray) -> np.ndarray:
    """Euclidean distance to the nearest background pixel; the patch border counts as
    background (OpenCV's transform ignores the border, which inflates blobs touching it)."""
    padded = cv2.copyMakeBorder(mask, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    return cv2.distanceTransform(padded, cv2.DIST_L2, 5)[1:-1, 1:-1]


def _regional_maxima(f: np.ndarray, tol: float = 1e-4) -> np.ndarray:
    """Labels (int32, 0 = none) of the regional maxima of `f`: connected plateaus with no
    higher neighbour."""
    local = f >= cv2.dilate(f, np.ones((3, 3), np.uint8)) - tol
    n, labels = cv2.connectedComponents(local.astype(np.uint8), connectivity=8)
    # A plateau some of whose pixels touch a higher pixel is not a maximum: its other (local-max)
    # pixels then sit next to a same-level pixel that is not a local max.
    padded = np.pad(f, 1, mode="edge")
    not_local = np.pad(~local, 1, constant_values=False)
    fake = np.zeros_like(local)
    H, W = f.shape
    for dv in (-1, 0, 1):
        for du in (-1, 0, 1):
            if dv == 0 and du == 0:
                continue
            nb = padded[1 + dv : 1 + dv + H, 1 + du : 1 + du + W]
            nb_not_local = not_local[1 + dv : 1 + dv + H, 1 + du : 1 + du + W]
            fake |= local & nb_not_local & (np.abs(nb - f) <= tol)
    bad = np.unique(labels[fake])
    labels[np.isin(labels, bad)] = 0
    return labels


def _h_maxima_markers(dist: np.ndarray, h: float) -> np.ndarray:
    """Labels (int32, 0 = none) of the maxima of `dist` whose dynamic is at least `h`: the
    regional maxima of the reconstruction by dilation of dist - h under dist."""
    marker = np.maximum(dist - h, 0.0).astype(np.float32)
    kernel = np.ones((3, 3), np.uint8)
    for _ in range(max(dist.shape)):
        prev = marker
        for _ in range(4):  # check convergence every few steps: the check costs as much as a step
            marker = np.minimum(cv2.dilate(marker, kernel), dist)
        if np.array_equal(prev, marker):
            break
    labels = _regional_maxima(marker)
    labels[dist <= 0] = 0
    return labels


def split_touching(blob: np.ndarray, cfg: SegmentationConfig) -> list[np.ndarray]:
    """Split one blob (uint8 0/255) into touching parts; returns one uint8 0/255 mask per part.

    Markers are the distance-transform peaks that rise well above their saddles (h-maxima).
    Each pixel then goes to the part with the smallest power distance (d + h)^2 - R^2, where d
    is its distance to that part's marker and R the part's inscribed radius: for two touching
    discs of any sizes the dividing line is their radical axis, through the contact point, and
    an L keeps its legs because its marker runs along them.
    """
    # Peaks are found at half resolution (parts are >= 30 px across): 8x less work.
    half = cv2.resize(blob, (max(1, blob.shape[1] // 2), max(1, blob.shape[0] // 2)), interpolation=cv2.INTER_AREA)
    half = np.where(half > 127, 255, 0).astype(np.uint8)
    dist_half = _distance_to_background(half)
    h_half = 0.5 * max(cfg.split_min_dynamic_px, cfg.split_rel_dynamic * 2.0 * float(dist_half.max()))
    peak_labels = _h_maxima_markers(dist_half, h_half)
    ids = np.unique(peak_labels[peak_labels > 0])
    if len(ids) <= 1:  # one peak: a single part
        return [blob]
    dist = _distance_to_background(blob)
    size = (blob.shape[1], blob.shape[0])
    scores = []
    for i in ids:
        marker = cv2.resize((peak_labels == i).astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
        marker &= blob > 0
        if not np.any(marker):
            continue
        d = cv2.distanceTransform(np.where(marker, 0, 255).astype(np.uint8), cv2.DIST_L2, 5)
        r = float(dist[marker].max())
        scores.append((d + 2.0 * h_half) ** 2 - r**2)
    owner = np.argmin(np.stack(scores), axis=0)
    parts = []
    for k in range(len(scores)):
        part = ((owner == k) & (blob > 0)).astype(np.uint8) * 255
        parts.append(_largest_component(part))
    return [p for p in parts if cv2.countNonZero(p) >= cfg.min_area_px]


def _largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 8-connected region of a mask (stray pixels across a gap are dropped)."""
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if len(contours) <= 1:
        return mask
    keep = np.zeros_like(mask)
    cv2.drawContours(keep, [max(contours, key=cv2.contourArea)], -1, 255, thickness=cv2.FILLED)
    return cv2.bitwise_and(mask, keep)


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Outer outline filled (a washer's or nut's hole shows the belt)."""
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    out = np.zeros_like(mask)
    cv2.drawContours(out, contours, -1, 255, thickness=cv2.FILLED)
    return out


def classify_outline(area_px: float, hull_area_px: float, radius_px: float) -> PartShape:
    """Shape from solidity (L is concave) and how well the outline fills its enclosing circle
    (disc ~1.0, hexagon 0.83)."""
    if hull_area_px <= 0 or radius_px <= 0:
        return PartShape.UNKNOWN
    solidity = area_px / hull_area_px
    fill = area_px / (np.pi * radius_px**2)
    if solidity < 0.88:
        return PartShape.BRACKET
    if fill > 0.905:
        return PartShape.WASHER
    if fill > 0.72:
        return PartShape.HEX_NUT
    return PartShape.UNKNOWN


def vertex_angle_image_rad(mask: np.ndarray, centroid_local: np.ndarray) -> float:
    """Direction of a hexagon vertex in the image: phase(sum z^6) / 6 over the filled outline.

    Args:
        mask: (h, w) uint8 filled outline.
        centroid_local: (2,) its centroid (u, v) in the same patch.
    """
    vs, us = np.nonzero(mask)
    z = (us - centroid_local[0]) + 1j * (vs - centroid_local[1])
    z2 = z * z
    return float(np.angle(np.sum(z2 * z2 * z2)) / 6.0)


def bisector_angle_image_rad(moments: dict[str, float]) -> float:
    """Direction from an L's corner along its bisector towards the leg tips, in the image.

    The third-order moment sum |z|^2 z points that way but is sensitive to outline noise; the
    bisector of an equal-legged L is a mirror axis, hence a principal axis of the second
    moments, which are far steadier: take the principal-axis direction nearest to it.
    """
    skew = np.arctan2(moments["mu21"] + moments["mu03"], moments["mu30"] + moments["mu12"])
    axis = 0.5 * np.arctan2(2.0 * moments["mu11"], moments["mu20"] - moments["mu02"])
    k = np.round((skew - axis) / (0.5 * np.pi))
    return float(axis + k * 0.5 * np.pi)


def describe_part(
    filled: np.ndarray, origin_uv: tuple[int, int], frame_shape: tuple[int, int], edge_band: np.ndarray, margin_px: int
) -> Detection | None:
    """Detection for one part's filled outline mask.

    Args:
        filled: (h, w) uint8 0/255, a patch of the frame whose top-left pixel is `origin_uv`.
        origin_uv: (u, v) of the patch in the frame.
        frame_shape: (H, W) of the frame.
        edge_band: (H, W) bool, the belt region's edge.
        margin_px: closer than this to the image border is not fully in view.
    """
    m = cv2.moments(filled, binaryImage=True)
    if m["m00"] <= 0:
        return None
    c_local = np.array([m["m10"] / m["m00"], m["m01"] / m["m00"]])
    contours, _ = cv2.findContours(filled, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    contour = max(contours, key=cv2.contourArea)
    hull_area = cv2.contourArea(cv2.convexHull(contour))
    _, radius = cv2.minEnclosingCircle(contour)
    area = float(m["m00"])
    shape = classify_outline(area, hull_area, radius)
    # The crop scale uses the circle about the centroid (the part's origin), which a training
    # set cut from ground truth can reproduce; the enclosing circle of an L is centred elsewhere.
    radius_about_centroid = float(np.sqrt(np.max(np.sum((contour[:, 0, :] - c_local) ** 2, axis=1))))
    # The 6th-order moment needs the pixels; an L never needs it.
    vertex_angle = 0.0 if shape == PartShape.BRACKET else vertex_angle_image_rad(filled, c_local)
    bisector_angle = bisector_angle_image_rad(m)
    bx, by, bw, bh = cv2.boundingRect(np.concatenate(contours))
    u0, v0 = origin_uv
    bbox = (u0 + bx, v0 + by, u0 + bx + bw - 1, v0 + by + bh - 1)
    H, W = frame_shape
    inside_image = (
        bbox[0] >= margin_px and bbox[1] >= margin_px and bbox[2] <= W - 1 - margin_px and bbox[3] <= H - 1 - margin_px
    )
    band = edge_band[v0 : v0 + filled.shape[0], u0 : u0 + filled.shape[1]]
    touches_band = bool(np.any(band[filled > 0]))
    return Detection(
        centroid_px=c_local + np.array([u0, v0], dtype=float),
        bbox_px=bbox,
        area_px=area,
        radius_px=radius_about_centroid,
        shape=shape,
        vertex_angle_image_rad=vertex_angle,
        bisector_angle_image_rad=bisector_angle,
        fully_in_view=inside_image and not touches_band,
    )


def detect_parts(
    gray: np.ndarray, roi: np.ndarray, roi_small: np.ndarray, edge_band: np.ndarray, cfg: SegmentationConfig
) -> list[Detection]:
    """All parts in a grayscale frame, touching ones separated.

    Args:
        gray: (H, W) uint8.
        roi: (H, W) uint8 0/255 belt region.
        roi_small: belt region at the background model's resolution (bool).
        edge_band: (H, W) bool, pixels near the belt region's edge (parts touching it are cut).
        cfg: segmentation knobs.
    """
    coarse, bg = segment_parts(gray, roi, roi_small, cfg)
    # Outer contours: several times faster than labelling.
    blobs, _ = cv2.findContours(coarse, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    out = []
    pad = 2
    H, W = gray.shape
    for blob in blobs:
        if cv2.contourArea(blob) < 0.5 * cfg.min_area_px:
            continue
        x, y, w, h = cv2.boundingRect(blob)
        u0, v0 = max(x - pad, 0), max(y - pad, 0)
        u1, v1 = min(x + w + pad, W), min(y + h + pad, H)
        region = np.zeros((v1 - v0, u1 - u0), np.uint8)
        cv2.drawContours(region, [blob], -1, 255, thickness=cv2.FILLED, offset=(-u0, -v0))
        ratio = cv2.divide(gray[v0:v1, u0:u1].astype(np.float32), bg[v0:v1, u0:u1])
        mask = refine_blob(ratio, cv2.bitwise_and(coarse[v0:v1, u0:u1], region), cfg)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        for contour in contours:
            if cv2.contourArea(contour) < cfg.min_area_px:
                continue
            filled = np.zeros_like(mask)
            cv2.drawContours(filled, [contour], -1, 255, thickness=cv2.FILLED)
            for part in _split_if_needed(filled, mask, contour, cfg):
                det = describe_part(part, (u0, v0), (H, W), edge_band, cfg.border_margin_px)
                if det is not None:
                    out.append(det)
    return out


def _split_if_needed(filled: np.ndarray, mask: np.ndarray, contour: np.ndarray, cfg: SegmentationConfig) -> list[np.ndarray]:
    """Filled masks of the parts in one blob.

    Only non-convex blobs can be several parts (discs and hexagons are convex) and the split is
    the costly step, so convex ones skip it. The split must not fill every hole: that would
    also fill the gap enclosed by three touching parts and weld them together.
    """
    area = cv2.contourArea(contour)
    hull = cv2.contourArea(cv2.convexHull(contour))
    if hull <= 0 or area / hull > 0.96 or _deep_concavities(contour) <= 1:
        # Two parts that touch leave a notch on each side of the contact; one notch alone is
        # the inner corner of an L.
        return [filled]
    # Holes a part has of its own (bore, mounting holes, a crack in its face) would notch the
    # distance map like necks between parts: fill them, but not the gap enclosed by three
    # touching parts.
    blob = fill_own_holes(cv2.bitwise_and(mask, filled))
    # A crack may also run in from the edge: close slits up to ~4 px wide (closing only adds
    # pixels inside such narrow gaps, never beyond the outline) before looking for necks.
    parts = split_touching(cv2.morphologyEx(blob, cv2.MORPH_CLOSE, _SLIT_KERNEL), cfg)
    if len(parts) == 1:
        return [filled]
    # The closing also rounded the notches at the contact: outlines come from the blob itself.
    return [fill_holes(_largest_component(cv2.bitwise_and(p, blob))) for p in parts]


def _deep_concavities(contour: np.ndarray, min_depth_px: float = 3.0) -> int:
    """Number of convexity defects deeper than `min_depth_px` (pixel steps are shallower)."""
    hull_idx = cv2.convexHull(contour, returnPoints=False)
    if hull_idx is None or len(hull_idx) < 3:
        return 0
    try:
        defects = cv2.convexityDefects(contour, np.sort(hull_idx, axis=0))
    except cv2.error:  # self-intersecting outline: let the full split decide
        return 2
    if defects is None:
        return 0
    return int(np.count_nonzero(defects[:, 0, 3] / 256.0 > min_depth_px))


_SLIT_KERNEL = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))


def fill_own_holes(mask: np.ndarray, thin_px: float = 2.5, round_ratio: float = 1.6) -> np.ndarray:
    """Fill the holes that belong to one part: thin ones (cracks, specks: inscribed radius
    <= `thin_px`) and round ones (bores: area <= `round_ratio` x the inscribed disc's). The
    three-cornered gap between touching parts holds twice its inscribed disc and stays open.

    Args:
        mask: (h, w) uint8 0/255 blob with holes.
    """
    holes = cv2.bitwise_and(fill_holes(mask), cv2.bitwise_not(mask))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(holes, connectivity=8)
    if n <= 1:
        return mask
    inside = holes > 0
    inscribed = np.zeros(n)
    np.maximum.at(inscribed, labels[inside], _distance_to_background(holes)[inside])
    inscribed = inscribed[1:]
    area = stats[1:, cv2.CC_STAT_AREA].astype(float)
    own = (inscribed <= thin_px) | (area <= round_ratio * np.pi * inscribed**2)
    fill = np.concatenate([[False], own])[labels]
    out = mask.copy()
    out[fill] = 255
    return out
