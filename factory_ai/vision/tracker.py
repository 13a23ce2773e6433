"""PartTracker: overhead frames -> parts on the belt in the base frame, tracked with stable ids."""

from __future__ import annotations

import logging
from collections import Counter, deque
from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

from factory_ai.config import CellDescription
from factory_ai.geometry import wrap_angle_rad
from factory_ai.types import PartObservation
from factory_ai.vision.camera_model import BeltPlaneModel
from factory_ai.vision.crop import canonical_crop
from factory_ai.vision.detection import (
    SYMMETRY_RAD,
    Detection,
    PartShape,
    SegmentationConfig,
    detect_parts,
)
from factory_ai.vision.frame_check import check_rgb_frame

log = logging.getLogger(__name__)


def _default_seen_height_m() -> dict[str, float]:
    # Height above the belt of the outline the camera segments: the top face (the side walls
    # face away from the light and stay below the threshold). Thicknesses of the twin's parts:
    # washer and bracket 3 mm plates, hex nut 8 mm; measured on its renders, these heights
    # bring the centroid bias under 0.1 mm anywhere in the view.
    return {
        PartShape.WASHER.value: 0.003,
        PartShape.BRACKET.value: 0.003,
        PartShape.HEX_NUT.value: 0.008,
        PartShape.UNKNOWN.value: 0.003,
    }


def _default_feature_angle_part_rad() -> dict[str, float]:
    # Direction of each outline's orientation feature in the part's own frame: a hexagon
    # vertex on the part's +x; the L's corner-to-tips bisector between legs along +x and +y.
    return {
        PartShape.WASHER.value: 0.0,
        PartShape.BRACKET.value: np.pi / 4.0,
        PartShape.HEX_NUT.value: 0.0,
        PartShape.UNKNOWN.value: 0.0,
    }


@dataclass(frozen=True)
class TrackerConfig:
    """Knobs of the part tracker.

    Args:
        segmentation: belt/part segmentation knobs.
        seen_height_m: per shape, height above the belt of the outline the camera sees (m):
            the top face for thin parts. Removes the parallax between top and footprint.
        feature_angle_part_rad: per shape, direction of the outline's orientation feature
            (see `Detection`) in the part frame, so yaw follows the part's own x axis.
        crop_size_px: side of the canonical crop (px).
        crop_margin: crop side = this times the part's bounding diameter about its centroid.
        roi_inset_m: margin inside the belt edges where parts are looked for (m); the twin's
            spawner keeps parts 4 mm from the edges.
        gate_m: largest distance between a track's predicted and a detected position (m) ...
        gate_speed_mps: ... plus this speed uncertainty times the time since the track was seen
            while its velocity is still the prior.
        max_missed_frames: frames a track may go undetected (occlusion, merge) before it ends.
        history_len: samples per track kept for the velocity fit.
        min_samples_own_velocity: below this many samples a track reports the belt velocity
            pooled over all tracks instead of its own (noisy) slope.
        velocity_outlier_m: velocity fits drop samples this far off their line (a frame in
            which a part was mis-segmented).
        min_hits_to_report: a new track is reported from its n-th detection on, so that a
            one-frame fragment (a part cut by a glare, say) never reaches the classifier;
            a track that misses a frame before that ends.
    """

    segmentation: SegmentationConfig = field(default_factory=SegmentationConfig)
    seen_height_m: dict[str, float] = field(default_factory=_default_seen_height_m)
    feature_angle_part_rad: dict[str, float] = field(default_factory=_default_feature_angle_part_rad)
    crop_size_px: int = 96
    crop_margin: float = 1.15
    roi_inset_m: float = 0.0
    gate_m: float = 0.02
    gate_speed_mps: float = 0.5
    max_missed_frames: int = 5
    history_len: int = 30
    min_samples_own_velocity: int = 10
    velocity_outlier_m: float = 0.002
    min_hits_to_report: int = 2

    def __post_init__(self) -> None:
        for name in ("gate_m", "crop_margin"):
            if not getattr(self, name) > 0:
                msg = f"TrackerConfig.{name} must be > 0, got {getattr(self, name)}"
                raise ValueError(msg)
        if self.crop_size_px < 8:
            msg = f"TrackerConfig.crop_size_px must be >= 8, got {self.crop_size_px}"
            raise ValueError(msg)
        if self.min_hits_to_report < 1:
            msg = f"TrackerConfig.min_hits_to_report must be >= 1, got {self.min_hits_to_report}"
            raise ValueError(msg)
        if self.history_len < 2 or self.min_samples_own_velocity < 2:
            msg = "TrackerConfig.history_len and min_samples_own_velocity must be >= 2"
            raise ValueError(msg)


@dataclass
class _Track:
    track_id: int
    t_s: deque
    p_base_m: deque
    shapes: Counter
    missed: int = 0
    hits: int = 0
    radius_px: float = 0.0
    own_v_mps: np.ndarray | None = None  # own least-squares velocity, once it has enough samples

    @property
    def shape(self) -> PartShape:
        return self.shapes.most_common(1)[0][0]

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return np.fromiter(self.t_s, float, len(self.t_s)), np.array(self.p_base_m)


def velocity_ls_mps(t_s: np.ndarray, p_m: np.ndarray, outlier_m: float | None = None) -> np.ndarray:
    """Least-squares velocity of positions over time, optionally refitted without outliers.

    Args:
        t_s: (N,) times.
        p_m: (N, 3) positions.
        outlier_m: samples farther than this from the first fit are dropped and the line
            refitted (a frame where a part was mis-segmented must not skew its velocity).

    Returns:
        (3,) slope (m/s); zeros when the times do not spread.
    """
    keep = _inliers(t_s, p_m, outlier_m)
    return _slope(t_s[keep], p_m[keep])


def _slope(t_s: np.ndarray, p_m: np.ndarray) -> np.ndarray:
    tc = t_s - t_s.mean()
    den = float(tc @ tc)
    if den <= 0.0:
        return np.zeros(3)
    return (tc @ (p_m - p_m.mean(axis=0))) / den


def _inliers(t_s: np.ndarray, p_m: np.ndarray, outlier_m: float | None) -> np.ndarray:
    """(N,) bool: samples within `outlier_m` of the least-squares line (all if too few)."""
    keep = np.ones(len(t_s), bool)
    if outlier_m is None or len(t_s) < 4:
        return keep
    v = _slope(t_s, p_m)
    tc = t_s - t_s.mean()
    resid = np.linalg.norm(p_m - p_m.mean(axis=0) - tc[:, None] * v, axis=1)
    keep = resid <= outlier_m
    return keep if np.count_nonzero(keep) >= 3 else np.ones(len(t_s), bool)


def pooled_velocity_mps(tracks: list[_Track], outlier_m: float | None = None) -> np.ndarray | None:
    """One belt velocity fitted to all tracks at once (own offset per track, common slope).

    All parts in view ride the same belt, so the common slope is far less noisy than any
    single young track's.
    """
    num = np.zeros(3)
    den = 0.0
    for tr in tracks:
        if len(tr.t_s) < 2:
            continue
        t, p = tr.arrays()
        keep = _inliers(t, p, outlier_m)
        t, p = t[keep], p[keep]
        tc = t - t.mean()
        num += tc @ (p - p.mean(axis=0))
        den += float(tc @ tc)
    return num / den if den > 0.0 else None


def reduce_yaw_rad(yaw_rad: np.ndarray, period_rad: np.ndarray) -> np.ndarray:
    """Yaw modulo a symmetry period, in [-period/2, period/2); period 0 gives 0."""
    yaw = np.asarray(yaw_rad, dtype=float)
    period = np.asarray(period_rad, dtype=float)
    safe = np.where(period > 0, period, 1.0)
    out = (yaw + 0.5 * safe) % safe - 0.5 * safe
    return np.where(period > 0, out, 0.0)


class PartTracker:
    """Detects parts in overhead frames, locates them on the belt (base frame) and tracks them.

    `update` reports each part fully in view in that frame with a stable `track_id`, its centre
    on the belt surface, yaw modulo its symmetry, velocity and canonical crop.
    """

    def __init__(self, cell: CellDescription, config: TrackerConfig | None = None, belt_speed_mps: float | None = None) -> None:
        self.cell = cell
        self.config = config or TrackerConfig()
        self.plane = BeltPlaneModel(cell)
        cam = cell.camera
        self.width_px, self.height_px = cam.width_px, cam.height_px
        speed = cell.conveyor.speed_mps if belt_speed_mps is None else float(belt_speed_mps)
        self._v_prior_mps = speed * self.plane.x_belt_base
        self._roi, self._roi_small, self._edge_band = self._belt_region()
        self.reset()

    def reset(self) -> None:
        """Forget all tracks (e.g. after the twin was reset); ids keep increasing."""
        self._tracks: list[_Track] = []
        self._belt_v_mps: np.ndarray | None = None
        self._last_stamp_s: float | None = None
        if not hasattr(self, "_next_id"):
            self._next_id = 1

    @property
    def belt_velocity_mps(self) -> np.ndarray:
        """Current belt velocity estimate (3,) in the base frame; the prior until parts were seen."""
        return (self._belt_v_mps if self._belt_v_mps is not None else self._v_prior_mps).copy()

    @property
    def n_tracks(self) -> int:
        """Tracks alive (seen recently, still in view)."""
        return len(self._tracks)

    def _belt_region(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        W, H = self.width_px, self.height_px
        poly = self.plane.belt_polygon_px(self.config.roi_inset_m)
        roi = np.zeros((H, W), np.uint8)
        if len(poly) >= 3:
            cv2.fillPoly(roi, [np.round(poly).astype(np.int32)], 255)
        if cv2.countNonZero(roi) == 0:
            log.warning("the belt is not in the camera's view; searching the whole image")
            roi[:] = 255
        s = self.config.segmentation.background_scale
        small = cv2.resize(roi, (max(1, W // s), max(1, H // s)), interpolation=cv2.INTER_AREA) > 127
        # Parts ride the belt, so one reaching the belt region's edge is cut by it (or merged
        # with a rail): a one-pixel band along that edge flags them.
        inner = cv2.erode(roi, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=255)
        edge_band = (roi > 0) & (inner == 0)
        return roi, small, edge_band

    def crop_geometry(
        self, p_base_m: np.ndarray, yaw_rad: float, radius_m: float, height_m: float, shape: str | None = None
    ) -> tuple[np.ndarray, float, float]:
        """Where `update` would cut a part's canonical crop, from its pose (e.g. ground truth).

        Lets a training set be cut from twin renders with the same `canonical_crop` call,
        centre, orientation and scale as at run time.

        Args:
            p_base_m: (3,) part origin (outline centroid) on the belt, base frame.
            yaw_rad: the part's x axis about base z.
            radius_m: bounding circle radius about the origin.
            height_m: height of its top face above the belt.
            shape: "washer", "hex_nut" or "bracket": reduces the yaw modulo the shape's
                symmetry as `update` does (a washer's crop keeps the belt's axis); None keeps it.

        Returns:
            centre (2,) px, angle (rad, image direction of the crop's x axis), extent (px):
            the arguments of `canonical_crop` after the frame and before the size.
        """
        p = np.asarray(p_base_m, dtype=float).reshape(1, 3)
        if shape is not None:
            yaw_rad = float(reduce_yaw_rad(wrap_angle_rad(yaw_rad), SYMMETRY_RAD[PartShape(shape)]))
        center = self.plane.belt_to_pixels(p, height_m)[0]
        angle = float(self.plane.image_angle_rad(p, np.array([yaw_rad]), height_m)[0])
        edge = p + radius_m * self.plane.x_belt_base
        radius_px = float(np.linalg.norm(self.plane.belt_to_pixels(edge, height_m)[0] - center))
        return center, angle, 2.0 * radius_px * self.config.crop_margin

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """Parts in one frame (image coordinates), without tracking.

        Raises:
            BadFrameError (a ValueError): the frame is unusable; the message says why.
        """
        rgb = check_rgb_frame(rgb, self.width_px, self.height_px)
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        return detect_parts(gray, self._roi, self._roi_small, self._edge_band, self.config.segmentation)

    def update(self, rgb: np.ndarray, stamp_s: float) -> list[PartObservation]:
        """Process one frame and return the parts fully in view, tracked.

        Args:
            rgb: (H, W, 3) uint8 RGB frame of the overhead camera.
            stamp_s: exposure time on the cell clock (s); must not go backwards.

        Raises:
            BadFrameError (a ValueError): empty, wrong-size, wrong-dtype or NaN frame.
            ValueError: a non-finite or backwards stamp.
        """
        if not isinstance(stamp_s, (int, float, np.floating, np.integer)) or not np.isfinite(stamp_s):
            msg = f"stamp_s must be a finite number, got {stamp_s!r}"
            raise ValueError(msg)
        stamp_s = float(stamp_s)
        if self._last_stamp_s is not None and stamp_s < self._last_stamp_s:
            msg = f"stamp_s went backwards: {stamp_s} after {self._last_stamp_s} (call reset() first)"
            raise ValueError(msg)
        rgb = check_rgb_frame(rgb, self.width_px, self.height_px)
        dets = [d for d in self.detect(rgb) if d.fully_in_view]
        self._last_stamp_s = stamp_s
        shapes = [d.shape for d in dets]
        p_base, yaw_feature = self._locate(dets, shapes)
        pairs, new = self._associate(p_base, stamp_s)
        matched_tracks: list[tuple[_Track, int]] = []
        for ti, di in pairs:
            tr = self._tracks[ti]
            self._append(tr, stamp_s, p_base[di], dets[di])
            matched_tracks.append((tr, di))
        matched_ids = {id(tr) for tr, _ in matched_tracks}
        for tr in self._tracks:
            if id(tr) not in matched_ids:
                tr.missed += 1
        for di in new:
            tr = _Track(self._next_id, deque(maxlen=self.config.history_len), deque(maxlen=self.config.history_len), Counter())
            self._next_id += 1
            self._append(tr, stamp_s, p_base[di], dets[di])
            self._tracks.append(tr)
            matched_tracks.append((tr, di))
        pooled = pooled_velocity_mps(self._tracks, self.config.velocity_outlier_m)
        if pooled is not None:
            self._belt_v_mps = pooled
        for tr, _ in matched_tracks:  # fitted once per frame, used for reports and predictions
            if len(tr.t_s) >= self.config.min_samples_own_velocity:
                t, p = tr.arrays()
                tr.own_v_mps = velocity_ls_mps(t, p, self.config.velocity_outlier_m)
        self._drop_lost(stamp_s)
        confirmed = [(tr, di) for tr, di in matched_tracks if tr.hits >= self.config.min_hits_to_report]
        return self._observe(confirmed, dets, p_base, yaw_feature, stamp_s, rgb)

    # -- steps -------------------------------------------------------------------------------

    def _seen_height_m(self, shape: PartShape) -> float:
        h = self.config.seen_height_m
        return float(h.get(shape.value, h.get(PartShape.UNKNOWN.value, 0.0)))

    def _locate(self, dets: list[Detection], shapes: list[PartShape]) -> tuple[np.ndarray, np.ndarray]:
        """Belt-surface centres (N, 3) and the yaws (N, 2) of both orientation features
        (hexagon vertex, L bisector) in the base frame; the track's shape picks one later."""
        if not dets:
            return np.zeros((0, 3)), np.zeros((0, 2))
        uv = np.array([d.centroid_px for d in dets])
        h = np.array([self._seen_height_m(s) for s in shapes])
        p = self.plane.pixels_to_belt_base_m(uv, h)
        ang = np.array([[d.vertex_angle_image_rad, d.bisector_angle_image_rad] for d in dets])
        yaw = self.plane.yaw_base_rad(np.repeat(uv, 2, axis=0), ang.reshape(-1), np.repeat(h, 2))
        return p, yaw.reshape(-1, 2)

    def _predict_m(self, tr: _Track, stamp_s: float) -> np.ndarray:
        return tr.p_base_m[-1] + self._velocity_of(tr) * (stamp_s - tr.t_s[-1])

    def _associate(self, p_base: np.ndarray, stamp_s: float) -> tuple[list[tuple[int, int]], list[int]]:
        """Hungarian matching of detections to predicted track positions inside a gate."""
        n_t, n_d = len(self._tracks), len(p_base)
        if n_t == 0 or n_d == 0:
            return [], list(range(n_d))
        pred = np.array([self._predict_m(tr, stamp_s) for tr in self._tracks])
        dist = np.linalg.norm(pred[:, None, :] - p_base[None, :, :], axis=2)
        dt = np.array([stamp_s - tr.t_s[-1] for tr in self._tracks])
        known = self._belt_v_mps is not None
        gate = self.config.gate_m + (0.0 if known else self.config.gate_speed_mps) * dt
        cost = np.where(dist <= gate[:, None], dist, 1e6)
        rows, cols = linear_sum_assignment(cost)
        pairs = [(int(r), int(c)) for r, c in zip(rows, cols) if cost[r, c] < 1e6]
        used = {c for _, c in pairs}
        return pairs, [d for d in range(n_d) if d not in used]

    def _append(self, tr: _Track, stamp_s: float, p_base_m: np.ndarray, det: Detection) -> None:
        tr.t_s.append(stamp_s)
        tr.p_base_m.append(np.asarray(p_base_m, dtype=float))
        tr.shapes[det.shape] += 1
        tr.hits += 1
        tr.missed = 0
        tr.radius_px = det.radius_px

    def _velocity_of(self, tr: _Track) -> np.ndarray:
        return tr.own_v_mps.copy() if tr.own_v_mps is not None else self.belt_velocity_mps

    def _drop_lost(self, stamp_s: float) -> None:
        """End tracks missed too long or whose part is leaving the view (it never comes back
        fully into view while the belt runs forward)."""
        keep = []
        for tr in self._tracks:
            if tr.missed > self.config.max_missed_frames:
                continue
            if tr.missed > 0 and tr.hits < self.config.min_hits_to_report:
                continue  # an unconfirmed fragment
            if tr.missed > 0:
                uv = self.plane.belt_to_pixels(self._predict_m(tr, stamp_s)[None], self._seen_height_m(tr.shape))[0]
                r = tr.radius_px
                inside = (
                    np.all(np.isfinite(uv))
                    and r <= uv[0] < self.width_px - 1 - r
                    and r <= uv[1] < self.height_px - 1 - r
                )
                if not inside:
                    continue
            keep.append(tr)
        self._tracks = keep

    def _observe(
        self,
        matched: list[tuple[_Track, int]],
        dets: list[Detection],
        p_base_m: np.ndarray,
        yaw_features_rad: np.ndarray,
        stamp_s: float,
        rgb: np.ndarray,
    ) -> list[PartObservation]:
        """Observations of the tracks seen in this frame (yaw by the track's shape, crops)."""
        if not matched:
            return []
        shapes = [tr.shape for tr, _ in matched]
        di = np.array([d for _, d in matched])
        feature = np.where(
            [s == PartShape.BRACKET for s in shapes], yaw_features_rad[di, 1], yaw_features_rad[di, 0]
        )
        offset = np.array([self.config.feature_angle_part_rad.get(s.value, 0.0) for s in shapes])
        period = np.array([SYMMETRY_RAD[s] for s in shapes])
        yaw = reduce_yaw_rad(wrap_angle_rad(feature - offset), period)
        heights = np.array([self._seen_height_m(s) for s in shapes])
        # The crop's x axis is the part's own x axis as it appears in the image.
        angle_img = self.plane.image_angle_rad(p_base_m[di], yaw, heights)
        out = []
        for k, (tr, d) in enumerate(matched):
            det = dets[d]
            extent_px = 2.0 * det.radius_px * self.config.crop_margin
            crop = canonical_crop(rgb, det.centroid_px, float(angle_img[k]), self.config.crop_size_px, extent_px=extent_px)
            out.append(
                PartObservation(
                    track_id=tr.track_id,
                    stamp_s=stamp_s,
                    p_base_m=np.asarray(p_base_m[d], dtype=float).copy(),
                    yaw_rad=float(yaw[k]),
                    v_base_mps=self._velocity_of(tr),
                    bbox_px=det.bbox_px,
                    fully_in_view=True,
                    crop=crop,
                    frame_id=self.cell.arm.base_frame,
                    crop_center_px=np.asarray(det.centroid_px, dtype=float).copy(),
                    crop_angle_rad=float(angle_img[k]),
                    crop_extent_px=extent_px,
                    shape=shapes[k].value,
                )
            )
        return out
