"""A complete MoveIt 2 (Jazzy) config for one arm, generated without a GUI and reproducibly.

`generate_config(SetupOptions(...))` returns the text of every file MoveIt Setup Assistant would
write for a single planning group (plus the Pilz pipeline file and a moveit_py file);
`write_config` puts them in a folder. The same options (seed included) give the same bytes, so
the shipped `config/moveit/` is checked by regenerating it.

Files (names as MoveIt's `MoveItConfigsBuilder` expects them):

- `<robot>.srdf`: group `arm` as a chain base -> tip, an end-effector group, named states `ready`
  and `home`, the disabled-collision matrix (see `collisions`);
- `kinematics.yaml`: KDL for the group (Pilz needs an IK solver);
- `joint_limits.yaml`: URDF velocity limits with the acceleration/jerk limits of the project's
  `config/joint_limits.yaml` (one source: the planner reads the same file);
- `moveit_controllers.yaml`: MoveItSimpleControllerManager, FollowJointTrajectory to the
  joint_trajectory_controller of `config/controllers.yaml`;
- `ompl_planning.yaml`, `pilz_industrial_motion_planner_planning.yaml`: the two pipelines;
- `pilz_cartesian_limits.yaml`: Setup Assistant's template values;
- `moveit_py.yaml`: MoveItPy's planning_scene_monitor_options, planning_pipelines and
  plan_request_params (with `pilz_ptp` and `ompl_rrtc` parameter sets).
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from factory_ai.moveit_config.collisions import (
    DisabledCollisions,
    LinkPairSampler,
    compute_disabled_collisions,
    default_position,
)
from factory_ai.moveit_config.srdf import (
    ChainGroup,
    EndEffector,
    GroupState,
    LinkGroup,
    SrdfModel,
    VirtualJoint,
    srdf_xml,
)
from factory_ai.robot.urdf import UrdfTree, parse_urdf

log = logging.getLogger(__name__)

KDL_PLUGIN = "kdl_kinematics_plugin/KDLKinematicsPlugin"
PIPELINES = ("ompl", "pilz_industrial_motion_planner")
END_EFFECTOR = "end_effector"
# Setup Assistant's moveit_setup_framework/templates/config/pilz_cartesian_limits.yaml.
PILZ_CARTESIAN_LIMITS = {"max_trans_vel": 1.0, "max_trans_acc": 2.25, "max_trans_dec": -5.0, "max_rot_vel": 1.57}
# Setup Assistant's defaults for trajectory execution (moveit_controllers.yaml).
EXECUTION_DURATION_SCALING = 1.2
START_TOLERANCE_RAD = 0.01


@dataclass(frozen=True)
class SetupOptions:
    """What `factory-ai moveit-setup` takes.

    Attributes:
        urdf_path: the robot's URDF.
        group: planning group name.
        tip_link: last link of the group's chain (the tool centre point).
        base_link: first link of the chain; None = the cell's base frame if the URDF has it,
            else the URDF root.
        samples: random states for the "Never" collision phase.
        seed: seed of every random draw.
        never_margin_m: clearance a "Never" pair keeps in every sample (m).
        cell_path: cell description (ready pose of our arm); None = the package's.
        controllers_path: ros2_control controllers YAML; None = the package's.
        joint_limits_path: acceleration/jerk limits; None = the package's.
        ready_q_rad: explicit `ready` state (group joint order); None = the cell's for our
            arm, else the collision-free state nearest mid-range.
    """

    urdf_path: Path
    group: str = "arm"
    tip_link: str = "suction_cup"
    base_link: str | None = None
    samples: int = 10_000
    seed: int = 0
    never_margin_m: float = 0.005
    cell_path: Path | None = None
    controllers_path: Path | None = None
    joint_limits_path: Path | None = None
    ready_q_rad: tuple[float, ...] | None = None


@dataclass(frozen=True)
class GeneratedConfig:
    """File name -> text, plus what the generator decided (for the CLI's summary and tests)."""

    files: dict[str, str]
    srdf_name: str
    robot_name: str
    group: str
    base_link: str
    tip_link: str
    joint_names: tuple[str, ...]
    controller_name: str
    collisions: DisabledCollisions
    notes: tuple[str, ...] = field(default_factory=tuple)


def _package_file(*parts: str) -> Path:
    from factory_ai import package_root

    return package_root().joinpath(*parts)


def _yaml(data: dict[str, Any], header: str) -> str:
    body = yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=100)
    return "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines()) + body


def _chain_joints(tree: UrdfTree, base: str, tip: str) -> tuple[str, ...]:
    """Movable joints on the path base -> tip, base side first (mimic joints refused)."""
    path = tree.path_joints(base, tip)
    joints = [j for j in path if j.movable]
    if not joints:
        msg = f"no movable joint between {base!r} and {tip!r} in URDF {tree.name!r}"
        raise ValueError(msg)
    mimic = [j.name for j in joints if j.mimic is not None]
    if mimic:
        msg = f"joints {mimic} on the chain {base!r} -> {tip!r} are mimic joints; a planning chain cannot hold them"
        raise ValueError(msg)
    return tuple(j.name for j in joints)


def _subtree(tree: UrdfTree, link: str) -> list[str]:
    out, stack = [], [link]
    while stack:
        cur = stack.pop(0)
        out.append(cur)
        stack += [j.child for j in tree.joints if j.parent == cur]
    return out


# --------------------------------------------------------------------------------------------
# Named states
# --------------------------------------------------------------------------------------------


def _home(tree: UrdfTree, joints: tuple[str, ...]) -> np.ndarray:
    """MoveIt's default state for the group: 0, or mid-range when 0 is out of the limits."""
    by_name = {j.name: j for j in tree.joints}
    return np.array([default_position(by_name[n].lower, by_name[n].upper) for n in joints])


def _self_collision_free(sampler: LinkPairSampler, disabled: set[tuple[str, str]], q_full: np.ndarray) -> np.ndarray:
    """(B,) True where no enabled link pair touches (q_full in the sampler's joint order)."""
    d = sampler.pair_distances(q_full)
    enabled = np.array([p not in disabled for p in sampler.pairs], dtype=bool)
    return ~np.any((d < 0.0) & enabled, axis=1) if enabled.any() else np.ones(len(q_full), dtype=bool)


def _default_ready(
    tree: UrdfTree, joints: tuple[str, ...], sampler: LinkPairSampler, disabled: set[tuple[str, str]], seed: int
) -> np.ndarray:
    """Mid-range of every group joint if it is free of self-collision, else the nearest free
    state among seeded random ones (distance in range-normalised joint space)."""
    by_name = {j.name: j for j in tree.joints}
    lo = np.array([by_name[n].lower if math.isfinite(by_name[n].lower) else -math.pi for n in joints])
    hi = np.array([by_name[n].upper if math.isfinite(by_name[n].upper) else math.pi for n in joints])
    mid = np.round(0.5 * (lo + hi), 4)
    idx = [sampler.joint_names.index(n) for n in joints]
    base = sampler.q_default.copy()
    rng = np.random.default_rng(seed + 1)
    candidates = np.vstack([mid, rng.uniform(lo, hi, size=(4000, len(joints)))])
    q_full = np.repeat(base[None], len(candidates), axis=0)
    q_full[:, idx] = candidates
    free = _self_collision_free(sampler, disabled, q_full)
    if free[0]:
        return mid
    if not free.any():
        msg = "no self-collision-free state found for 'ready'; pass ready_q_rad"
        raise ValueError(msg)
    dist = np.linalg.norm((candidates - mid) / (hi - lo), axis=1)
    dist[~free] = np.inf
    return np.round(candidates[int(np.argmin(dist))], 4)


def _cell_ready(options: SetupOptions, tree: UrdfTree, joints: tuple[str, ...]) -> np.ndarray | None:
    """The cell description's ready pose when the URDF is the cell's arm (same name and joints)."""
    from factory_ai.config import load_cell_description

    cell = load_cell_description(options.cell_path)
    cell_tree = parse_urdf(cell.arm.urdf_path)
    if cell_tree.name != tree.name:
        return None
    try:
        cell_joints = _chain_joints(cell_tree, cell.arm.base_frame, cell.arm.tip_frame)
    except ValueError:
        return None
    if cell_joints != joints or len(cell.arm.ready_q_rad) != len(joints):
        return None
    return np.asarray(cell.arm.ready_q_rad, dtype=float)


# --------------------------------------------------------------------------------------------
# YAML builders
# --------------------------------------------------------------------------------------------


def kinematics_params(group: str) -> dict[str, Any]:
    """kinematics.yaml: KDL (Setup Assistant's default resolution and timeout)."""
    return {
        group: {
            "kinematics_solver": KDL_PLUGIN,
            "kinematics_solver_search_resolution": 0.005,
            "kinematics_solver_timeout": 0.005,
        }
    }


def joint_limits_params(tree: UrdfTree, limits_path: Path) -> tuple[dict[str, Any], list[str]]:
    """joint_limits.yaml for every movable, non-mimic joint of the URDF.

    Velocity: the smaller of the URDF's and the source file's. Acceleration, jerk and position
    overrides: copied from the source file (the one the planner reads). Joints the source does
    not cover get Setup Assistant's entry (no acceleration limit) and a note.
    """
    source = yaml.safe_load(limits_path.read_text()) or {}
    table = source.get("joint_limits") or {}
    notes: list[str] = []
    out: dict[str, Any] = {
        "default_velocity_scaling_factor": float(source.get("default_velocity_scaling_factor", 0.1)),
        "default_acceleration_scaling_factor": float(source.get("default_acceleration_scaling_factor", 0.1)),
        "joint_limits": {},
    }
    for j in tree.joints:
        if not j.movable or j.mimic is not None:
            continue
        entry = table.get(j.name) or {}
        v = j.velocity
        if entry.get("has_velocity_limits") and "max_velocity" in entry:
            v = min(v, float(entry["max_velocity"]))
        row: dict[str, Any] = {}
        if entry.get("has_position_limits"):
            row.update(
                has_position_limits=True,
                min_position=float(entry["min_position"]),
                max_position=float(entry["max_position"]),
            )
        row.update(has_velocity_limits=math.isfinite(v), max_velocity=float(v) if math.isfinite(v) else 0.0)
        if entry.get("has_acceleration_limits"):
            row.update(has_acceleration_limits=True, max_acceleration=float(entry["max_acceleration"]))
        else:
            row.update(has_acceleration_limits=False, max_acceleration=0.0)
            notes.append(f"{j.name}: no acceleration limit in {limits_path.name}; Pilz and TOTG need one")
        if entry.get("has_jerk_limits"):
            row.update(has_jerk_limits=True, max_jerk=float(entry["max_jerk"]))
        out["joint_limits"][j.name] = row
    return out, notes


def trajectory_controller(controllers_path: Path, joints: tuple[str, ...]) -> tuple[str, float, list[str]]:
    """Name and goal-time tolerance (s) of the joint trajectory controller in a ros2_control YAML."""
    data = yaml.safe_load(controllers_path.read_text()) or {}
    manager = (data.get("controller_manager") or {}).get("ros__parameters") or {}
    names = [
        n for n, v in manager.items() if isinstance(v, dict) and "JointTrajectoryController" in str(v.get("type", ""))
    ]
    if not names:
        msg = f"{controllers_path.name}: no joint_trajectory_controller/JointTrajectoryController under controller_manager"
        raise ValueError(msg)
    notes = []
    for name in names:
        params = (data.get(name) or {}).get("ros__parameters") or {}
        if tuple(params.get("joints") or ()) == joints:
            goal_time = float((params.get("constraints") or {}).get("goal_time", 0.5))
            return name, goal_time, notes
    notes.append(f"{controllers_path.name}: controller {names[0]!r} lists other joints; MoveIt will send it {list(joints)}")
    params = (data.get(names[0]) or {}).get("ros__parameters") or {}
    return names[0], float((params.get("constraints") or {}).get("goal_time", 0.5)), notes


def moveit_controllers_params(controller: str, joints: tuple[str, ...], goal_time_s: float) -> dict[str, Any]:
    """moveit_controllers.yaml: FollowJointTrajectory to the ros2_control controller."""
    return {
        "moveit_controller_manager": "moveit_simple_controller_manager/MoveItSimpleControllerManager",
        "moveit_simple_controller_manager": {
            "controller_names": [controller],
            controller: {
                "type": "FollowJointTrajectory",
                "action_ns": "follow_joint_trajectory",
                "default": True,
                "joints": list(joints),
            },
        },
        "trajectory_execution": {
            "allowed_execution_duration_scaling": EXECUTION_DURATION_SCALING,
            "allowed_goal_duration_margin": goal_time_s,
            "allowed_start_tolerance": START_TOLERANCE_RAD,
            "execution_duration_monitoring": True,
        },
    }


_REQUEST_ADAPTERS = [
    "default_planning_request_adapters/ResolveConstraintFrames",
    "default_planning_request_adapters/ValidateWorkspaceBounds",
    "default_planning_request_adapters/CheckStartStateBounds",
    "default_planning_request_adapters/CheckStartStateCollision",
]

# OMPL planner configs (moveit_configs_utils default_configs/ompl_defaults.yaml values).
_OMPL_PLANNERS: dict[str, dict[str, Any]] = {
    "RRTConnectkConfigDefault": {"type": "geometric::RRTConnect", "range": 0.0},
    "RRTkConfigDefault": {"type": "geometric::RRT", "range": 0.0, "goal_bias": 0.05},
    "RRTstarkConfigDefault": {"type": "geometric::RRTstar", "range": 0.0, "goal_bias": 0.05, "delay_collision_checking": 1},
    "TRRTkConfigDefault": {"type": "geometric::TRRT", "range": 0.0, "goal_bias": 0.05},
    "BiTRRTkConfigDefault": {"type": "geometric::BiTRRT", "range": 0.0},
    "PRMkConfigDefault": {"type": "geometric::PRM", "max_nearest_neighbors": 10},
    "PRMstarkConfigDefault": {"type": "geometric::PRMstar"},
    "ESTkConfigDefault": {"type": "geometric::EST", "range": 0.0, "goal_bias": 0.05},
    "SBLkConfigDefault": {"type": "geometric::SBL", "range": 0.0},
    "KPIECEkConfigDefault": {
        "type": "geometric::KPIECE",
        "range": 0.0,
        "goal_bias": 0.05,
        "border_fraction": 0.9,
        "failed_expansion_score_factor": 0.5,
        "min_valid_path_fraction": 0.5,
    },
    "BKPIECEkConfigDefault": {
        "type": "geometric::BKPIECE",
        "range": 0.0,
        "border_fraction": 0.9,
        "failed_expansion_score_factor": 0.5,
        "min_valid_path_fraction": 0.5,
    },
    "LBKPIECEkConfigDefault": {
        "type": "geometric::LBKPIECE",
        "range": 0.0,
        "border_fraction": 0.9,
        "min_valid_path_fraction": 0.5,
    },
}


def ompl_params(group: str, joints: tuple[str, ...]) -> dict[str, Any]:
    """ompl_planning.yaml (Jazzy: planning_plugins, request/response adapters, planner configs)."""
    return {
        "planning_plugins": ["ompl_interface/OMPLPlanner"],
        "request_adapters": list(_REQUEST_ADAPTERS),
        "response_adapters": [
            "default_planning_response_adapters/AddTimeOptimalParameterization",
            "default_planning_response_adapters/ValidateSolution",
            "default_planning_response_adapters/DisplayMotionPath",
        ],
        "planner_configs": {k: dict(v) for k, v in _OMPL_PLANNERS.items()},
        group: {
            "default_planner_config": "RRTConnectkConfigDefault",
            "planner_configs": list(_OMPL_PLANNERS),
            # KPIECE-type planners project onto the first two joints (Setup Assistant's choice).
            "projection_evaluator": f"joints({','.join(joints[:2])})",
            "longest_valid_segment_fraction": 0.005,
        },
    }


def pilz_pipeline_params() -> dict[str, Any]:
    """pilz_industrial_motion_planner_planning.yaml (moveit_configs_utils' default)."""
    return {
        "planning_plugins": ["pilz_industrial_motion_planner/CommandPlanner"],
        "default_planner_config": "PTP",
        "request_adapters": list(_REQUEST_ADAPTERS),
        "response_adapters": [
            "default_planning_response_adapters/ValidateSolution",
            "default_planning_response_adapters/DisplayMotionPath",
        ],
        "capabilities": "pilz_industrial_motion_planner/MoveGroupSequenceAction "
        "pilz_industrial_motion_planner/MoveGroupSequenceService",
    }


def moveit_py_params(velocity_scaling: float, acceleration_scaling: float) -> dict[str, Any]:
    """moveit_py.yaml: what MoveItPy (moveit_cpp) reads besides the robot description.

    Jazzy's MoveItCpp reads only `name`, `robot_description` and
    `wait_for_initial_state_timeout` of planning_scene_monitor_options; its topics are fixed
    (joint_states, planning_scene, collision_object, monitored_planning_scene, relative to the
    node's namespace).
    """

    def request(pipeline: str, planner: str, time_s: float) -> dict[str, Any]:
        return {
            "plan_request_params": {
                "planning_attempts": 1,
                "planning_pipeline": pipeline,
                "planner_id": planner,
                "planning_time": time_s,
                "max_velocity_scaling_factor": velocity_scaling,
                "max_acceleration_scaling_factor": acceleration_scaling,
            }
        }

    return {
        "planning_scene_monitor_options": {
            "name": "planning_scene_monitor",
            "robot_description": "robot_description",
            "wait_for_initial_state_timeout": 10.0,
        },
        "planning_pipelines": {"pipeline_names": list(PIPELINES)},
        **request("pilz_industrial_motion_planner", "PTP", 1.0),
        "pilz_ptp": request("pilz_industrial_motion_planner", "PTP", 1.0),
        "ompl_rrtc": request("ompl", "RRTConnectkConfigDefault", 2.0),
    }


# --------------------------------------------------------------------------------------------
# The whole config
# --------------------------------------------------------------------------------------------


def generate_config(options: SetupOptions) -> GeneratedConfig:
    """Every file of the MoveIt config for `options`, as text (nothing is written)."""
    urdf_path = Path(options.urdf_path)
    tree = parse_urdf(urdf_path)
    base = options.base_link
    if base is None:
        from factory_ai.config import load_cell_description

        cell_base = load_cell_description(options.cell_path).arm.base_frame
        base = cell_base if cell_base in tree.links else tree.root
    joints = _chain_joints(tree, base, options.tip_link)
    notes: list[str] = []

    sampler = LinkPairSampler(urdf_path)
    collisions = compute_disabled_collisions(
        urdf_path, options.samples, options.seed, never_margin_m=options.never_margin_m, sampler=sampler
    )
    disabled = set(collisions.disabled)
    home = _home(tree, joints)
    if options.ready_q_rad is not None:
        ready = np.asarray(options.ready_q_rad, dtype=float)
        if ready.shape != (len(joints),):
            msg = f"ready_q_rad needs {len(joints)} values for {list(joints)}, got {len(ready)}"
            raise ValueError(msg)
    else:
        ready = _cell_ready(options, tree, joints)
        if ready is None:
            ready = _default_ready(tree, joints, sampler, disabled, options.seed)
            notes.append(f"'ready' is not from the cell description: {np.round(ready, 4).tolist()}")

    ee_links = tuple(_subtree(tree, options.tip_link))
    srdf = SrdfModel(
        robot_name=tree.name,
        chain_groups=(ChainGroup(options.group, base, options.tip_link),),
        link_groups=(LinkGroup(END_EFFECTOR, ee_links),),
        group_states=(
            GroupState("ready", options.group, tuple(zip(joints, map(float, ready)))),
            GroupState("home", options.group, tuple(zip(joints, map(float, home)))),
        ),
        end_effectors=(EndEffector(END_EFFECTOR, options.tip_link, END_EFFECTOR, options.group),),
        # A URDF whose root is not "world" gets Setup Assistant's fixed virtual joint to it.
        virtual_joints=() if tree.root == "world" else (VirtualJoint("virtual_joint", "fixed", "world", tree.root),),
        disabled_collisions=collisions.disabled,
    )
    counts = ", ".join(f"{r} {collisions.count(r)}" for r in ("Adjacent", "Default", "Always", "Never"))
    provenance = (
        f"Generated by `factory-ai moveit-setup` from {urdf_path.name}: group {options.group!r} "
        f"{base} -> {options.tip_link}, {options.samples} samples, seed {options.seed}, "
        f"never margin {options.never_margin_m} m. Regenerate instead of editing."
    )
    srdf_comment = f"{provenance}\n    Disabled pairs: {counts}."

    limits_path = Path(options.joint_limits_path or _package_file("config", "joint_limits.yaml"))
    limits, limit_notes = joint_limits_params(tree, limits_path)
    notes += limit_notes
    controllers_path = Path(options.controllers_path or _package_file("config", "controllers.yaml"))
    controller, goal_time_s, ctrl_notes = trajectory_controller(controllers_path, joints)
    notes += ctrl_notes

    header = provenance
    files = {
        f"{tree.name}.srdf": srdf_xml(srdf, srdf_comment),
        "kinematics.yaml": _yaml(kinematics_params(options.group), header),
        "joint_limits.yaml": _yaml(
            limits,
            header + f"\nAcceleration and jerk limits: {limits_path.name} (the planner's source). "
            "Units: rad, rad/s, rad/s^2, rad/s^3.",
        ),
        "moveit_controllers.yaml": _yaml(
            moveit_controllers_params(controller, joints, goal_time_s),
            header + f"\nController: {controllers_path.name}. Durations in s, tolerances in rad.",
        ),
        "ompl_planning.yaml": _yaml(ompl_params(options.group, joints), header),
        "pilz_industrial_motion_planner_planning.yaml": _yaml(pilz_pipeline_params(), header),
        "pilz_cartesian_limits.yaml": _yaml(
            {"cartesian_limits": dict(PILZ_CARTESIAN_LIMITS)},
            header + "\nSetup Assistant's template values. Units: m/s, m/s^2, rad/s.",
        ),
        "moveit_py.yaml": _yaml(
            moveit_py_params(limits["default_velocity_scaling_factor"], limits["default_acceleration_scaling_factor"]),
            header + "\nMoveItPy parameters; wait_for_initial_state_timeout in s, planning_time in s.",
        ),
    }
    for note in notes:
        log.warning("%s", note)
    return GeneratedConfig(
        files=files,
        srdf_name=f"{tree.name}.srdf",
        robot_name=tree.name,
        group=options.group,
        base_link=base,
        tip_link=options.tip_link,
        joint_names=joints,
        controller_name=controller,
        collisions=collisions,
        notes=tuple(notes),
    )


def write_config(config: GeneratedConfig, out_dir: Path) -> list[Path]:
    """Write every file atomically (temp file + os.replace) into `out_dir`; returns the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in config.files.items():
        path = out_dir / name
        fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=f".{name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        written.append(path)
    return written
