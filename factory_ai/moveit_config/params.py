"""ROS parameters from a generated MoveIt config folder, as plain dicts (no ROS import).

`moveit_py_params` gives what `MoveItPy(config_dict=...)` needs (the same keys as
`MoveItConfigsBuilder(...).moveit_cpp(...).to_moveit_configs().to_dict()`);
`planning_pipeline_params` gives move_group's pipeline parameters for a launch file, since
`MoveItConfigsBuilder.planning_pipelines()` only looks in `<package>/config/`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from factory_ai.moveit_config.generate import PIPELINES


def _load(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        msg = f"cannot read MoveIt config file {path}: {exc.strerror}"
        raise FileNotFoundError(msg) from exc
    if not isinstance(data, dict):
        msg = f"{path.name}: top level must be a mapping"
        raise ValueError(msg)
    return data


def srdf_path(config_dir: Path) -> Path:
    """The one .srdf file of a config folder (ValueError if there is none or several)."""
    found = sorted(Path(config_dir).glob("*.srdf"))
    if len(found) != 1:
        msg = f"{config_dir}: expected one .srdf file, found {[p.name for p in found]}"
        raise ValueError(msg)
    return found[0]


def planning_pipeline_params(config_dir: Path, pipelines: tuple[str, ...] = PIPELINES) -> dict[str, Any]:
    """move_group's `planning_pipelines`, `default_planning_pipeline` and one block per pipeline."""
    config_dir = Path(config_dir)
    out: dict[str, Any] = {"planning_pipelines": list(pipelines), "default_planning_pipeline": pipelines[0]}
    for name in pipelines:
        out[name] = _load(config_dir / f"{name}_planning.yaml")
    return out


def moveit_py_params(config_dir: Path, urdf_path: Path) -> dict[str, Any]:
    """Every parameter MoveItPy needs, from a config folder written by `factory-ai moveit-setup`.

    Args:
        config_dir: the folder (e.g. the package's `config/moveit`).
        urdf_path: the robot's URDF (plain URDF; xacro is not expanded here).
    """
    config_dir = Path(config_dir)
    moveit_py = _load(config_dir / "moveit_py.yaml")
    planning = _load(config_dir / "joint_limits.yaml")
    planning.update(_load(config_dir / "pilz_cartesian_limits.yaml"))
    params: dict[str, Any] = {
        "robot_description": Path(urdf_path).read_text(),
        "robot_description_semantic": srdf_path(config_dir).read_text(),
        "robot_description_kinematics": _load(config_dir / "kinematics.yaml"),
        "robot_description_planning": planning,
        "moveit_manage_controllers": False,
    }
    params.update(_load(config_dir / "moveit_controllers.yaml"))
    pipelines = planning_pipeline_params(config_dir, tuple(moveit_py["planning_pipelines"]["pipeline_names"]))
    for name in pipelines["planning_pipelines"]:
        params[name] = pipelines[name]
    params.update(moveit_py)  # MoveItPy's `planning_pipelines: {pipeline_names: [...]}` form
    return params
