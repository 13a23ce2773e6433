"""Labeled images from the twin, for training and evaluating the defect classifier and the vision.

`render_labeled_scenes` yields overhead camera frames with the ground truth of every part in
view, projected into the image (centre, angle, bounding box, flaw position). The consumer cuts
its own crops (e.g. with `factory_ai.vision.canonical_crop(rgb, center_px, angle_rad, size)`),
so training and run time share one crop function. `render_flaw_pairs` renders the same part with
and without its flaw under the same light, for controlled comparisons.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from factory_ai.config import CellDescription
from factory_ai.geometry import T_inv
from factory_ai.sim.parts import draw_part_appearance, shape_geometry
from factory_ai.sim.types import CameraFrame, PartShape, PartTruth, SimConfig
from factory_ai.types import DefectType


@dataclass(frozen=True)
class LabeledPart:
    """A part's ground truth as the overhead camera sees it.

    Attributes:
        truth: the sim's ground truth (base frame).
        center_px: (2,) u, v of the part's top-face centre.
        angle_image_rad: direction of the part's x axis in the image (atan2(dv, du), v down).
        bbox_px: (u_min, v_min, u_max, v_max) of the projected part (float, may leave the image).
        fully_in_view: the whole part lies inside the image.
        defect_px: (2,) u, v of the flaw centre, or None for a good part.
    """

    truth: PartTruth
    center_px: np.ndarray
    angle_image_rad: float
    bbox_px: tuple[float, float, float, float]
    fully_in_view: bool
    defect_px: np.ndarray | None


@dataclass(frozen=True)
class LabeledFrame:
    """One overhead image and the parts in it."""

    frame: CameraFrame
    parts: list[LabeledPart]


def project_base_points(cell: CellDescription, p_base_m: np.ndarray, K: np.ndarray | None = None) -> np.ndarray:
    """Pinhole projection of base-frame points (M, 3) into the overhead image: (M, 2) u, v."""
    T_cam_base = T_inv(cell.camera.T_base_camera)
    K = cell.camera.K if K is None else K
    p_cam = np.asarray(p_base_m, dtype=float) @ T_cam_base[:3, :3].T + T_cam_base[:3, 3]
    uvw = p_cam @ K.T
    return uvw[:, :2] / uvw[:, 2:3]


def label_parts(cell: CellDescription, truths: list[PartTruth], K: np.ndarray | None = None) -> list[LabeledPart]:
    """Project ground truth into the overhead image; parts behind the camera are skipped."""
    T_base_world = T_inv(cell.arm.T_world_base)
    w, h = cell.camera.width_px, cell.camera.height_px
    out = []
    for t in truths:
        geo = shape_geometry(t.shape)
        T = T_base_world @ t.T_world_part
        top = np.array([0.0, 0.0, geo.thickness_m])
        ring = np.concatenate(
            [np.column_stack([geo.outline_m, np.full(len(geo.outline_m), z)]) for z in (0.0, geo.thickness_m)]
        )
        pts = np.vstack([top, top + [0.01, 0.0, 0.0], ring]) @ T[:3, :3].T + T[:3, 3]
        T_cam_base = T_inv(cell.camera.T_base_camera)
        if np.any((pts @ T_cam_base[:3, :3].T + T_cam_base[:3, 3])[:, 2] <= 0.0):
            continue
        uv = project_base_points(cell, pts, K)
        c, ax, outline = uv[0], uv[1], uv[2:]
        u0, v0 = outline.min(axis=0)
        u1, v1 = outline.max(axis=0)
        defect_px = None
        if t.defect_p_base_m is not None:
            defect_px = project_base_points(cell, t.defect_p_base_m[None], K)[0]
        out.append(LabeledPart(
            truth=t, center_px=c, angle_image_rad=float(np.arctan2(ax[1] - c[1], ax[0] - c[0])),
            bbox_px=(float(u0), float(v0), float(u1), float(v1)),
            fully_in_view=bool(u0 >= 0 and v0 >= 0 and u1 <= w - 1 and v1 <= h - 1), defect_px=defect_px,
        ))  # fmt: skip
    return out


def _view_rect_base(cell: CellDescription, margin_m: float) -> tuple[np.ndarray, np.ndarray]:
    """x, y ranges on the belt (base frame) that the overhead camera sees, shrunk by a margin."""
    T = cell.camera.T_base_camera
    K = cell.camera.K
    belt_z = (T_inv(cell.arm.T_world_base) @ cell.conveyor.T_world_belt)[2, 3]
    corners_px = np.array([[0, 0], [cell.camera.width_px - 1, cell.camera.height_px - 1]], dtype=float)
    rays = np.column_stack([(corners_px - K[:2, 2]) / np.diag(K)[:2], np.ones(2)]) @ T[:3, :3].T
    s = (belt_z - T[2, 3]) / rays[:, 2]
    pts = T[:3, 3] + rays * s[:, None]
    lo, hi = pts[:, :2].min(axis=0) + margin_m, pts[:, :2].max(axis=0) - margin_m
    belt = T_inv(cell.arm.T_world_base) @ cell.conveyor.T_world_belt
    half_w = cell.conveyor.width_m / 2.0 - margin_m
    lo[1] = max(lo[1], belt[1, 3] - half_w)
    hi[1] = min(hi[1], belt[1, 3] + half_w)
    return lo, hi


def render_labeled_scenes(n: int, seed: int = 0, config: SimConfig | None = None, cell: CellDescription | None = None,
                          parts_per_scene: tuple[int, int] = (1, 5), defect_rate: float = 0.5,
                          defect_types: tuple[DefectType, ...] | None = None,
                          severity_range: tuple[float, float] | None = None,
                          shapes: tuple[PartShape, ...] | None = None, realism: bool = True) -> Iterator[LabeledFrame]:
    """Yield `n` overhead frames, each with 1..k random parts at rest in view, and their labels.

    Every scene draws new light and exposure (if realism is on) and new parts; the same `seed`
    gives the same images.

    Args:
        n: number of frames.
        seed: seeds everything (parts, poses, flaws, image noise).
        config: sim configuration (spawner settings are overridden: nothing moves).
        parts_per_scene: (min, max) parts per frame.
        defect_rate: share of defective parts.
        defect_types / severity_range / shapes: default to the config's.
        realism: apply the camera degradations.
    """
    from factory_ai.sim.cell_sim import CellSim  # MuJoCo only when rendering

    base = config if config is not None else SimConfig()
    cfg = dataclasses.replace(base, spawn_enabled=False, prefill_belt=False, belt_speed_mps=0.0)
    sim = CellSim(cell, cfg)
    try:
        sim.reset(seed)
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 7]))
        types = tuple(defect_types or cfg.defect_types)
        sev_lo, sev_hi = severity_range or cfg.severity_range
        shape_set = tuple(shapes or cfg.shapes)
        lo, hi = _view_rect_base(sim.cell, 0.03)
        for _ in range(n):
            sim.clear_parts()
            placed: list[tuple[np.ndarray, float]] = []
            for _k in range(int(rng.integers(parts_per_scene[0], parts_per_scene[1] + 1))):
                shape = PartShape(shape_set[int(rng.integers(len(shape_set)))])
                r = shape_geometry(shape).radius_m
                for _try in range(30):
                    xy = rng.uniform(lo + r, hi - r) if np.all(hi - r > lo + r) else (lo + hi) / 2.0
                    if all(np.hypot(*(xy - p)) >= r + q + 0.003 for p, q in placed):
                        break
                else:
                    continue
                if rng.random() < defect_rate:
                    dtype = DefectType(types[int(rng.integers(len(types)))])
                    appearance = draw_part_appearance(rng, shape, dtype, float(rng.uniform(sev_lo, sev_hi)))
                else:
                    appearance = draw_part_appearance(rng, shape)
                sim.spawn_part(p_base_m=xy, yaw_rad=float(rng.uniform(-np.pi, np.pi)), appearance=appearance)
                placed.append((xy, r))
            if realism:
                sim.realism.resample()
            frame = sim.render_camera(realism=realism)
            yield LabeledFrame(frame, label_parts(sim.cell, sim.ground_truth(), frame.K))
    finally:
        sim.close()


def render_flaw_pairs(n: int, seed: int = 0, config: SimConfig | None = None, cell: CellDescription | None = None,
                      defect_types: tuple[DefectType, ...] | None = None,
                      severity_range: tuple[float, float] = (0.15, 1.0),
                      realism: bool = False) -> Iterator[tuple[LabeledFrame, LabeledFrame]]:
    """Yield `n` pairs (flawed, same part without the flaw): one part at the same pose and light."""
    from factory_ai.sim.cell_sim import CellSim

    base = config if config is not None else SimConfig()
    cfg = dataclasses.replace(base, spawn_enabled=False, prefill_belt=False, belt_speed_mps=0.0)
    sim = CellSim(cell, cfg)
    try:
        sim.reset(seed)
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 11]))
        types = tuple(defect_types or cfg.defect_types)
        lo, hi = _view_rect_base(sim.cell, 0.06)
        for _ in range(n):
            shape = PartShape(cfg.shapes[int(rng.integers(len(cfg.shapes)))])
            dtype = DefectType(types[int(rng.integers(len(types)))])
            flawed = draw_part_appearance(rng, shape, dtype, float(rng.uniform(*severity_range)))
            xy, yaw = rng.uniform(lo, hi), float(rng.uniform(-np.pi, np.pi))
            if realism:
                sim.realism.resample()
            pair = []
            for app in (flawed, flawed.without_defect()):
                sim.clear_parts()
                sim.spawn_part(p_base_m=xy, yaw_rad=yaw, appearance=app)
                state = sim.realism.snapshot()
                frame = sim.render_camera(realism=realism)
                sim.realism.restore(state)
                pair.append(LabeledFrame(frame, label_parts(sim.cell, sim.ground_truth(), frame.K)))
            yield pair[0], pair[1]
    finally:
        sim.close()
