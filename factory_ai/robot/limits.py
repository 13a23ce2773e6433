"""Joint limits for planning: URDF position/velocity merged with acceleration/jerk from
`config/joint_limits.yaml` (MoveIt's joint_limits.yaml convention)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from factory_ai import package_root

log = logging.getLogger(__name__)


class JointLimitsError(ValueError):
    """joint_limits.yaml is missing a joint or key, or holds a bad value."""


@dataclass(frozen=True)
class JointLimits:
    """Per-joint limits in the order of `names`; arrays are (n_joints,).

    Units: q in rad (m for prismatic joints), v in rad/s, a in rad/s^2, j in rad/s^3.
    """

    names: tuple[str, ...]
    q_min: np.ndarray
    q_max: np.ndarray
    v_max: np.ndarray
    a_max: np.ndarray
    j_max: np.ndarray
    effort_max: np.ndarray | None = None  # N m (N for prismatic joints), from the URDF

    def __post_init__(self) -> None:
        n = len(self.names)
        for key in ("q_min", "q_max", "v_max", "a_max", "j_max"):
            a = np.asarray(getattr(self, key))
            if a.shape != (n,):
                msg = f"JointLimits.{key} must have shape ({n},), got {a.shape}"
                raise ValueError(msg)
        for key in ("v_max", "a_max", "j_max"):
            bad = np.flatnonzero(~(np.asarray(getattr(self, key)) > 0))
            if bad.size:
                msg = f"JointLimits.{key} must be > 0, got {getattr(self, key)[bad[0]]} for {self.names[bad[0]]}"
                raise ValueError(msg)

    def index(self, names: tuple[str, ...] | list[str]) -> np.ndarray:
        """Positions of `names` in this object's order (raises naming an unknown joint)."""
        lookup = {n: i for i, n in enumerate(self.names)}
        missing = [n for n in names if n not in lookup]
        if missing:
            msg = f"unknown joint(s) {missing}; limits cover {list(self.names)}"
            raise ValueError(msg)
        return np.array([lookup[n] for n in names], dtype=int)


def default_joint_limits_path() -> Path:
    """The joint_limits.yaml shipped with the package."""
    return package_root() / "config" / "joint_limits.yaml"


def _limit(entry: dict[str, Any], joint: str, key: str, flag: str, file: str) -> float | None:
    """Value of `key` if `flag` is true (None if the flag is false or absent)."""
    if not entry.get(flag, False):
        return None
    if key not in entry:
        msg = f"{file}: joint_limits.{joint}.{key} is missing (required because {flag} is true)"
        raise JointLimitsError(msg)
    value = entry[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        msg = f"{file}: joint_limits.{joint}.{key} must be a positive number, got {value!r}"
        raise JointLimitsError(msg)
    return float(value)


def load_joint_limits(urdf_or_model: Any = None, yaml_path: str | Path | None = None) -> JointLimits:
    """Merge the URDF's position/velocity/effort limits with joint_limits.yaml's acceleration/jerk.

    The YAML may tighten position and velocity limits (never loosen them: a looser value is
    ignored with a warning). Acceleration and jerk limits are required for every joint.

    Args:
        urdf_or_model: a `RobotModel`, a URDF path, or a YAML path (then the shipped URDF is
            used); None means the shipped arm.
        yaml_path: joint_limits.yaml; None means the shipped `config/joint_limits.yaml`.

    Raises:
        JointLimitsError: naming the file, joint and key that is missing or bad.
    """
    from factory_ai.robot.model import RobotModel

    if isinstance(urdf_or_model, (str, Path)) and Path(urdf_or_model).suffix in (".yaml", ".yml"):
        urdf_or_model, yaml_path = None, urdf_or_model
    if isinstance(urdf_or_model, RobotModel):
        model = urdf_or_model
    elif urdf_or_model is None:
        model = RobotModel.from_urdf(package_root() / "urdf" / "factory_arm.urdf")
    else:
        model = RobotModel.from_urdf(urdf_or_model)
    path = Path(yaml_path) if yaml_path is not None else default_joint_limits_path()
    file = path.name
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        msg = f"cannot read joint limits {path}: {exc.strerror}"
        raise JointLimitsError(msg) from exc
    except yaml.YAMLError as exc:
        msg = f"{file}: not valid YAML: {exc}"
        raise JointLimitsError(msg) from exc
    if not isinstance(data, dict) or not isinstance(data.get("joint_limits"), dict):
        msg = f"{file}: joint_limits is missing or not a mapping"
        raise JointLimitsError(msg)
    table = data["joint_limits"]
    unknown = sorted(set(table) - set(model.joint_names))
    if unknown:
        msg = f"{file}: joint_limits.{unknown[0]} is not a joint of the arm; joints: {list(model.joint_names)}"
        raise JointLimitsError(msg)

    q_min, q_max = model.q_min_rad.copy(), model.q_max_rad.copy()
    v_max = model.v_max_radps.copy()
    a_max, j_max = np.empty(model.n_joints), np.empty(model.n_joints)
    for i, name in enumerate(model.joint_names):
        entry = table.get(name)
        if not isinstance(entry, dict):
            msg = f"{file}: joint_limits.{name} is missing or not a mapping"
            raise JointLimitsError(msg)
        vel = _limit(entry, name, "max_velocity", "has_velocity_limits", file)
        if vel is not None:
            if vel > v_max[i]:
                log.warning("%s: %s.max_velocity %g exceeds the URDF's %g; using the URDF's", file, name, vel, v_max[i])
            v_max[i] = min(vel, v_max[i])
        pos = _position(entry, name, file)
        if pos is not None:
            if pos[0] < q_min[i] or pos[1] > q_max[i]:
                log.warning("%s: %s position limits %s exceed the URDF's; using the URDF's", file, name, pos)
            q_min[i], q_max[i] = max(pos[0], q_min[i]), min(pos[1], q_max[i])
        acc = _limit(entry, name, "max_acceleration", "has_acceleration_limits", file)
        jerk = _limit(entry, name, "max_jerk", "has_jerk_limits", file)
        if acc is None:
            msg = f"{file}: joint_limits.{name} needs has_acceleration_limits: true and max_acceleration"
            raise JointLimitsError(msg)
        if jerk is None:
            msg = f"{file}: joint_limits.{name} needs has_jerk_limits: true and max_jerk"
            raise JointLimitsError(msg)
        a_max[i], j_max[i] = acc, jerk
    if not np.all(np.isfinite(v_max)):
        bad = model.joint_names[int(np.flatnonzero(~np.isfinite(v_max))[0])]
        msg = f"{file}: {bad} has no velocity limit in the URDF or in joint_limits.{bad}.max_velocity"
        raise JointLimitsError(msg)
    return JointLimits(
        names=model.joint_names,
        q_min=q_min,
        q_max=q_max,
        v_max=v_max,
        a_max=a_max,
        j_max=j_max,
        effort_max=model.effort_max.copy(),
    )


def _position(entry: dict[str, Any], joint: str, file: str) -> tuple[float, float] | None:
    if not entry.get("has_position_limits", False):
        return None
    out = []
    for key in ("min_position", "max_position"):
        value = entry.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            msg = f"{file}: joint_limits.{joint}.{key} must be a number, got {value!r}"
            raise JointLimitsError(msg)
        out.append(float(value))
    if not out[0] < out[1]:
        msg = f"{file}: joint_limits.{joint} needs min_position < max_position, got {out}"
        raise JointLimitsError(msg)
    return out[0], out[1]
