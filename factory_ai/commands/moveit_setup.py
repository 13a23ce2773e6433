"""Generate a MoveIt 2 config (SRDF, kinematics, limits, controllers, pipelines) for an arm.

Does what MoveIt Setup Assistant does for one planning group, without a GUI and reproducibly:
the same URDF, options and seed give the same files. The package's own `config/moveit/` is

    factory-ai moveit-setup --urdf urdf/factory_arm.urdf --group arm --tip suction_cup --out config/moveit
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

HELP = "Generate a MoveIt 2 config (SRDF with sampled collision matrix, YAML files) for an arm."

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `factory-ai moveit-setup`."""
    parser.add_argument("--urdf", type=Path, required=True, help="robot URDF (plain URDF, not xacro)")
    parser.add_argument("--group", default="arm", help="planning group name (default: arm)")
    parser.add_argument("--tip", default="suction_cup", help="tip link of the group's chain (default: suction_cup)")
    parser.add_argument(
        "--base", default=None, help="base link of the chain (default: the cell's base frame if present, else the URDF root)"
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder (created; files replaced)")
    parser.add_argument(
        "--samples", type=int, default=10_000, help="random states for the 'Never' collision phase (default: 10000)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of every random draw (default: 0)")
    parser.add_argument(
        "--never-margin-m", type=float, default=0.005,
        help="clearance (m) a pair keeps in every sample to be disabled as 'Never' (default: 0.005)",
    )  # fmt: skip
    parser.add_argument("--cell", type=Path, default=None, help="cell description (default: the package's)")
    parser.add_argument("--controllers", type=Path, default=None, help="ros2_control YAML (default: the package's)")
    parser.add_argument(
        "--joint-limits", type=Path, default=None, help="acceleration/jerk limits YAML (default: the package's)"
    )
    parser.add_argument(
        "--ready", type=float, nargs="+", default=None, metavar="Q_RAD",
        help="the 'ready' state in group joint order (default: the cell's for our arm, else mid-range)",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Generate, write and summarise the config."""
    from factory_ai.moveit_config import SetupOptions, generate_config, write_config

    options = SetupOptions(
        urdf_path=args.urdf,
        group=args.group,
        tip_link=args.tip,
        base_link=args.base,
        samples=args.samples,
        seed=args.seed,
        never_margin_m=args.never_margin_m,
        cell_path=args.cell,
        controllers_path=args.controllers,
        joint_limits_path=args.joint_limits,
        ready_q_rad=tuple(args.ready) if args.ready else None,
    )
    try:
        config = generate_config(options)
    except (ValueError, FileNotFoundError, KeyError) as exc:
        log.error("moveit-setup: %s", exc)
        return 2
    paths = write_config(config, args.out)
    c = config.collisions
    print(f"MoveIt config for {config.robot_name!r} in {args.out}:")
    print(f"  group {config.group!r}: chain {config.base_link} -> {config.tip_link}, joints {list(config.joint_names)}")
    print(f"  controller: {config.controller_name} (FollowJointTrajectory)")
    print(
        f"  disabled collisions ({c.samples} samples, seed {c.seed}): "
        + ", ".join(f"{r} {c.count(r)}" for r in ("Adjacent", "Default", "Always", "Never"))
        + f" of {len(c.links) * (len(c.links) - 1) // 2} pairs"
    )
    for note in config.notes:
        print(f"  note: {note}")
    for p in paths:
        print(f"  wrote {p}")
    return 0
