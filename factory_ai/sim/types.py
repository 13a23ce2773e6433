"""Data types of the digital twin: configuration, camera frames, ground truth, events, errors.

Kept free of MuJoCo so that tools which only read ground truth (dataset consumers, the SDF world
generator, tests of pure functions) can import them cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from factory_ai.types import DefectType


class TrajectoryError(ValueError):
    """A trajectory the simulated controller refuses: unknown joints, limits exceeded."""


class PhysicsError(RuntimeError):
    """The simulation diverged (unstable contact, NaN state); like dm_control's PhysicsError."""


class PartShape(str, Enum):
    """Metal part shapes the spawner makes."""

    WASHER = "washer"  # round disc with a centre hole, 48 mm
    BRACKET = "bracket"  # flat L-plate with two mounting holes, 56 mm legs
    HEX_NUT = "hex_nut"  # hexagon, 36 mm across flats, with a bore


class PartEventKind(str, Enum):
    """What happened to a part (compares equal to its string value)."""

    SPAWNED = "spawned"
    PICKED = "picked"  # the suction cup sealed on it
    DROPPED = "dropped"  # vacuum released (anywhere)
    IN_BIN = "in_bin"  # came to be inside the reject bin
    ESCAPED = "escaped"  # passed the downstream end of the belt: left the cell uninspected/unrejected
    FELL_OFF = "fell_off"  # left the belt another way (knocked or dropped outside the bin)


@dataclass(frozen=True)
class CameraRealism:
    """Image degradations of the overhead camera; every draw goes through the sim's seed.

    Attributes:
        enabled: master switch; False gives the clean rendered image.
        noise_std: additive Gaussian sensor noise, in 8-bit grey levels.
        blur_sigma_px: Gaussian blur (defocus / lens softness), pixels; 0 disables.
        exposure_drift_std: stationary std of the log-exposure gain (0.05 = about 5 %).
        light_change_std: stationary std of the relative light intensity change.
        drift_time_constant_s: correlation time of exposure and lighting drift (Ornstein-Uhlenbeck).
        shadows: render shadows in the overhead image (off by default: a CPU renderer draws them
            blocky at this scale, and they cost about 20 ms a frame).
    """

    enabled: bool = True
    noise_std: float = 2.0
    blur_sigma_px: float = 0.5
    exposure_drift_std: float = 0.04
    light_change_std: float = 0.06
    drift_time_constant_s: float = 8.0
    shadows: bool = False


@dataclass(frozen=True)
class SuctionConfig:
    """When the cup seals on a part (contact-gated weld).

    Attributes:
        max_gap_m: the cup lip may be at most this far above the part's top face.
        max_press_m: ... or pressed at most this far into it (contact softness).
        max_offset_m: lateral distance between the cup axis and the part centre.
        max_tilt_rad: angle between the cup axis and the part's face normal.
    """

    max_gap_m: float = 0.004
    max_press_m: float = 0.004
    max_offset_m: float = 0.010
    max_tilt_rad: float = 0.35


@dataclass(frozen=True)
class SimConfig:
    """Knobs of the digital twin. All randomness comes from the seed given to `CellSim.reset`.

    Attributes:
        belt_speed_mps: belt speed; None takes `conveyor.speed_mps` from the cell description.
        physics_dt_s: physics step (the 500 Hz servo runs at this period).
        spawn_enabled: the spawner feeds parts at the upstream end of the belt.
        prefill_belt: at reset, the belt already carries parts along its whole length.
        spawn_gap_m: (min, max) belt travel between consecutive spawns, centre to centre.
        close_pair_prob: share of spawns placed right next to the previous part.
        shapes: shapes the spawner draws from.
        defect_rate: share of spawned parts that are defective.
        defect_types: defect types drawn (uniformly) for defective parts.
        severity_range: (min, max) defect severity, 0 = barely visible, 1 = obvious.
        slots_per_shape: part bodies kept per shape (the model compiles once; slots are reused).
        realism: overhead camera degradations.
        suction: contact gating of the vacuum cup.
        kp_nm_per_rad / kd_nms_per_rad: servo gains per joint (URDF order).
        armature_kgm2: reflected motor inertia per joint (URDF order).
        overview_size_px: (width, height) of the overview camera image.
        texture_px: side of each part's texture image (texels).
        label_delay_s / label_flip_prob: end-of-line inspection labels (see `CellSim.labels`).
        kinematic_riding: a part resting on the belt with nothing near it (arm, loose parts,
            belt end) rides the belt kinematically (exact belt velocity, no contact solving);
            anything else is full contact physics. False simulates every part by contact
            (about 5x slower with a dozen parts on the belt).
        sleep: let MuJoCo put resting bodies (parked slots, parts in the bin) to sleep.
    """

    belt_speed_mps: float | None = None
    physics_dt_s: float = 0.002
    spawn_enabled: bool = True
    prefill_belt: bool = True
    spawn_gap_m: tuple[float, float] = (0.10, 0.26)
    close_pair_prob: float = 0.2
    shapes: tuple[PartShape, ...] = (PartShape.WASHER, PartShape.BRACKET, PartShape.HEX_NUT)
    defect_rate: float = 0.3
    defect_types: tuple[DefectType, ...] = (
        DefectType.CRACK,
        DefectType.CHIP,
        DefectType.HOLE,
        DefectType.SCRATCH,
    )
    severity_range: tuple[float, float] = (0.15, 1.0)
    slots_per_shape: int = 10
    realism: CameraRealism = field(default_factory=CameraRealism)
    suction: SuctionConfig = field(default_factory=SuctionConfig)
    kp_nm_per_rad: tuple[float, ...] = (3000.0, 3000.0, 2500.0, 500.0, 500.0, 400.0)
    kd_nms_per_rad: tuple[float, ...] = (120.0, 120.0, 90.0, 12.0, 12.0, 10.0)
    armature_kgm2: tuple[float, ...] = (0.4, 0.4, 0.3, 0.06, 0.06, 0.05)
    overview_size_px: tuple[int, int] = (1280, 800)
    texture_px: int = 256
    label_delay_s: float = 0.0
    label_flip_prob: float = 0.0
    kinematic_riding: bool = True
    sleep: bool = True

    def __post_init__(self) -> None:
        if self.belt_speed_mps is not None and not 0.0 <= self.belt_speed_mps <= 2.0:
            msg = f"SimConfig.belt_speed_mps must be in [0, 2], got {self.belt_speed_mps}"
            raise ValueError(msg)
        if not 0.0005 <= self.physics_dt_s <= 0.01:
            msg = f"SimConfig.physics_dt_s must be in [0.0005, 0.01] s, got {self.physics_dt_s}"
            raise ValueError(msg)
        if not 0.0 <= self.defect_rate <= 1.0:
            msg = f"SimConfig.defect_rate must be in [0, 1], got {self.defect_rate}"
            raise ValueError(msg)
        lo, hi = self.spawn_gap_m
        if not 0.0 < lo <= hi:
            msg = f"SimConfig.spawn_gap_m must be 0 < min <= max, got {self.spawn_gap_m}"
            raise ValueError(msg)
        lo, hi = self.severity_range
        if not 0.0 <= lo <= hi <= 1.0:
            msg = f"SimConfig.severity_range must be within [0, 1], got {self.severity_range}"
            raise ValueError(msg)
        if self.slots_per_shape < 1:
            msg = f"SimConfig.slots_per_shape must be >= 1, got {self.slots_per_shape}"
            raise ValueError(msg)
        if not self.shapes:
            msg = "SimConfig.shapes must name at least one shape"
            raise ValueError(msg)
        if self.defect_rate > 0.0 and not self.defect_types:
            msg = "SimConfig.defect_types is empty but defect_rate > 0"
            raise ValueError(msg)
        if DefectType.OK in self.defect_types or DefectType.ANOMALY in self.defect_types:
            msg = f"SimConfig.defect_types must be concrete flaws, got {self.defect_types}"
            raise ValueError(msg)
        for name in ("kp_nm_per_rad", "kd_nms_per_rad", "armature_kgm2"):
            if any(v < 0 for v in getattr(self, name)):
                msg = f"SimConfig.{name} must be non-negative, got {getattr(self, name)}"
                raise ValueError(msg)


@dataclass(frozen=True)
class CameraFrame:
    """One image of a simulated camera.

    Attributes:
        rgb: (H, W, 3) uint8.
        depth_m: (H, W) float32 distance along the optical axis (m).
        stamp_s: sim time of the exposure.
        frame_id: optical frame (z forward, x right, y down).
        K: (3, 3) intrinsic matrix of this image.
    """

    rgb: np.ndarray
    depth_m: np.ndarray
    stamp_s: float
    frame_id: str = "overhead_camera_optical_frame"
    K: np.ndarray | None = None


@dataclass(frozen=True)
class PartTruth:
    """Ground truth for one part at one instant.

    Attributes:
        part_id: unique for the run (never reused; slots are).
        shape: which part.
        defective / defect_type / severity: the flaw (DefectType.OK and 0 for a good part).
        defect_p_part_m: (3,) flaw centre in the part frame (None for a good part).
        defect_p_base_m: (3,) flaw centre in the base frame (None for a good part).
        T_world_part: (4, 4) part frame (origin = centroid on the bottom face, z up).
        p_base_m: (3,) part frame origin in the base frame.
        yaw_rad: rotation of the part's x axis about base z.
        v_base_mps: (3,) linear velocity in the base frame.
        on_belt: resting on the moving belt.
        held: held by the suction cup.
        status: "on_belt", "held", "loose", "in_bin", "escaped" or "fell_off".
        radius_m: bounding circle radius about the part origin.
        top_z_part_m: height of the top face in the part frame.
    """

    part_id: int
    shape: PartShape
    defective: bool
    defect_type: DefectType
    severity: float
    defect_p_part_m: np.ndarray | None
    defect_p_base_m: np.ndarray | None
    T_world_part: np.ndarray
    p_base_m: np.ndarray
    yaw_rad: float
    v_base_mps: np.ndarray
    on_belt: bool
    held: bool
    status: str
    radius_m: float
    top_z_part_m: float


@dataclass(frozen=True)
class PartEvent:
    """Something that happened to a part, on the sim clock."""

    stamp_s: float
    part_id: int
    kind: PartEventKind
    p_base_m: np.ndarray | None = None


@dataclass(frozen=True)
class SuctionState:
    """Vacuum gripper state."""

    vacuum_on: bool
    held_part_id: int | None
