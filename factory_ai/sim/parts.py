"""Metal part shapes, their meshes, and procedural surface textures with defects.

Everything here is pure numpy/OpenCV (no MuJoCo), so the classifier engineer can render
controlled data sets: `draw_part_appearance(rng, shape, defect_type, severity)` is a pure
function of its arguments, and `part_texture_rgb(appearance)` rasterizes it deterministically.

Part frame: origin at the part's centroid on its bottom face, z up, x along the canonical axis.
Texture frame: a square of side `tex_size_m` centred at `tex_center_m` (part frame) on the top
face; texel row 0 is at +y (image-like, so a texture viewed from above with x right reads
naturally), column 0 at -x.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from factory_ai.sim.types import PartShape
from factory_ai.types import DefectType

STEEL_DENSITY_KGPM3 = 7850.0


@dataclass(frozen=True)
class ShapeGeometry:
    """Geometry of one part shape in its part frame (m).

    Attributes:
        outline_m: (N, 2) outer boundary, counter-clockwise.
        inner_m: (N, 2) bore boundary with the same vertex count (ring shapes), or None.
        thickness_m: plate thickness; the top face is at z = thickness.
        holes_m: (K, 3) designed through-holes drawn in the texture: x, y, radius.
        tex_center_m / tex_size_m: the textured square on the top face.
        collision: ("cylinder", (r, half_h), (x, y, z)) or ("box", (hx, hy, hz), (x, y, z)) tuples.
        mass_kg / inertia_kgm2: rigid body (diagonal inertia about the centroid).
        radius_m: bounding circle radius about the origin.
    """

    shape: PartShape
    outline_m: np.ndarray
    inner_m: np.ndarray | None
    thickness_m: float
    holes_m: np.ndarray
    tex_center_m: np.ndarray
    tex_size_m: float
    collision: tuple[tuple[str, tuple[float, ...], tuple[float, float, float]], ...]
    mass_kg: float
    inertia_kgm2: np.ndarray
    radius_m: float


def _circle(r: float, n: int, phase: float = 0.0) -> np.ndarray:
    a = phase + np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    return np.stack([r * np.cos(a), r * np.sin(a)], axis=1)


def _hexagon_sampled(r_corner: float, per_edge: int) -> np.ndarray:
    """Hexagon (corners at 0, 60, ... deg) sampled at the same angles as a circle of 6*per_edge points."""
    a = np.linspace(0.0, 2.0 * np.pi, 6 * per_edge, endpoint=False)
    # Distance from centre to the hexagon boundary along angle a (flat sides at 30 deg + k*60).
    apothem = r_corner * np.cos(np.pi / 6.0)
    local = (a % (np.pi / 3.0)) - np.pi / 6.0
    rho = apothem / np.cos(local)
    return np.stack([rho * np.cos(a), rho * np.sin(a)], axis=1)


def _plate_inertia(mass: float, sx: float, sy: float, t: float) -> np.ndarray:
    return mass / 12.0 * np.array([sy**2 + t**2, sx**2 + t**2, sx**2 + sy**2])


@lru_cache(maxsize=None)
def shape_geometry(shape: PartShape | str) -> ShapeGeometry:
    """Geometry of a part shape (cached; treat arrays as read-only)."""
    shape = PartShape(shape)
    if shape is PartShape.WASHER:
        r_out, r_in, t = 0.024, 0.0065, 0.003
        area = np.pi * (r_out**2 - r_in**2)
        mass = STEEL_DENSITY_KGPM3 * area * t
        inertia = np.array([0.25, 0.25, 0.5]) * mass * (r_out**2 + r_in**2)
        return ShapeGeometry(
            shape, _circle(r_out, 72), _circle(r_in, 72), t, np.zeros((0, 3)),
            np.zeros(2), 2.0 * r_out + 0.004,
            (("cylinder", (r_out, t / 2.0), (0.0, 0.0, t / 2.0)),),
            mass, inertia, r_out,
        )  # fmt: skip
    if shape is PartShape.HEX_NUT:
        across_flats, r_bore, t = 0.036, 0.0095, 0.008
        r_corner = across_flats / np.sqrt(3.0)
        area = 1.5 * np.sqrt(3.0) * r_corner**2 - np.pi * r_bore**2
        mass = STEEL_DENSITY_KGPM3 * area * t
        inertia = np.array([0.25, 0.25, 0.5]) * mass * (r_corner**2 + r_bore**2) * 0.9
        return ShapeGeometry(
            shape, _hexagon_sampled(r_corner, 12), _circle(r_bore, 72), t, np.zeros((0, 3)),
            np.zeros(2), 2.0 * r_corner + 0.004,
            (("cylinder", (0.5 * (r_corner + across_flats / 2.0), t / 2.0), (0.0, 0.0, t / 2.0)),),
            mass, inertia, r_corner,
        )  # fmt: skip
    if shape is PartShape.BRACKET:
        leg, width, t = 0.056, 0.022, 0.003
        # L in corner coordinates: long leg along +x, short leg along +y.
        a1, c1 = leg * width, np.array([leg / 2.0, width / 2.0])
        a2, c2 = width * (leg - width), np.array([width / 2.0, width + (leg - width) / 2.0])
        centroid = (a1 * c1 + a2 * c2) / (a1 + a2)
        corners = np.array(
            [[0.0, 0.0], [leg, 0.0], [leg, width], [width, width], [width, leg], [0.0, leg]]
        )
        outline = corners - centroid
        holes = np.array([[leg - 0.008, width / 2.0, 0.0025], [width / 2.0, leg - 0.008, 0.0025]])
        holes[:, :2] -= centroid
        mass = STEEL_DENSITY_KGPM3 * (a1 + a2) * t
        ix = _plate_inertia(mass, leg, leg, t) * 0.6  # an L is lighter away from its corner
        bbox_c = np.array([leg / 2.0, leg / 2.0]) - centroid
        b1 = (leg / 2.0, width / 2.0, t / 2.0)
        b2 = (width / 2.0, (leg - width) / 2.0, t / 2.0)
        p1 = (c1[0] - centroid[0], c1[1] - centroid[1], t / 2.0)
        p2 = (c2[0] - centroid[0], c2[1] - centroid[1], t / 2.0)
        radius = float(np.max(np.linalg.norm(outline, axis=1)))
        return ShapeGeometry(
            shape, outline, None, t, holes, bbox_c, leg + 0.004,
            (("box", b1, p1), ("box", b2, p2)), mass, ix, radius,
        )  # fmt: skip
    msg = f"unknown part shape {shape!r}"
    raise ValueError(msg)


# --------------------------------------------------------------------------------------------
# Mesh with texture coordinates


def _uv(geo: ShapeGeometry, xy: np.ndarray) -> np.ndarray:
    """Texture coordinates (u right, v up as MuJoCo samples them) of top-face points."""
    rel = (xy - geo.tex_center_m) / geo.tex_size_m + 0.5
    return rel


def _top_faces(geo: ShapeGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Top face vertices (V, 2) and triangles (F, 3) (counter-clockwise seen from +z)."""
    if geo.inner_m is not None:
        n = len(geo.outline_m)
        verts = np.concatenate([geo.outline_m, geo.inner_m])
        i = np.arange(n)
        j = (i + 1) % n
        tris = np.concatenate(
            [np.stack([i, j, n + j], 1), np.stack([i, n + j, n + i], 1)]
        )
        return verts, tris
    # L-plate: fan over its 6 corners split into two rectangles (corners 0,1,2,3 and 0,3,4,5).
    verts = geo.outline_m
    tris = np.array([[0, 1, 2], [0, 2, 3], [0, 3, 4], [0, 4, 5]])
    return verts, tris


@lru_cache(maxsize=None)
def part_mesh(shape: PartShape | str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closed visual mesh of a part: vertices (V, 3) m, faces (F, 3), texcoords (V, 2).

    Top and bottom faces sample the texture square; side walls sample texel (0, 0), which the
    texture paints as the part's edge colour. Faces do not share vertices, so edges stay sharp.
    """
    geo = shape_geometry(shape)
    top2, tris = _top_faces(geo)
    t = geo.thickness_m
    parts_v, parts_f, parts_uv = [], [], []
    count = 0

    def add(v: np.ndarray, f: np.ndarray, uv: np.ndarray) -> None:
        nonlocal count
        parts_v.append(v)
        parts_f.append(f + count)
        parts_uv.append(uv)
        count += len(v)

    uv_top = _uv(geo, top2)
    add(np.column_stack([top2, np.full(len(top2), t)]), tris, uv_top)
    add(np.column_stack([top2, np.zeros(len(top2))]), tris[:, ::-1], uv_top)
    edge_uv = np.array([0.002, 0.998])  # the texture's top-left corner block (wall colour)

    def walls(loop: np.ndarray, outward: bool) -> None:
        n = len(loop)
        a, b = loop, np.roll(loop, -1, axis=0)
        v = np.empty((n, 4, 3))
        v[:, 0, :2], v[:, 1, :2], v[:, 2, :2], v[:, 3, :2] = a, b, b, a
        v[:, :2, 2], v[:, 2:, 2] = 0.0, t
        base = 4 * np.arange(n)[:, None]
        quad = np.array([[0, 1, 2], [0, 2, 3]]) if outward else np.array([[0, 2, 1], [0, 3, 2]])
        f = (base[:, None, :] + quad[None]).reshape(-1, 3)
        add(v.reshape(-1, 3), f, np.tile(edge_uv, (4 * n, 1)))

    walls(geo.outline_m, outward=True)
    if geo.inner_m is not None:
        walls(geo.inner_m, outward=False)
    return (
        np.concatenate(parts_v),
        np.concatenate(parts_f).astype(np.int32),
        np.concatenate(parts_uv),
    )


# --------------------------------------------------------------------------------------------
# Appearance: a pure function of (rng, shape, defect type, severity)


@dataclass(frozen=True)
class DefectSpec:
    """Geometry of one flaw in the part frame (m).

    Attributes:
        type: crack, chip, hole or scratch.
        severity: 0 (barely visible) .. 1 (obvious).
        center_m: (2,) flaw centre on the top face.
        path_m: (K, 2) polyline for cracks and scratches (may hold a NaN row between branches).
        radius_m: hole or chip radius.
        width_m: line half-width (Gaussian sigma) for cracks and scratches.
        contrast: 0..1 darkening (crack, chip, hole) or brightening (scratch) strength.
    """

    type: DefectType
    severity: float
    center_m: np.ndarray
    path_m: np.ndarray
    radius_m: float
    width_m: float
    contrast: float


@dataclass(frozen=True)
class PartAppearance:
    """Everything needed to rasterize a part's texture (deterministically)."""

    shape: PartShape
    base_grey: float  # 0..255 mean brightness of the metal
    tint_rgb: np.ndarray  # (3,) per-channel gain, about 1
    brush_angle_rad: float
    brush_strength: float  # grey levels of the brushed streaks
    stains_m: np.ndarray  # (S, 4) benign smudges: x, y, radius, amplitude (grey levels)
    noise_seed: int
    defect: DefectSpec | None = None

    @property
    def defective(self) -> bool:
        return self.defect is not None

    @property
    def defect_type(self) -> DefectType:
        return DefectType.OK if self.defect is None else self.defect.type

    def without_defect(self) -> PartAppearance:
        """The same part, flawless (for controlled comparisons)."""
        return dataclasses.replace(self, defect=None)


def _inside_material(geo: ShapeGeometry, xy: np.ndarray, margin_m: float) -> np.ndarray:
    """(M,) True where points (M, 2) lie on the top face at least `margin_m` from any edge."""
    outline = geo.outline_m.astype(np.float32)
    inside = np.array(
        [cv2.pointPolygonTest(outline, (float(x), float(y)), True) >= margin_m for x, y in xy]
    )
    if geo.inner_m is not None:
        inner = geo.inner_m.astype(np.float32)
        inside &= np.array(
            [cv2.pointPolygonTest(inner, (float(x), float(y)), True) <= -margin_m for x, y in xy]
        )
    for hx, hy, hr in geo.holes_m:
        inside &= np.hypot(xy[:, 0] - hx, xy[:, 1] - hy) >= hr + margin_m
    return inside


def _sample_inside(rng: np.random.Generator, geo: ShapeGeometry, margin_m: float) -> np.ndarray:
    for _ in range(200):
        p = (rng.random(2) - 0.5) * geo.tex_size_m + geo.tex_center_m
        if _inside_material(geo, p[None], margin_m)[0]:
            return p
    return np.asarray(geo.outline_m.mean(axis=0))


def _random_walk(rng: np.random.Generator, start: np.ndarray, heading: float, length_m: float,
                 step_m: float, wiggle_rad: float) -> np.ndarray:
    n = max(2, int(np.ceil(length_m / step_m)) + 1)
    turns = rng.normal(0.0, wiggle_rad, n - 1)
    headings = heading + np.cumsum(turns)
    steps = step_m * np.stack([np.cos(headings), np.sin(headings)], axis=1)
    return np.concatenate([start[None], start + np.cumsum(steps, axis=0)])


def _clip_path(geo: ShapeGeometry, path: np.ndarray, margin_m: float) -> np.ndarray:
    """Keep the leading run of path points that stays on material."""
    ok = _inside_material(geo, path, margin_m)
    if not ok[0]:
        return path[:1]
    stop = np.argmin(ok) if not ok.all() else len(path)
    return path[:stop]


def draw_defect(rng: np.random.Generator, shape: PartShape | str, defect_type: DefectType,
                severity: float) -> DefectSpec:
    """A random flaw of the given type and severity on a part (pure function of its arguments)."""
    geo = shape_geometry(shape)
    sev = float(np.clip(severity, 0.0, 1.0))
    defect_type = DefectType(defect_type)
    if defect_type is DefectType.CRACK:
        # Cracks start at an edge or bore (stress raisers) and run inward.
        length = 0.007 + 0.018 * sev
        for _ in range(50):
            start = _sample_inside(rng, geo, 0.0008)
            path = _random_walk(rng, start, rng.uniform(-np.pi, np.pi), length, 0.0006, 0.3)
            path = _clip_path(geo, path, 0.0006)
            if len(path) * 0.0006 >= 0.6 * length:
                break
        if sev > 0.6 and len(path) > 6:  # a branch for bad cracks
            k = int(rng.integers(2, len(path) - 2))
            d = path[k + 1] - path[k]
            h = np.arctan2(d[1], d[0]) + rng.choice([-1.0, 1.0]) * rng.uniform(0.4, 0.9)
            branch = _clip_path(geo, _random_walk(rng, path[k], h, 0.4 * length, 0.0006, 0.3), 0.0006)
            path = np.concatenate([path, np.full((1, 2), np.nan), branch])
        center = np.nanmean(path, axis=0)
        return DefectSpec(defect_type, sev, center, path, 0.0, 0.00010 + 0.00022 * sev, 0.5 + 0.45 * sev)
    if defect_type is DefectType.SCRATCH:
        length = 0.010 + 0.025 * sev
        for _ in range(50):
            start = _sample_inside(rng, geo, 0.001)
            heading = rng.uniform(-np.pi, np.pi)
            path = _random_walk(rng, start, heading, length, 0.001, 0.03)
            path = _clip_path(geo, path, 0.0008)
            if len(path) * 0.001 >= 0.6 * length:
                break
        center = path.mean(axis=0)
        return DefectSpec(defect_type, sev, center, path, 0.0, 0.00014 + 0.00016 * sev, 0.4 + 0.5 * sev)
    if defect_type is DefectType.HOLE:
        radius = 0.0006 + 0.0018 * sev
        center = _sample_inside(rng, geo, radius + 0.0015)
        return DefectSpec(defect_type, sev, center, np.zeros((0, 2)), radius, 0.0, 0.8 + 0.2 * sev)
    if defect_type is DefectType.CHIP:
        # A bite out of the outer edge: centre on the outline, slightly outside.
        radius = 0.0015 + 0.004 * sev
        outline = geo.outline_m
        seg = int(rng.integers(len(outline)))
        a, b = outline[seg], outline[(seg + 1) % len(outline)]
        p = a + rng.uniform(0.2, 0.8) * (b - a)
        edge = b - a
        normal_out = np.array([edge[1], -edge[0]]) / (np.linalg.norm(edge) + 1e-12)
        center = p + normal_out * 0.3 * radius
        return DefectSpec(defect_type, sev, center, np.zeros((0, 2)), radius, 0.0, 1.0)
    msg = f"draw_defect: defect_type must be crack, chip, hole or scratch, got {defect_type!r}"
    raise ValueError(msg)


def draw_part_appearance(rng: np.random.Generator, shape: PartShape | str,
                         defect_type: DefectType = DefectType.OK, severity: float = 0.5) -> PartAppearance:
    """A random part surface (and flaw unless `defect_type` is OK); pure function of its arguments.

    Good parts vary too (brightness, tint, brushing direction and strength, faint smudges), so a
    classifier cannot call every texture difference a defect.
    """
    shape = PartShape(shape)
    geo = shape_geometry(shape)
    base = {PartShape.WASHER: 138.0, PartShape.BRACKET: 146.0, PartShape.HEX_NUT: 126.0}[shape]
    tint = 1.0 + rng.normal(0.0, 0.012, 3)
    n_stains = int(rng.integers(0, 4))
    stains = np.column_stack(
        [
            (rng.random((n_stains, 2)) - 0.5) * geo.tex_size_m + geo.tex_center_m,
            rng.uniform(0.002, 0.008, n_stains),
            rng.uniform(-10.0, 10.0, n_stains),
        ]
    ) if n_stains else np.zeros((0, 4))
    appearance = PartAppearance(
        shape=shape,
        base_grey=float(base + rng.normal(0.0, 7.0)),
        tint_rgb=tint,
        brush_angle_rad=float(rng.uniform(-np.pi, np.pi)),
        brush_strength=float(rng.uniform(4.0, 12.0)),
        stains_m=stains,
        noise_seed=int(rng.integers(0, 2**31 - 1)),
    )
    if DefectType(defect_type) in (DefectType.OK,):
        return appearance
    if DefectType(defect_type) is DefectType.ANOMALY:
        msg = "draw_part_appearance: ANOMALY is a verdict, not a drawable flaw"
        raise ValueError(msg)
    return dataclasses.replace(appearance, defect=draw_defect(rng, shape, defect_type, severity))


# --------------------------------------------------------------------------------------------
# Texture rasterization


def _texel_centers_m(geo: ShapeGeometry, tex_px: int) -> tuple[np.ndarray, np.ndarray]:
    """Part-frame x (tex_px,) of texel columns and y (tex_px,) of texel rows (row 0 at +y)."""
    s = geo.tex_size_m
    c = (np.arange(tex_px) + 0.5) / tex_px - 0.5
    return geo.tex_center_m[0] + c * s, geo.tex_center_m[1] - c * s


def _to_px(geo: ShapeGeometry, xy: np.ndarray, tex_px: int) -> np.ndarray:
    """Part-frame points (M, 2) to texel coordinates (col, row) as floats."""
    rel = (xy - geo.tex_center_m) / geo.tex_size_m
    return np.stack([(rel[:, 0] + 0.5) * tex_px - 0.5, (0.5 - rel[:, 1]) * tex_px - 0.5], axis=1)


def _material_mask(geo: ShapeGeometry, tex_px: int) -> np.ndarray:
    """(tex_px, tex_px) float32 coverage of the top face (anti-aliased by 4x supersampling)."""
    ss = 4
    big = np.zeros((tex_px * ss, tex_px * ss), np.uint8)

    def poly(xy: np.ndarray) -> np.ndarray:
        p = (_to_px(geo, xy, tex_px) + 0.5) * ss - 0.5
        return np.round(p * 16).astype(np.int32)

    cv2.fillPoly(big, [poly(geo.outline_m)], 255, lineType=cv2.LINE_8, shift=4)
    if geo.inner_m is not None:
        cv2.fillPoly(big, [poly(geo.inner_m)], 0, lineType=cv2.LINE_8, shift=4)
    for hx, hy, hr in geo.holes_m:
        cv2.fillPoly(big, [poly(_circle(hr, 48) + (hx, hy))], 0, lineType=cv2.LINE_8, shift=4)
    return cv2.resize(big, (tex_px, tex_px), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def _distance_to_path(px_x: np.ndarray, px_y: np.ndarray, path: np.ndarray) -> np.ndarray:
    """Distance (m) from grid points (H, W) to a polyline (K, 2); NaN rows split the polyline."""
    d = np.full(px_x.shape, np.inf)
    for a, b in zip(path[:-1], path[1:]):
        if np.isnan(a).any() or np.isnan(b).any():
            continue
        ab = b - a
        L2 = float(ab @ ab) + 1e-18
        t = np.clip(((px_x - a[0]) * ab[0] + (px_y - a[1]) * ab[1]) / L2, 0.0, 1.0)
        d = np.minimum(d, np.hypot(px_x - a[0] - t * ab[0], px_y - a[1] - t * ab[1]))
    return d


def _brushed_noise(rng: np.random.Generator, tex_px: int, angle_rad: float) -> np.ndarray:
    """Zero-mean unit-std streaks along `angle_rad` (brushed / ground metal)."""
    noise = rng.standard_normal((tex_px, tex_px)).astype(np.float32)
    k = 21
    kernel = np.zeros((k, k), np.float32)
    c = k // 2
    dx, dy = np.cos(angle_rad), -np.sin(angle_rad)
    for s in np.linspace(-c, c, 4 * k):
        kernel[int(round(c + s * dy)), int(round(c + s * dx))] = 1.0
    kernel /= kernel.sum()
    streaks = cv2.filter2D(noise, -1, kernel, borderType=cv2.BORDER_REFLECT101)
    streaks /= streaks.std() + 1e-6
    fine = cv2.GaussianBlur(noise, (0, 0), 0.7)
    fine /= fine.std() + 1e-6
    return 0.8 * streaks + 0.35 * fine


def part_texture_rgb(appearance: PartAppearance, tex_px: int = 256) -> np.ndarray:
    """Rasterize a part's top-face texture: (tex_px, tex_px, 3) uint8 RGB, row 0 at +y.

    Texels outside the top face hold the side-wall colour (sampled by the mesh's walls).
    """
    geo = shape_geometry(appearance.shape)
    rng = np.random.default_rng(appearance.noise_seed)
    xs, ys = _texel_centers_m(geo, tex_px)
    gx, gy = np.meshgrid(xs, ys)
    grey = np.full((tex_px, tex_px), appearance.base_grey, np.float32)
    grey += appearance.brush_strength * _brushed_noise(rng, tex_px, appearance.brush_angle_rad)
    # Slow shading variation (uneven finish) and benign smudges.
    low = cv2.resize(rng.standard_normal((4, 4)).astype(np.float32), (tex_px, tex_px),
                     interpolation=cv2.INTER_CUBIC)
    grey += 5.0 * low
    for sx, sy, sr, amp in appearance.stains_m:
        grey += amp * np.exp(-((gx - sx) ** 2 + (gy - sy) ** 2) / (2.0 * sr**2)).astype(np.float32)
    mask = _material_mask(geo, tex_px)
    # Chamfered edges catch less light: darken a ~0.6 mm band along every boundary.
    dist_px = cv2.distanceTransform((mask > 0.5).astype(np.uint8), cv2.DIST_L2, 3)
    px_m = geo.tex_size_m / tex_px
    grey *= (1.0 - 0.22 * np.exp(-dist_px * px_m / 0.0005)).astype(np.float32)

    lighten = np.zeros_like(grey)  # additive grey levels (scratches, burrs)
    darken = np.ones_like(grey)  # multiplicative (cracks)
    d = appearance.defect
    if d is not None:
        if d.type is DefectType.CRACK:
            dist = _distance_to_path(gx, gy, d.path_m)
            profile = np.exp(-0.5 * (dist / d.width_m) ** 2)
            darken *= (1.0 - d.contrast * profile).astype(np.float32)
            # A faint bright lip beside the crack (raised edge).
            lip = np.exp(-0.5 * ((dist - 2.2 * d.width_m) / d.width_m) ** 2)
            lighten += (12.0 * d.severity * lip).astype(np.float32)
        elif d.type is DefectType.SCRATCH:
            dist = _distance_to_path(gx, gy, d.path_m)
            sign = 1.0 if (appearance.noise_seed % 3) else -0.6  # most scratches look bright
            lighten += (sign * 140.0 * d.contrast * np.exp(-0.5 * (dist / d.width_m) ** 2)).astype(np.float32)
        elif d.type is DefectType.HOLE:
            r = np.hypot(gx - d.center_m[0], gy - d.center_m[1])
            inside = np.clip((d.radius_m - r) / px_m + 0.5, 0.0, 1.0)
            mask = mask * (1.0 - inside).astype(np.float32)
            burr = np.exp(-0.5 * ((r - d.radius_m - 0.0003) / 0.00025) ** 2)
            lighten += (35.0 * burr).astype(np.float32)
        elif d.type is DefectType.CHIP:
            ang = np.arctan2(gy - d.center_m[1], gx - d.center_m[0])
            jag = 1.0 + 0.18 * np.sin(5.0 * ang + d.severity * 7.0) + 0.1 * np.sin(11.0 * ang)
            r = np.hypot(gx - d.center_m[0], gy - d.center_m[1]) / jag
            inside = np.clip((d.radius_m - r) / px_m + 0.5, 0.0, 1.0)
            rim = np.exp(-0.5 * ((r - d.radius_m) / 0.0003) ** 2) * (mask > 0.5)
            mask = mask * (1.0 - inside).astype(np.float32)
            lighten += (45.0 * rim).astype(np.float32)  # fresh fracture face shines
    grey = grey * darken + lighten
    rgb = grey[..., None] * appearance.tint_rgb[None, None, :].astype(np.float32)
    # Where there is no material (bores, designed holes, chips, outside) show the dark gap colour
    # the walls and the belt below would give; the wall texel (0, 0) is in this region too.
    gap_rgb = np.array([38.0, 38.0, 40.0], np.float32)
    rgb = rgb * mask[..., None] + gap_rgb * (1.0 - mask[..., None])
    # The side walls sample this corner block (always outside the top face): machined steel seen
    # edge-on under overhead light is darker than the top face.
    rgb[:4, :4] = 0.55 * appearance.base_grey * appearance.tint_rgb.astype(np.float32)
    return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)
