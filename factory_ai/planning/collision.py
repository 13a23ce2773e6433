"""The project's collision model: arm links as capsules / sphere rows, the cell and run-time
obstacles as boxes, cylinders and spheres; batched signed distances for many configurations.

Link geometry comes from the URDF <collision> primitives, in link frames: a cylinder becomes a
capsule along its axis, a sphere stays a sphere, a box becomes a capsule along its longest side.
Against the environment each capsule is a row of spheres (radii inflated so that the row
contains the capsule, hence the cylinder); between links, capsule vs capsule (exact segment
distance). The cell (conveyor belt, rails and frame, bin floor and walls, camera post and beam,
pedestal, floor) comes from the `CellDescription` as boxes; obstacles can be added and removed
at run time by name (a MoveIt planning scene feeds `add_obstacle` / `remove_obstacle`).

Environment distances are obstacle signed-distance functions at sphere centres minus radii,
with a broad phase: the cell is sampled once into a 2 cm distance grid (a lower bound, so never
optimistic), groups of spheres are cleared by one lookup, and only spheres near something get
exact distances. Paths are checked with every sphere swept to its neighbouring samples.
Adjacent links and pairs that can never touch are excluded from self-collision (`link_pairs`
and `pair_distances` expose every pair for the MoveIt SRDF generator).
"""

from __future__ import annotations

import itertools
import logging
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from factory_ai.config import CellDescription
from factory_ai.geometry import T_from_xyz_rpy
from factory_ai.planning.kinematics import ArmKinematics
from factory_ai.robot.urdf import UrdfTree, parse_urdf

log = logging.getLogger(__name__)

SHAPES = ("box", "cylinder", "sphere")
_KIND = {"box": 0, "cylinder": 1, "sphere": 2}
CONVEYOR_GROUP = "conveyor"


@dataclass(frozen=True)
class Obstacle:
    """One obstacle in the base frame.

    Attributes:
        name: unique name.
        shape: "box" (dims = full size x, y, z), "cylinder" (dims = radius, length along z),
            or "sphere" (dims = radius,).
        T_base_obj: (4, 4) pose of the shape's centre.
        dims: (3,) / (2,) / (1,) sizes in m.
        group: "conveyor", "bin", "fixture" or "runtime" (grasp allowances refer to groups).
    """

    name: str
    shape: str
    T_base_obj: np.ndarray
    dims: np.ndarray
    group: str = "runtime"


@dataclass(frozen=True)
class Capsule:
    """A segment a-b with a radius, in its link's frame (m)."""

    link: str
    a: np.ndarray
    b: np.ndarray
    radius: float


def _capsules_from_urdf(urdf_path: Path | str) -> list[Capsule]:
    """Collision primitives of every link as capsules in the link frame (meshes are skipped)."""
    text = Path(urdf_path).read_text() if not str(urdf_path).lstrip().startswith("<") else str(urdf_path)
    root = ET.fromstring(text)
    out: list[Capsule] = []
    for link in root.findall("link"):
        name = link.get("name", "")
        for col in link.findall("collision"):
            origin = col.find("origin")
            xyz = [float(v) for v in (origin.get("xyz", "0 0 0") if origin is not None else "0 0 0").split()]
            rpy = [float(v) for v in (origin.get("rpy", "0 0 0") if origin is not None else "0 0 0").split()]
            T = T_from_xyz_rpy(xyz, rpy)
            geom = col.find("geometry")
            if geom is None or len(geom) == 0:
                continue
            g = geom[0]
            if g.tag == "cylinder":
                r, length = float(g.get("radius")), float(g.get("length"))
                half = T[:3, 2] * length / 2
                out.append(Capsule(name, T[:3, 3] - half, T[:3, 3] + half, r))
            elif g.tag == "sphere":
                out.append(Capsule(name, T[:3, 3].copy(), T[:3, 3].copy(), float(g.get("radius"))))
            elif g.tag == "box":
                size = np.array([float(v) for v in g.get("size").split()])
                k = int(np.argmax(size))
                others = np.delete(size, k)
                # Capsule along the longest side whose radius covers the cross-section's corners.
                r = 0.5 * float(np.hypot(*others))
                half = T[:3, k] * max(size[k] / 2 - r, 0.0)
                out.append(Capsule(name, T[:3, 3] - half, T[:3, 3] + half, r))
            else:
                log.warning("link %r: collision geometry <%s> is not a primitive; ignored by the planner", name, g.tag)
    return out


def _spheres_from_capsule(c: Capsule, spacing_ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """Centres (k, 3) and radii (k,) of a sphere row that contains the capsule."""
    length = float(np.linalg.norm(c.b - c.a))
    if length < 1e-9:
        return c.a[None].copy(), np.array([c.radius])
    n = max(2, math.ceil(length / (spacing_ratio * c.radius)) + 1)
    s = length / (n - 1)
    t = np.linspace(0.0, 1.0, n)
    centres = c.a + t[:, None] * (c.b - c.a)
    # A point at the capsule surface between two centres is at most sqrt(r^2 + (s/2)^2) away.
    r = math.sqrt(c.radius**2 + (s / 2) ** 2)
    return centres, np.full(n, r)


def cell_obstacles(cell: CellDescription, rail_thickness_m: float = 0.02) -> list[Obstacle]:
    """The cell's fixed geometry as boxes in the arm's base frame.

    Args:
        cell: the cell description.
        rail_thickness_m: width of each side rail of the conveyor.
    """
    T_bw = cell.T_base_world
    out: list[Obstacle] = []
    cv = cell.conveyor
    T_belt = cell.T_base_belt

    def at(T_ref: np.ndarray, offset: np.ndarray) -> np.ndarray:
        T = T_ref.copy()
        T[:3, 3] = T_ref[:3, 3] + T_ref[:3, :3] @ offset
        return T

    out.append(
        Obstacle(
            "conveyor_belt",
            "box",
            at(T_belt, np.array([0.0, 0.0, -cv.frame_height_m / 2])),
            np.array([cv.length_m, cv.width_m, cv.frame_height_m]),
            CONVEYOR_GROUP,
        )
    )
    rail_h = cv.frame_height_m + cv.rail_height_m
    for side, name in ((1.0, "conveyor_rail_left"), (-1.0, "conveyor_rail_right")):
        y = side * (cv.width_m / 2 + rail_thickness_m / 2)
        z = cv.rail_height_m - rail_h / 2
        out.append(
            Obstacle(name, "box", at(T_belt, np.array([0.0, y, z])), np.array([cv.length_m, rail_thickness_m, rail_h]), CONVEYOR_GROUP)
        )
    # Everything under the belt frame down to the floor (legs, drive): one conservative box.
    floor_z_base = T_bw[2, 3]
    belt_bottom = T_belt[2, 3] - cv.frame_height_m
    if belt_bottom - floor_z_base > 1e-3:
        h = belt_bottom - floor_z_base
        T = at(T_belt, np.array([0.0, 0.0, -cv.frame_height_m - h / 2]))
        out.append(Obstacle("conveyor_frame", "box", T, np.array([cv.length_m, cv.width_m, h]), CONVEYOR_GROUP))

    b = cell.reject_bin
    T_bin = cell.T_base_bin
    sx, sy, sh = b.size_m
    w = b.wall_thickness_m
    out.append(Obstacle("bin_floor", "box", at(T_bin, np.array([0.0, 0.0, -w / 2])), np.array([sx + 2 * w, sy + 2 * w, w]), "bin"))
    walls = (
        ("bin_wall_px", np.array([sx / 2 + w / 2, 0.0, sh / 2]), np.array([w, sy + 2 * w, sh])),
        ("bin_wall_nx", np.array([-sx / 2 - w / 2, 0.0, sh / 2]), np.array([w, sy + 2 * w, sh])),
        ("bin_wall_py", np.array([0.0, sy / 2 + w / 2, sh / 2]), np.array([sx, w, sh])),
        ("bin_wall_ny", np.array([0.0, -sy / 2 - w / 2, sh / 2]), np.array([sx, w, sh])),
    )
    for name, off, size in walls:
        out.append(Obstacle(name, "box", at(T_bin, off), size, "bin"))

    for f in cell.fixtures:
        out.append(Obstacle(f.name, "box", T_bw @ f.T_world_fixture, np.asarray(f.size_m, dtype=float), "fixture"))
    return out


def _dot3(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dot product over a last axis of length 3 (numpy reductions over tiny axes are slow)."""
    return a[..., 0] * b[..., 0] + a[..., 1] * b[..., 1] + a[..., 2] * b[..., 2]


def _norm3(a: np.ndarray) -> np.ndarray:
    return np.sqrt(_dot3(a, a))


def segment_distances(
    a1: np.ndarray, b1: np.ndarray, a2: np.ndarray, b2: np.ndarray
) -> np.ndarray:
    """Closest distance between segments a1-b1 and a2-b2, elementwise over leading dims (..., 3).

    Ericson, Real-Time Collision Detection, 5.1.9, vectorized; degenerate segments (points) work.
    """
    d1, d2, r = b1 - a1, b2 - a2, a1 - a2
    a, e, f, c, b = _dot3(d1, d1), _dot3(d2, d2), _dot3(d2, r), _dot3(d1, r), _dot3(d1, d2)
    eps = 1e-12
    denom = a * e - b * b
    s = np.where(denom > eps, np.clip((b * f - c * e) / np.maximum(denom, eps), 0.0, 1.0), 0.0)
    s = np.where(a > eps, s, 0.0)
    t = np.where(e > eps, (b * s + f) / np.maximum(e, eps), 0.0)
    s = np.where(t < 0.0, np.where(a > eps, np.clip(-c / np.maximum(a, eps), 0.0, 1.0), 0.0), s)
    s = np.where(t > 1.0, np.where(a > eps, np.clip((b - c) / np.maximum(a, eps), 0.0, 1.0), 0.0), s)
    t = np.clip(t, 0.0, 1.0)
    diff = (a1 + d1 * s[..., None]) - (a2 + d2 * t[..., None])
    return _norm3(diff)


def _sdf_local(kind: np.ndarray, half: np.ndarray, local: np.ndarray) -> np.ndarray:
    """Signed distance of points given in obstacle frames.

    Args:
        kind: (O,) 0 box, 1 cylinder (axis z), 2 sphere.
        half: (O, 3) box half sizes; cylinder (r, r, half length); sphere (r, r, r).
        local: (K, O, 3) points in each obstacle's frame.
    """
    qx = np.abs(local[..., 0]) - half[:, 0]
    qy = np.abs(local[..., 1]) - half[:, 1]
    qz = np.abs(local[..., 2]) - half[:, 2]
    ox, oy, oz = np.maximum(qx, 0.0), np.maximum(qy, 0.0), np.maximum(qz, 0.0)
    box = np.sqrt(ox * ox + oy * oy + oz * oz) + np.minimum(np.maximum(np.maximum(qx, qy), qz), 0.0)
    if np.all(kind == 0):
        return box
    dr = np.hypot(local[..., 0], local[..., 1]) - half[:, 0]
    dz = qz
    cyl = np.hypot(np.maximum(dr, 0.0), np.maximum(dz, 0.0)) + np.minimum(np.maximum(dr, dz), 0.0)
    sph = _norm3(local) - half[:, 0]
    return np.where(kind == 0, box, np.where(kind == 1, cyl, sph))


class _ObstacleArrays:
    """Obstacles as arrays for vectorized signed distances."""

    def __init__(self, obstacles: list[Obstacle]) -> None:
        n = len(obstacles)
        self.names = [o.name for o in obstacles]
        self.R = np.array([o.T_base_obj[:3, :3] for o in obstacles]).reshape(n, 3, 3)
        self.t = np.array([o.T_base_obj[:3, 3] for o in obstacles]).reshape(n, 3)
        self.kind = np.array([_KIND[o.shape] for o in obstacles], dtype=int)
        half = np.zeros((n, 3))
        for k, o in enumerate(obstacles):
            if o.shape == "box":
                half[k] = o.dims / 2
            elif o.shape == "cylinder":
                half[k] = (o.dims[0], o.dims[0], o.dims[1] / 2)
            else:
                half[k] = o.dims[0]
        self.half = half
        self.conveyor = np.array([o.group == CONVEYOR_GROUP for o in obstacles], dtype=bool)
        self.aligned = bool(n == 0 or np.abs(self.R - np.eye(3)).max() < 1e-12)

    def __len__(self) -> int:
        return len(self.names)

    def sdf(self, pts: np.ndarray) -> np.ndarray:
        """(K, O) signed distance of points (K, 3) to every obstacle."""
        rel = pts[:, None, :] - self.t[None]
        local = rel if self.aligned else np.einsum("oji,koj->koi", self.R, rel)
        return _sdf_local(self.kind, self.half, local)


class _DistanceGrid:
    """Signed distance to a fixed set of obstacles sampled on a voxel grid (broad phase).

    `lower_bound(x) = sdf(v) - |x - v|` for the nearest voxel centre v never exceeds the true
    signed distance (an SDF is 1-Lipschitz), so a sphere the grid calls clear is clear.
    """

    def __init__(
        self, arrays: _ObstacleArrays, lo: np.ndarray, hi: np.ndarray, voxel_m: float, band_m: float = 0.25
    ) -> None:
        self.voxel = float(voxel_m)
        self.n = np.ceil((hi - lo) / voxel_m).astype(int) + 1
        self.lo = lo
        # Values are clamped at band_m: the grid only has to clear spheres that are far from
        # everything, so each obstacle is evaluated only in its box grown by band_m.
        sdf = np.full(tuple(self.n), band_m, dtype=np.float32)
        for k in range(len(arrays)):
            ext = np.abs(arrays.R[k]) @ arrays.half[k] + band_m  # AABB half size of the grown obstacle
            i0 = np.clip(np.floor((arrays.t[k] - ext - lo) / voxel_m).astype(int), 0, self.n)
            i1 = np.clip(np.ceil((arrays.t[k] + ext - lo) / voxel_m).astype(int) + 1, 0, self.n)
            if np.any(i1 <= i0):
                continue
            axes = [lo[a] + voxel_m * np.arange(i0[a], i1[a]) for a in range(3)]
            g = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
            one = _ObstacleArrays.__new__(_ObstacleArrays)
            one.__dict__.update({key: (val[k : k + 1] if isinstance(val, np.ndarray) else val) for key, val in arrays.__dict__.items()})
            one.aligned = bool(np.abs(arrays.R[k] - np.eye(3)).max() < 1e-12)
            d = one.sdf(g)[:, 0].reshape(tuple(i1 - i0)) - 1e-6  # float32 rounding stays conservative
            view = sdf[i0[0] : i1[0], i0[1] : i1[1], i0[2] : i1[2]]
            np.minimum(view, d.astype(np.float32), out=view)
        self.sdf = sdf.ravel()
        self.strides = np.array([self.n[1] * self.n[2], self.n[2], 1])

    def lower_bound(self, pts: np.ndarray) -> np.ndarray:
        """(...,) lower bound of the signed distance at points (..., 3); -inf outside the grid."""
        f = (pts - self.lo) / self.voxel
        r = np.rint(f)
        i = r.astype(np.int64)
        n = self.n
        ix, iy, iz = i[..., 0], i[..., 1], i[..., 2]
        inside = (ix >= 0) & (ix < n[0]) & (iy >= 0) & (iy < n[1]) & (iz >= 0) & (iz < n[2])
        flat = np.clip(ix, 0, n[0] - 1) * self.strides[0] + np.clip(iy, 0, n[1] - 1) * self.strides[1] + np.clip(iz, 0, n[2] - 1)
        off = _norm3(f - r) * self.voxel
        return np.where(inside, self.sdf[flat] - off, -np.inf)


_GRID_CACHE: dict[tuple, _DistanceGrid] = {}


class CollisionModel:
    """Arm-vs-cell, arm-vs-obstacle and arm-vs-arm distances for batches of configurations.

    Environment: link spheres against obstacles; the obstacles present at construction (the
    cell) are also sampled into a 2 cm distance grid so that most spheres are cleared by one
    lookup, and only spheres near something get exact distances. Self-collision: capsule vs
    capsule (exact segment distances) for links that are neither adjacent nor allowed.

    Args:
        kinematics: the planner's batched FK (gives every link pose).
        capsules: link geometry (see `CollisionModel.from_urdf`).
        obstacles: the initial world (see `cell_obstacles`).
        allowed_pairs: link pairs never checked against each other (besides adjacent links);
            None = `never_colliding_pairs()` (what MoveIt's setup assistant would disable).
        spacing_ratio: sphere spacing / capsule radius (smaller = tighter fit, more spheres).
        held_part_radius_m / held_part_thickness_m: a part held by the cup, modelled as a
            disc of this radius and thickness under the tip (7 spheres).
        tip_frame: frame the held part hangs from (tip z points out of the cup).
        grasp_links: links allowed to touch the conveyor while grasping.
        grid_voxel_m: voxel of the broad-phase grid (0 disables the grid).
        self_margin_m: clearance required between the arm's own links. Separate from the
            environment margin because a UR-type wrist keeps its links a centimetre or two
            apart by design (0 = touching counts, as in MoveIt).
    """

    def __init__(
        self,
        kinematics: ArmKinematics,
        capsules: list[Capsule],
        obstacles: list[Obstacle] | None = None,
        allowed_pairs: set[tuple[str, str]] | None = None,
        spacing_ratio: float = 1.0,
        held_part_radius_m: float = 0.035,
        held_part_thickness_m: float = 0.008,
        tip_frame: str = "suction_cup",
        grasp_links: tuple[str, ...] = ("suction_cup_body",),
        grid_voxel_m: float = 0.02,
        self_margin_m: float = 0.0,
    ) -> None:
        self.kin = kinematics
        frames = set(kinematics.frame_names)
        capsules = [c for c in capsules if c.link in frames]
        if not capsules:
            msg = "CollisionModel: no link below the base has collision geometry"
            raise ValueError(msg)
        self.capsules = tuple(capsules)
        self.link_names: tuple[str, ...] = tuple(f for f in kinematics.frame_names if any(c.link == f for c in capsules))
        # Capsules as arrays (for self-collision).
        self._cap_frame = np.array([kinematics.frame_index(c.link) for c in capsules], dtype=int)
        self._cap_link = np.array([self.link_names.index(c.link) for c in capsules], dtype=int)
        self._cap_a = np.array([c.a for c in capsules])
        self._cap_b = np.array([c.b for c in capsules])
        self._cap_r = np.array([c.radius for c in capsules])
        # Sphere rows (for the environment).
        centres, radii, link_of, first, last = [], [], [], [], []
        for c in capsules:
            ce, r = _spheres_from_capsule(c, spacing_ratio)
            first.append(sum(len(x) for x in radii))
            last.append(first[-1] + len(r) - 1)
            centres.append(ce)
            radii.append(r)
            link_of += [self.link_names.index(c.link)] * len(r)
        # A capsule's end points are the first and last centres of its sphere row.
        self._cap_first = np.array(first, dtype=int)
        self._cap_last = np.array(last, dtype=int)
        self._c_local = np.concatenate(centres)
        self._r = np.concatenate(radii)
        self._sphere_link = np.array(link_of, dtype=int)
        self._sphere_frame = np.array([kinematics.frame_index(self.link_names[i]) for i in link_of], dtype=int)
        self._tip_frame = kinematics.frame_index(tip_frame)
        # Spheres grouped by frame: one (B,3,3) @ (3,k) product per frame places them all.
        order = np.argsort(self._sphere_frame, kind="stable")
        self._frame_blocks = [
            (int(f), np.flatnonzero(self._sphere_frame == f), self._c_local[self._sphere_frame == f].T.copy())
            for f in np.unique(self._sphere_frame)
        ]
        del order
        self.self_margin_m = float(self_margin_m)
        self.held_part_radius_m = float(held_part_radius_m)
        # Disc under the cup: a centre sphere and a ring of six, in the tip frame.
        rho = max(held_part_thickness_m / 2, held_part_radius_m / 2.5)
        ring = held_part_radius_m - rho
        ang = np.arange(6) * np.pi / 3
        self._held_local = np.vstack(
            [[0.0, 0.0, held_part_thickness_m / 2], np.column_stack([ring * np.cos(ang), ring * np.sin(ang), np.full(6, held_part_thickness_m / 2)])]
        )
        self._held_r = rho
        self.grasp_links = tuple(grasp_links)
        grasp_ids = [self.link_names.index(n) for n in self.grasp_links if n in self.link_names]
        self._grasp_sphere = np.isin(self._sphere_link, grasp_ids)
        self._adjacent = self._adjacent_links()
        self._lo, self._hi, static = self._workspace_box()
        if allowed_pairs is None:
            allowed_pairs = self.never_colliding_pairs()
        self._allowed: set[frozenset[str]] = {frozenset(p) for p in allowed_pairs}
        # Spheres that never move (the base, a shoulder sphere on the pan axis) are where the
        # integrator mounted them; checking them against the pedestal is not the planner's job.
        self._env_spheres = np.flatnonzero(~static)
        self._voxel = float(grid_voxel_m)
        self._obstacles: dict[str, Obstacle] = {}
        self._grid_names: tuple[str, ...] = ()
        for o in obstacles or []:
            self._obstacles[o.name] = o
        self._rebuild(regrid=True)
        self._make_groups()
        self._held_group_r = float(np.max(np.linalg.norm(self._held_local - self._held_local.mean(axis=0), axis=1)) + self._held_r)
        self._self_pairs = self._self_capsule_pairs()

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_urdf(
        cls,
        urdf: Path | str,
        joint_names: tuple[str, ...],
        cell: CellDescription | None = None,
        base_frame: str = "base_link",
        **kwargs,
    ) -> CollisionModel:
        """Links from a URDF file (or XML text), the world from a cell description (None = empty)."""
        tree = parse_urdf(urdf)
        kin = ArmKinematics(tree, joint_names, base_frame)
        obstacles = cell_obstacles(cell) if cell is not None else []
        return cls(kin, _capsules_from_urdf(urdf), obstacles, **kwargs)

    def _adjacent_links(self) -> set[frozenset[str]]:
        """Pairs of geometric links joined by one joint (links without geometry collapsed)."""
        parent_frame = {s.frame: s.parent for s in self.kin._steps}  # noqa: SLF001 - same package
        geo = set(self.link_names)
        out = set()
        for name in self.link_names:
            f = self.kin.frame_index(name)
            while f in parent_frame:
                f = parent_frame[f]
                if self.kin.frame_names[f] in geo:
                    out.add(frozenset((name, self.kin.frame_names[f])))
                    break
        return out

    def _workspace_box(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Box holding every sphere for any q (sampled, padded), and which spheres never move."""
        rng = np.random.default_rng(0)
        n = len(self.kin.joint_names)
        q = rng.uniform(-np.pi, np.pi, (4000, n))
        q[0] = 0.0
        c = self._centres(*self.kin.link_poses(q))
        lo = c.min(axis=(0, 1)) - self._r.max() - 0.15
        hi = c.max(axis=(0, 1)) + self._r.max() + 0.15
        static = np.ptp(c, axis=0).max(axis=1) < 1e-9
        return lo, hi, static

    def _rebuild(self, regrid: bool = False) -> None:
        """Recompute the obstacle arrays (and the grid if the gridded obstacles changed)."""
        obs = list(self._obstacles.values())
        if regrid:
            self._grid_names = tuple(o.name for o in obs)
        gridded = [o for o in obs if o.name in self._grid_names]
        self._grid_names = tuple(o.name for o in gridded)
        self._static = _ObstacleArrays(gridded)
        self._runtime = _ObstacleArrays([o for o in obs if o.name not in self._grid_names])
        self._all = _ObstacleArrays(obs)
        self._grid = None
        if self._voxel > 0 and len(self._static):
            key = (
                tuple((o.name, o.shape, o.T_base_obj.tobytes(), o.dims.tobytes()) for o in gridded),
                self._lo.tobytes(),
                self._hi.tobytes(),
                self._voxel,
            )
            if key not in _GRID_CACHE:
                _GRID_CACHE[key] = _DistanceGrid(self._static, self._lo, self._hi, self._voxel)
            self._grid = _GRID_CACHE[key]
        # Where idle held-part spheres are parked: the freest voxel (or far away without a grid).
        if self._grid is not None:
            i = int(np.argmax(self._grid.sdf))
            idx = np.array(np.unravel_index(i, tuple(self._grid.n)))
            self._park = self._grid.lo + idx * self._grid.voxel
        else:
            self._park = np.full(3, 1e3)

    def _make_groups(self, size: int = 3) -> None:
        """Broad-phase groups: runs of up to `size` consecutive environment spheres of one capsule.

        A group's bounding sphere (centre = mean of its sphere centres, which is rigid in the
        link) is tested first; only spheres of groups near something are looked up one by one.
        """
        es = self._env_spheres
        cap_of = np.searchsorted(self._cap_first, es, side="right") - 1
        starts = []
        for i in range(es.size):
            if i == 0 or cap_of[i] != cap_of[i - 1] or i - starts[-1] >= size:
                starts.append(i)
        self._g_start = np.array(starts, dtype=int)
        counts = np.diff(np.append(self._g_start, es.size))
        self._g_count = counts
        self._g_of = np.repeat(np.arange(len(starts)), counts)  # env-sphere index -> group
        rad = np.zeros(len(starts))
        for g, (a, n) in enumerate(zip(self._g_start, counts)):
            loc = self._c_local[es[a : a + n]]
            ctr = loc.mean(axis=0)
            rad[g] = float(np.max(np.linalg.norm(loc - ctr, axis=1) + self._r[es[a : a + n]]))
        self._g_radius = rad

    def never_colliding_pairs(self, n_samples: int = 20000, max_joints_apart: int = 2) -> set[tuple[str, str]]:
        """Link pairs that cannot touch: separated by at most `max_joints_apart` joints (so a
        dense random sample covers their relative motion) and apart in every sample.

        This is MoveIt's "never in collision" rule restricted to pairs where sampling is
        conclusive (e.g. wrist 1 vs wrist 3 of a UR wrist, always 1-2 cm apart by design).
        """
        key = ("never", self.kin.frame_names, self._cap_a_key(), n_samples, max_joints_apart)
        if key in _GRID_CACHE:
            return _GRID_CACHE[key]  # type: ignore[return-value]
        rng = np.random.default_rng(1)
        q = rng.uniform(-np.pi, np.pi, (n_samples, len(self.kin.joint_names)))
        d = self.pair_distances(q).min(axis=0)
        out = set()
        for k, (la, lb) in enumerate(self.link_pairs()):
            if frozenset((la, lb)) in self._adjacent:
                continue
            if self._joints_between(la, lb) <= max_joints_apart and d[k] > 0.0:
                out.add((la, lb))
        _GRID_CACHE[key] = out  # type: ignore[assignment]
        return out

    def _cap_a_key(self) -> bytes:
        return np.concatenate([self._cap_a.ravel(), self._cap_b.ravel(), self._cap_r]).tobytes()

    def _joints_between(self, la: str, lb: str) -> int:
        """Number of moving joints on the kinematic path between two links."""
        by_frame = {s.frame: s for s in self.kin._steps}  # noqa: SLF001

        def chain(name: str) -> list[int]:
            f, out = self.kin.frame_index(name), []
            while f in by_frame:
                out.append(f)
                f = by_frame[f].parent
            return out

        ca, cb = chain(la), chain(lb)
        common = set(ca) & set(cb)
        steps = [f for f in ca if f not in common] + [f for f in cb if f not in common]
        return sum(1 for f in steps if by_frame[f].q_index >= 0)

    def _self_capsule_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        a_idx, b_idx = [], []
        for i, j in itertools.combinations(range(len(self.capsules)), 2):
            la, lb = self.link_names[self._cap_link[i]], self.link_names[self._cap_link[j]]
            pair = frozenset((la, lb))
            if la == lb or pair in self._adjacent or pair in self._allowed:
                continue
            a_idx.append(i)
            b_idx.append(j)
        return np.array(a_idx, dtype=int), np.array(b_idx, dtype=int)

    # ----------------------------------------------------------------- obstacles
    def add_obstacle(self, name: str, shape: str, T_base_obj: np.ndarray, dims, group: str = "runtime") -> None:
        """Add (or replace) an obstacle.

        Args:
            name: unique name (an existing one is replaced).
            shape: "box" (dims = full size x, y, z), "cylinder" (dims = radius, length along
                local z), "sphere" (dims = radius) or "mesh" (dims = the mesh's bounding-box
                size, T_base_obj = the box centre; approximated by that box, with a warning).
            T_base_obj: (4, 4) pose of the shape's centre in the base frame.
            dims: sizes in m.
            group: "conveyor" lets the cup touch it while grasping; anything else is a tag.
        """
        T = np.asarray(T_base_obj, dtype=float)
        if T.shape != (4, 4) or not np.all(np.isfinite(T)):
            msg = f"obstacle {name!r}: T_base_obj must be a finite (4, 4) transform, got shape {T.shape}"
            raise ValueError(msg)
        R = T[:3, :3]
        if np.abs(R.T @ R - np.eye(3)).max() > 1e-6 or np.linalg.det(R) < 0:
            msg = f"obstacle {name!r}: T_base_obj's rotation is not orthonormal"
            raise ValueError(msg)
        d = np.atleast_1d(np.asarray(dims, dtype=float))
        if shape == "mesh":
            log.warning("obstacle %r: mesh approximated by its bounding box %s m", name, d.tolist())
            shape = "box"
        want = {"box": 3, "cylinder": 2, "sphere": 1}
        if shape not in want:
            msg = f"obstacle {name!r}: shape must be one of {SHAPES + ('mesh',)}, got {shape!r}"
            raise ValueError(msg)
        if d.shape != (want[shape],) or not np.all(np.isfinite(d)) or np.any(d <= 0):
            msg = f"obstacle {name!r}: {shape} needs {want[shape]} positive sizes, got {d.tolist()}"
            raise ValueError(msg)
        self._obstacles[name] = Obstacle(name, shape, T.copy(), d, group)
        # A replaced cell obstacle leaves the grid (checked exactly from now on).
        self._grid_names = tuple(n for n in self._grid_names if n != name)
        self._rebuild()

    def remove_obstacle(self, name: str) -> None:
        """Remove an obstacle by name (KeyError naming it if unknown)."""
        if name not in self._obstacles:
            msg = f"no obstacle named {name!r}; obstacles: {', '.join(self._obstacles)}"
            raise KeyError(msg)
        del self._obstacles[name]
        regrid = name in self._grid_names
        if regrid:
            self._grid_names = tuple(n for n in self._grid_names if n != name)
        self._rebuild()

    def obstacles(self) -> list[Obstacle]:
        """Current obstacles (the cell first, then run-time ones)."""
        return list(self._obstacles.values())

    # ----------------------------------------------------------------- link pairs
    def link_pairs(self) -> list[tuple[str, str]]:
        """Every unordered pair of links with geometry, in a fixed order (for the SRDF generator)."""
        return list(itertools.combinations(self.link_names, 2))

    def adjacent_pairs(self) -> set[frozenset[str]]:
        """Pairs of links joined directly (never checked)."""
        return set(self._adjacent)

    def allowed_pairs(self) -> set[frozenset[str]]:
        """Extra pairs excluded from self-collision checks."""
        return set(self._allowed)

    def set_allowed_pairs(self, pairs) -> None:
        """Replace the allowed-pairs set (e.g. from an SRDF's disabled collisions)."""
        pairs = list(pairs)
        for a, b in pairs:
            for link in (a, b):
                if link not in self.link_names:
                    msg = f"allowed pair ({a!r}, {b!r}): {link!r} is not a link with geometry; links: {self.link_names}"
                    raise ValueError(msg)
        self._allowed = {frozenset(p) for p in pairs}
        self._self_pairs = self._self_capsule_pairs()

    def pair_distances(self, q_rad: np.ndarray) -> np.ndarray:
        """Minimum signed distance between every pair of links, ignoring all allowances.

        Args:
            q_rad: (B, n_joints).

        Returns:
            (B, P) distances in m (negative = overlap), columns in `link_pairs()` order.
        """
        c = self._centres(*self.kin.link_poses(np.atleast_2d(q_rad)))
        a, b = c[:, self._cap_first], c[:, self._cap_last]
        pairs = self.link_pairs()
        out = np.full((c.shape[0], len(pairs)), np.inf)
        for k, (la, lb) in enumerate(pairs):
            ia = np.flatnonzero(self._cap_link == self.link_names.index(la))
            ib = np.flatnonzero(self._cap_link == self.link_names.index(lb))
            for i in ia:
                for j in ib:
                    d = segment_distances(a[:, i], b[:, i], a[:, j], b[:, j]) - self._cap_r[i] - self._cap_r[j]
                    out[:, k] = np.minimum(out[:, k], d)
        return out

    def pair_in_collision(self, q_rad: np.ndarray, margin_m: float = 0.0) -> np.ndarray:
        """(B, P) bool: link pair closer than margin, columns in `link_pairs()` order."""
        return self.pair_distances(q_rad) < margin_m

    # ----------------------------------------------------------------- distances
    def _centres(self, R: np.ndarray, p: np.ndarray) -> np.ndarray:
        """Sphere centres (B, S, 3) from link poses R (B, F, 3, 3), p (B, F, 3)."""
        c = np.empty((R.shape[0], self._r.size, 3))
        for f, idx, local in self._frame_blocks:
            c[:, idx] = np.swapaxes(R[:, f] @ local, 1, 2) + p[:, f, None, :]
        return c

    def _distances(
        self,
        c: np.ndarray,
        R: np.ndarray,
        p: np.ndarray,
        grasp_contact: np.ndarray | None,
        held_part: np.ndarray | None,
        swept: np.ndarray | None,
        cutoff_m: float,
        gaps: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Environment (B,) and self (B,) minimum distances from sphere centres c (B, S, 3)."""
        B = c.shape[0]
        r = self._r[None, :] if swept is None else self._r[None, :] + swept
        r = np.broadcast_to(r, (B, self._r.size))
        gc = None if grasp_contact is None else np.asarray(grasp_contact, dtype=bool)
        env = np.full(B, np.inf)
        es = self._env_spheres
        ce, re = c[:, es], r[:, es]
        g_start, g_count, g_rad, g_of, grasp = self._g_start, self._g_count, self._g_radius, self._g_of, self._grasp_sphere[es]
        sw_es = None if swept is None else swept[:, es]
        hp = None if held_part is None else np.asarray(held_part, dtype=bool)
        if hp is not None and hp.any():
            # The held part: 7 more spheres (one more broad-phase group) on the tip; rows that
            # hold nothing park them where the grid says nothing is near.
            hc = p[:, self._tip_frame, None, :] + np.einsum("bij,kj->bki", R[:, self._tip_frame], self._held_local)
            hc[~hp] = self._park
            k = self._held_local.shape[0]
            ce = np.concatenate([ce, hc], axis=1)
            re = np.concatenate([re, np.full((B, k), self._held_r)], axis=1)
            if sw_es is not None:
                cup = sw_es[:, grasp].max(axis=1) if grasp.any() else sw_es.max(axis=1)
                sw_es = np.concatenate([sw_es, np.repeat(cup[:, None], k, axis=1)], axis=1)
                re[:, -k:] += sw_es[:, -k:]
            g_start = np.append(g_start, es.size)
            g_count = np.append(g_count, k)
            g_rad = np.append(g_rad, self._held_group_r)
            g_of = np.append(g_of, np.full(k, g_start.size - 1))
            grasp = np.append(grasp, np.ones(k, dtype=bool))
        if len(self._static):
            if self._grid is not None and np.isfinite(cutoff_m):
                # Level 1: one lookup per group bounding sphere; level 2: the spheres of
                # groups near something; level 3: exact distances for spheres still near.
                gcen = np.add.reduceat(ce, g_start, axis=1) / g_count[None, :, None]
                gr = g_rad[None, :] if sw_es is None else g_rad[None, :] + np.maximum.reduceat(sw_es, g_start, axis=1)
                glb = self._grid.lower_bound(gcen) - gr
                far = glb >= cutoff_m
                env = np.where(far, glb, np.inf).min(axis=1)
                kb, ks = np.nonzero(~far[:, g_of])
                if kb.size:
                    lb = self._grid.lower_bound(ce[kb, ks]) - re[kb, ks]
                    near = lb < cutoff_m
                    np.minimum.at(env, kb[~near], lb[~near])
                    kb, ks = kb[near], ks[near]
            else:
                kb, ks = np.divmod(np.arange(B * ce.shape[1]), ce.shape[1])
            if kb.size:
                d = self._static.sdf(ce[kb, ks]) - re[kb, ks][:, None]
                if gc is not None:
                    skip = (gc[kb] & grasp[ks])[:, None] & self._static.conveyor[None, :]
                    d = np.where(skip, np.inf, d)
                np.minimum.at(env, kb, d.min(axis=1))
        if len(self._runtime):
            d = self._runtime.sdf(ce.reshape(-1, 3)).reshape(B, ce.shape[1], -1) - re[..., None]
            if gc is not None:
                skip = (gc[:, None] & grasp[None, :])[..., None] & self._runtime.conveyor
                d = np.where(skip, np.inf, d)
            if hp is not None:
                d[~hp, es.size :] = np.inf  # parked held-part spheres
            env = np.minimum(env, d.min(axis=(1, 2)))
        slf = np.full(B, np.inf)
        ia, ib = self._self_pairs
        if ia.size:
            a, b = c[:, self._cap_first], c[:, self._cap_last]
            # Prefilter: a lower bound from the capsules' bounding spheres; only pairs that get
            # near the margin somewhere on the path need exact segment distances.
            mid = 0.5 * (a + b)
            reach = 0.5 * _norm3(b - a) + self._cap_r
            if swept is not None:
                reach = reach + np.maximum(swept[:, self._cap_first], swept[:, self._cap_last])
            sep = _norm3(mid[:, ia] - mid[:, ib]) - reach[:, ia] - reach[:, ib]
            near = sep.min(axis=0) < self.self_margin_m + 0.02
            if not near.all():
                slf = sep[:, ~near].min(axis=1)
            ja, jb = ia[near], ib[near]
            if ja.size:
                d = segment_distances(a[:, ja], b[:, ja], a[:, jb], b[:, jb]) - self._cap_r[ja] - self._cap_r[jb]
                if swept is not None:
                    # Sweep by the relative motion of the end points (it bounds that of any
                    # pair of points on the two segments, by convexity).
                    d = d - _half_steps_rel(a[:, ja], b[:, ja], a[:, jb], b[:, jb], gaps)
                slf = np.minimum(slf, d.min(axis=1))
        return env, slf

    def distances_from_poses(
        self,
        R: np.ndarray,
        p: np.ndarray,
        grasp_contact: np.ndarray | None = None,
        held_part: np.ndarray | None = None,
        cutoff_m: float = np.inf,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Minimum signed distances to the environment and between the arm's links, from poses.

        Args:
            R, p: (B, F, 3, 3) and (B, F, 3) poses of `kinematics.frame_names` in the base frame
                (the checker passes poses from `RobotModel`, not from the planner's kernel).
            grasp_contact: (B,) bool; where True, the grasp links and the held part may touch
                the conveyor (the cup meets the part on the belt).
            held_part: (B,) bool; where True a sphere for the held part hangs below the tip.
            cutoff_m: environment distances at or above this may come back as a lower bound
                (>= cutoff); below it they are exact.

        Returns:
            env (B,) and self (B,) distances in m (negative = overlap).
        """
        return self._distances(self._centres(R, p), R, p, grasp_contact, held_part, None, cutoff_m)

    def closest_pair(self, q_rad: np.ndarray, grasp_contact: bool = False, held_part: bool = False) -> tuple[float, str]:
        """Exact minimum distance for one configuration (n,) and the pair that achieves it."""
        R, p = self.kin.link_poses(np.asarray(q_rad, dtype=float)[None])
        c = self._centres(R, p)[0]
        found: list[tuple[float, str]] = []
        es = self._env_spheres
        if len(self._all):
            d = self._all.sdf(c[es]) - self._r[es][:, None]
            if grasp_contact:
                d = np.where(self._grasp_sphere[es][:, None] & self._all.conveyor[None, :], np.inf, d)
            i, j = np.unravel_index(np.argmin(d), d.shape)
            found.append((float(d[i, j]), f"{self.link_names[self._sphere_link[es[i]]]} vs {self._all.names[j]}"))
            if held_part:
                centre = p[0, self._tip_frame] + self._held_local @ R[0, self._tip_frame].T
                d = (self._all.sdf(centre) - self._held_r).min(axis=0)
                if grasp_contact:
                    d = np.where(self._all.conveyor, np.inf, d)
                j = int(np.argmin(d))
                found.append((float(d[j]), f"held part vs {self._all.names[j]}"))
        ia, ib = self._self_pairs
        if ia.size:
            a, b = c[self._cap_first], c[self._cap_last]
            d = segment_distances(a[ia], b[ia], a[ib], b[ib]) - self._cap_r[ia] - self._cap_r[ib]
            k = int(np.argmin(d))
            la, lb = self.link_names[self._cap_link[ia[k]]], self.link_names[self._cap_link[ib[k]]]
            found.append((float(d[k]), f"{la} vs {lb}"))
        return min(found) if found else (math.inf, "")

    def min_distance(
        self,
        q_rad: np.ndarray,
        grasp_contact: np.ndarray | None = None,
        held_part: np.ndarray | None = None,
    ) -> np.ndarray:
        """(B,) minimum signed distance (m) over all checked pairs (environment and self)."""
        R, p = self.kin.link_poses(np.atleast_2d(q_rad))
        env, slf = self.distances_from_poses(R, p, grasp_contact, held_part)
        return np.minimum(env, slf)

    def in_collision(
        self,
        q_rad: np.ndarray,
        margin_m: float = 0.0,
        grasp_contact: np.ndarray | None = None,
        held_part: np.ndarray | None = None,
    ) -> np.ndarray:
        """(B,) True where the environment is closer than margin_m or two links closer than
        `self_margin_m`."""
        R, p = self.kin.link_poses(np.atleast_2d(q_rad))
        env, slf = self.distances_from_poses(R, p, grasp_contact, held_part, cutoff_m=margin_m)
        return (env < margin_m) | (slf < self.self_margin_m)

    def path_clear(
        self,
        q_rad: np.ndarray,
        margin_m: float,
        grasp_contact: np.ndarray | None = None,
        held_part: np.ndarray | None = None,
    ) -> np.ndarray:
        """(N,) True where a sampled path (N, n) keeps its margins, swept between samples.

        Every sphere (and capsule) is inflated by half the distance it moves to the previous
        or next sample, whichever is larger, so the chords between samples are covered too.
        """
        R, p = self.kin.link_poses(np.atleast_2d(q_rad))
        return self.path_clear_from_poses(R, p, margin_m, grasp_contact, held_part)

    def path_clear_from_poses(
        self,
        R: np.ndarray,
        p: np.ndarray,
        margin_m: float,
        grasp_contact: np.ndarray | None = None,
        held_part: np.ndarray | None = None,
        gaps: np.ndarray | None = None,
    ) -> np.ndarray:
        """`path_clear` from link poses (B, F, 3, 3), (B, F, 3) already computed.

        Args:
            gaps: (B-1,) bool, True where samples i and i+1 are not neighbours on the path
                (nothing is swept between them).
        """
        c = self._centres(R, p)
        env, slf = self._distances(c, R, p, grasp_contact, held_part, _half_steps(c, gaps), margin_m, gaps)
        return (env >= margin_m) & (slf >= self.self_margin_m)

    def sphere_count(self) -> int:
        """Number of spheres standing in for the links in environment checks."""
        return int(self._r.size)


def _half_steps_rel(a1: np.ndarray, b1: np.ndarray, a2: np.ndarray, b2: np.ndarray, gaps: np.ndarray | None = None) -> np.ndarray:
    """(N, P) half the largest change, to the previous or next sample, of the vectors between
    the end points of paired segments (N, P, 3)."""
    rel = np.stack([a1 - a2, a1 - b2, b1 - a2, b1 - b2], axis=2)  # (N, P, 4, 3)
    dr = np.diff(rel, axis=0)
    n2 = _dot3(dr, dr)  # (N-1, P, 4)
    step = 0.5 * np.sqrt(np.maximum(np.maximum(n2[..., 0], n2[..., 1]), np.maximum(n2[..., 2], n2[..., 3])))
    if gaps is not None:
        step[gaps] = 0.0
    out = np.zeros(a1.shape[:2])
    out[:-1] = step
    out[1:] = np.maximum(out[1:], step)
    return out


def _half_steps(x: np.ndarray, gaps: np.ndarray | None = None) -> np.ndarray:
    """(N, K) half the distance each point (N, K, 3) moves to its previous or next sample
    (nothing across `gaps`, (N-1,) bool)."""
    step = 0.5 * _norm3(np.diff(x, axis=0))
    if gaps is not None:
        step[gaps] = 0.0
    out = np.zeros(x.shape[:2])
    out[:-1] = step
    out[1:] = np.maximum(out[1:], step)
    return out
