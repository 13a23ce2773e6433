"""The cell description (`config/cell.yaml`): one loader, validated, shared by sim, core and nodes.

Every error names the offending key, e.g. ``cell.yaml: conveyor.speed_mps must be > 0, got -1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from factory_ai import package_root
from factory_ai.geometry import T_from_xyz_rpy, T_inv


class CellConfigError(ValueError):
    """The cell description is missing a key or holds a bad value."""


@dataclass(frozen=True)
class ArmDescription:
    urdf_path: Path
    base_frame: str
    tool_frame: str
    tip_frame: str
    T_world_base: np.ndarray  # (4, 4)
    ready_q_rad: np.ndarray  # (n_joints,)


@dataclass(frozen=True)
class ConveyorDescription:
    T_world_belt: np.ndarray  # (4, 4) centre of the belt's top surface, +x = travel direction
    length_m: float
    width_m: float
    speed_mps: float
    frame_height_m: float
    rail_height_m: float
    # Stretch of belt (m along +x of the belt pose, from its centre) where the arm may pick:
    # keeps the arm out of the camera's view so it never hides or poses as a part.
    pick_zone_m: tuple[float, float] = (-float("inf"), float("inf"))

    @property
    def direction_world(self) -> np.ndarray:
        """Unit travel direction of the belt in the world frame."""
        return self.T_world_belt[:3, 0].copy()


@dataclass(frozen=True)
class RejectBinDescription:
    T_world_bin: np.ndarray  # (4, 4) centre of the bin floor
    size_m: np.ndarray  # (3,) inner x, y, wall height
    wall_thickness_m: float


@dataclass(frozen=True)
class CameraDescription:
    name: str
    frame_id: str
    T_base_camera: np.ndarray  # (4, 4) optical frame (z forward, x right, y down) into base
    width_px: int
    height_px: int
    K: np.ndarray  # (3, 3) intrinsic matrix
    distortion: np.ndarray  # (5,) plumb_bob
    frame_rate_hz: float


@dataclass(frozen=True)
class FixtureDescription:
    name: str
    type: str  # "box" (full size) for now
    T_world_fixture: np.ndarray
    size_m: np.ndarray


@dataclass(frozen=True)
class CellDescription:
    """Geometry of the whole cell. World = floor frame; base = the arm's base_link."""

    source: Path
    arm: ArmDescription
    conveyor: ConveyorDescription
    reject_bin: RejectBinDescription
    camera: CameraDescription
    fixtures: tuple[FixtureDescription, ...]

    @property
    def T_base_world(self) -> np.ndarray:
        """Maps world points into the arm base frame."""
        return T_inv(self.arm.T_world_base)

    @property
    def T_world_camera(self) -> np.ndarray:
        """Camera optical frame into the world frame."""
        return self.arm.T_world_base @ self.camera.T_base_camera

    @property
    def T_base_belt(self) -> np.ndarray:
        """Belt surface frame into the base frame."""
        return self.T_base_world @ self.conveyor.T_world_belt

    @property
    def T_base_bin(self) -> np.ndarray:
        """Bin floor frame into the base frame."""
        return self.T_base_world @ self.reject_bin.T_world_bin


def default_cell_path() -> Path:
    """The cell description shipped with the package."""
    return package_root() / "config" / "cell.yaml"


class _Reader:
    """Walks the YAML tree and reports bad values by their dotted key."""

    def __init__(self, data: Any, where: str, file: str) -> None:
        self.data = data
        self.where = where
        self.file = file

    def fail(self, key: str, problem: str) -> CellConfigError:
        full = f"{self.where}.{key}" if self.where else key
        return CellConfigError(f"{self.file}: {full} {problem}")

    def child(self, key: str) -> _Reader:
        if not isinstance(self.data, dict) or key not in self.data:
            raise self.fail(key, "is missing")
        value = self.data[key]
        if not isinstance(value, dict):
            raise self.fail(key, f"must be a mapping, got {value!r}")
        return _Reader(value, f"{self.where}.{key}" if self.where else key, self.file)

    def raw(self, key: str, default: Any = ...) -> Any:
        if not isinstance(self.data, dict) or key not in self.data:
            if default is ...:
                raise self.fail(key, "is missing")
            return default
        return self.data[key]

    def number(self, key: str, lo: float | None = None, hi: float | None = None, default: Any = ...) -> float:
        value = self.raw(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
            raise self.fail(key, f"must be a finite number, got {value!r}")
        if lo is not None and value <= lo:
            raise self.fail(key, f"must be > {lo}, got {value!r}")
        if hi is not None and value > hi:
            raise self.fail(key, f"must be <= {hi}, got {value!r}")
        return float(value)

    def vector(self, key: str, n: int | None, default: Any = ...) -> np.ndarray:
        value = self.raw(key, default)
        ok = isinstance(value, (list, tuple)) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
        )
        if not ok or (n is not None and len(value) != n) or not np.all(np.isfinite(value)):
            want = f"{n} numbers" if n is not None else "a list of numbers"
            raise self.fail(key, f"must be {want}, got {value!r}")
        return np.asarray(value, dtype=float)

    def string(self, key: str, default: Any = ...) -> str:
        value = self.raw(key, default)
        if not isinstance(value, str) or not value:
            raise self.fail(key, f"must be a non-empty string, got {value!r}")
        return value

    def pose(self, key: str) -> np.ndarray:
        node = self.child(key)
        return T_from_xyz_rpy(node.vector("xyz", 3), node.vector("rpy", 3))


def load_cell_description(path: str | Path | None = None) -> CellDescription:
    """Load and validate a cell description YAML; relative paths resolve against the package root."""
    path = Path(path) if path is not None else default_cell_path()
    try:
        text = path.read_text()
    except OSError as exc:
        msg = f"cannot read cell description {path}: {exc.strerror}"
        raise CellConfigError(msg) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        msg = f"{path.name}: not valid YAML: {exc}"
        raise CellConfigError(msg) from exc
    if not isinstance(data, dict):
        msg = f"{path.name}: top level must be a mapping"
        raise CellConfigError(msg)
    root = _Reader(data, "", path.name)

    a = root.child("arm")
    urdf = Path(a.string("urdf"))
    if not urdf.is_absolute():
        urdf = (package_root() / urdf) if not (path.parent / urdf).is_file() else path.parent / urdf
    if not urdf.is_file():
        raise a.fail("urdf", f"names a file that does not exist: {urdf}")
    arm = ArmDescription(
        urdf_path=urdf,
        base_frame=a.string("base_frame", "base_link"),
        tool_frame=a.string("tool_frame", "tool0"),
        tip_frame=a.string("tip_frame", "suction_cup"),
        T_world_base=a.pose("base_pose_world"),
        ready_q_rad=a.vector("ready_q_rad", None),
    )

    c = root.child("conveyor")
    conveyor = ConveyorDescription(
        T_world_belt=c.pose("pose_world"),
        length_m=c.number("length_m", lo=0.0, hi=50.0),
        width_m=c.number("width_m", lo=0.0, hi=5.0),
        speed_mps=c.number("speed_mps", lo=0.0, hi=2.0),
        frame_height_m=c.number("frame_height_m", lo=0.0, hi=2.0, default=0.12),
        rail_height_m=c.number("rail_height_m", lo=-1e-9, hi=0.5, default=0.02),
        pick_zone_m=tuple(c.vector("pick_zone_m", 2, default=[-1e9, 1e9])),
    )
    if conveyor.pick_zone_m[0] >= conveyor.pick_zone_m[1]:
        raise c.fail("pick_zone_m", f"must be [start, end] with start < end, got {list(conveyor.pick_zone_m)}")

    b = root.child("reject_bin")
    reject_bin = RejectBinDescription(
        T_world_bin=b.pose("pose_world"),
        size_m=b.vector("size_m", 3),
        wall_thickness_m=b.number("wall_thickness_m", lo=0.0, hi=0.2, default=0.01),
    )
    if np.any(reject_bin.size_m <= 0):
        raise b.fail("size_m", f"must be positive, got {reject_bin.size_m.tolist()}")

    cam = root.child("camera")
    res = cam.vector("resolution_px", 2)
    if np.any(res < 1) or np.any(res != np.round(res)):
        raise cam.fail("resolution_px", f"must be two positive integers, got {res.tolist()}")
    intr = cam.child("intrinsics")
    K = np.array(
        [
            [intr.number("fx", lo=0.0), 0.0, intr.number("cx")],
            [0.0, intr.number("fy", lo=0.0), intr.number("cy")],
            [0.0, 0.0, 1.0],
        ]
    )
    camera = CameraDescription(
        name=cam.string("name", "overhead_camera"),
        frame_id=cam.string("frame_id", "overhead_camera_optical_frame"),
        T_base_camera=cam.pose("T_base_camera"),
        width_px=int(res[0]),
        height_px=int(res[1]),
        K=K,
        distortion=cam.vector("distortion", 5, default=[0.0] * 5),
        frame_rate_hz=cam.number("frame_rate_hz", lo=0.0, hi=1000.0, default=30.0),
    )

    fixtures = []
    raw_fixtures = root.raw("fixtures", [])
    if not isinstance(raw_fixtures, list):
        raise root.fail("fixtures", f"must be a list, got {raw_fixtures!r}")
    for i, item in enumerate(raw_fixtures):
        if not isinstance(item, dict):
            raise root.fail(f"fixtures[{i}]", f"must be a mapping, got {item!r}")
        f = _Reader(item, f"fixtures[{i}]", path.name)
        kind = f.string("type")
        if kind != "box":
            raise f.fail("type", f"must be 'box', got {kind!r}")
        size = f.vector("size_m", 3)
        if np.any(size <= 0):
            raise f.fail("size_m", f"must be positive, got {size.tolist()}")
        fixtures.append(FixtureDescription(f.string("name"), kind, f.pose("pose_world"), size))

    return CellDescription(path, arm, conveyor, reject_bin, camera, tuple(fixtures))
