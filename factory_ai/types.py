"""Data types shared between the concerns (vision, inspection, planning, learning, cell, sim).

Field names carry frame and unit: `p_base_m` is a position in the arm's base frame in metres,
`stamp_s` a time in seconds on the cell's clock (simulated or ROS time).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np


class DefectType(str, Enum):
    """What the classifier or the ground truth says about a part."""

    OK = "ok"
    CRACK = "crack"
    CHIP = "chip"
    HOLE = "hole"
    SCRATCH = "scratch"
    ANOMALY = "anomaly"  # defective, but of no type the supervised head knows


@dataclass(frozen=True)
class JointState:
    """Arm state at one instant; arrays are (n_joints,)."""

    names: tuple[str, ...]
    q_rad: np.ndarray
    qd_radps: np.ndarray
    qdd_radps2: np.ndarray
    stamp_s: float = 0.0


@dataclass(frozen=True)
class JointTrajectory:
    """Time-parameterized joint path, like trajectory_msgs/JointTrajectory.

    Arrays: t_s (N,) time from start, q_rad / qd_radps / qdd_radps2 (N, n_joints).
    `start_stamp_s` is when t_s = 0 happens on the cell clock.
    """

    joint_names: tuple[str, ...]
    t_s: np.ndarray
    q_rad: np.ndarray
    qd_radps: np.ndarray
    qdd_radps2: np.ndarray
    start_stamp_s: float = 0.0

    def __post_init__(self) -> None:
        n = len(self.joint_names)
        t = np.asarray(self.t_s)
        if t.ndim != 1 or t.size == 0:
            msg = f"JointTrajectory.t_s must be a non-empty 1-D array, got shape {t.shape}"
            raise ValueError(msg)
        for name in ("q_rad", "qd_radps", "qdd_radps2"):
            a = np.asarray(getattr(self, name))
            if a.shape != (t.size, n):
                msg = f"JointTrajectory.{name} must have shape {(t.size, n)}, got {a.shape}"
                raise ValueError(msg)
            if not np.all(np.isfinite(a)):
                msg = f"JointTrajectory.{name} contains NaN or inf"
                raise ValueError(msg)
        if np.any(np.diff(t) <= 0.0) or t[0] < 0.0:
            msg = "JointTrajectory.t_s must start at >= 0 and strictly increase"
            raise ValueError(msg)

    @property
    def duration_s(self) -> float:
        """Time from start of the last point (s)."""
        return float(self.t_s[-1])


@dataclass(frozen=True)
class PartObservation:
    """One tracked part as the vision reports it (pose on the belt plane, base frame)."""

    track_id: int
    stamp_s: float
    p_base_m: np.ndarray  # (3,) part centre on the belt surface
    yaw_rad: float  # rotation about base z of the part's canonical axis
    v_base_mps: np.ndarray  # (3,) velocity estimate
    bbox_px: tuple[int, int, int, int]  # u_min, v_min, u_max, v_max in the image
    fully_in_view: bool = True
    crop: np.ndarray | None = None  # canonical crop for the classifier, HxWx3 uint8 (RGB)
    frame_id: str = "base_link"
    # Where `crop` was cut (the arguments of vision.canonical_crop), so a consumer that gets the
    # frame and the observation separately (the ROS classifier node) cuts the identical crop:
    # centre (u, v) px, image direction of the crop's x axis (rad, from +u towards +v), side of
    # the frame region covered (px). None / NaN when unknown.
    crop_center_px: np.ndarray | None = None
    crop_angle_rad: float = float("nan")
    crop_extent_px: float = float("nan")
    shape: str = "unknown"  # outline class the vision recognised: "washer", "hex_nut", "bracket"


@dataclass(frozen=True)
class DefectVerdict:
    """The classifier's decision for one part."""

    track_id: int
    stamp_s: float
    p_defect: float  # calibrated probability that the part is defective
    defect_type: DefectType  # OK, a known type, or ANOMALY
    supervised_score: float  # calibrated probability from the supervised head
    anomaly_score: float  # calibrated probability from the good-only anomaly model
    reject: bool  # decision at the threshold chosen for the target escape rate
    uncertain: bool = False  # close to the threshold or bad input: raise an alarm, never pass
    heatmap: np.ndarray | None = None  # HxW float32 in [0, 1], same size as the crop


class RejectStatus(str, Enum):
    """Why a planned reject ended the way it did."""

    PLANNED = "planned"
    CANNOT_REJECT = "cannot_reject"


@dataclass(frozen=True)
class RejectPlan:
    """A trajectory that intercepts a part on the belt and releases it over the bin."""

    track_id: int
    status: RejectStatus
    trajectory: JointTrajectory | None = None
    grasp_time_s: float = float("nan")  # cell clock time the cup meets the part
    suction_on_s: float = float("nan")  # cell clock time to switch vacuum on
    suction_off_s: float = float("nan")  # cell clock time to release over the bin
    p_grasp_base_m: np.ndarray | None = None  # (3,) predicted cup position at grasp
    reason: str = ""  # set when status is CANNOT_REJECT


class PickResult(str, Enum):
    """What happened to a part the cell tried to reject."""

    IN_BIN = "in_bin"
    MISSED = "missed"  # vacuum never held the part
    DROPPED = "dropped"  # held, then lost before the bin
    NOT_ATTEMPTED = "not_attempted"


@dataclass(frozen=True)
class PickOutcome:
    """Feedback from one pick attempt, for the learner's precision estimates."""

    track_id: int
    stamp_s: float
    result: PickResult
    # Part centre relative to the cup at grasp, in the base frame (m); None if never held.
    offset_part_cup_base_m: np.ndarray | None = None
    predicted_grasp_time_s: float = float("nan")
    # For the learner's process estimate (factory_ai.learning.process): the belt speed the
    # planner predicted the part with (m/s, before any speed correction) and the lead time
    # from the observation the plan used to the predicted grasp (s).
    v_belt_pred_mps: float = float("nan")
    lead_time_s: float = float("nan")


@dataclass(frozen=True)
class InspectionLabel:
    """Downstream truth for a part (end-of-line station or operator), possibly late or noisy."""

    track_id: int
    stamp_s: float
    defective: bool
    defect_type: DefectType = DefectType.OK


@dataclass(frozen=True)
class Alarm:
    """A defective or doubtful part the cell could not deal with: never a silent pass."""

    track_id: int
    stamp_s: float
    kind: str  # e.g. "cannot_reject", "pick_failed_twice", "uncertain_verdict", "bad_input"
    detail: str = ""


@dataclass
class Outcome:
    """Final record of one part for the learner and the report."""

    track_id: int
    verdict: DefectVerdict | None = None
    pick: PickOutcome | None = None
    label: InspectionLabel | None = None
    alarms: list[Alarm] = field(default_factory=list)
