"""Planning: intercept a moving part, jerk-limited collision-free reject trajectories, scheduling.

`RejectPlanner` plans; `FeasibilityChecker` independently checks any joint trajectory;
`CollisionModel` is the project's collision world (URDF link primitives, the cell from
`config/cell.yaml`, run-time obstacles by name).
"""

from factory_ai.planning.checker import CheckerConfig, CheckReport, FeasibilityChecker
from factory_ai.planning.collision import CollisionModel, Obstacle, cell_obstacles
from factory_ai.planning.intercept import PartMotion
from factory_ai.planning.planner import CORRECTION_BOUNDS, Corrections, PlannerConfig, RejectPlanner

__all__ = [
    "CORRECTION_BOUNDS",
    "CheckReport",
    "CheckerConfig",
    "CollisionModel",
    "Corrections",
    "FeasibilityChecker",
    "Obstacle",
    "PartMotion",
    "PlannerConfig",
    "RejectPlanner",
    "cell_obstacles",
]
