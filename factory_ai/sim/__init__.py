"""Sim: the MuJoCo digital twin of the cell (physics, camera, suction, controller). Imports no other concern.

`CellSim` is the entry point; the data types live in `factory_ai.sim.types` (importable
without MuJoCo), the procedural parts and defects in `factory_ai.sim.parts`.
"""

from factory_ai.sim.types import (
    CameraFrame,
    CameraRealism,
    PartEvent,
    PartEventKind,
    PartShape,
    PartTruth,
    PhysicsError,
    SimConfig,
    SuctionConfig,
    SuctionState,
    TrajectoryError,
)

__all__ = [
    "CameraFrame",
    "CameraRealism",
    "CellSim",
    "default_sim",
    "PartEvent",
    "PartEventKind",
    "PartShape",
    "PartTruth",
    "PhysicsError",
    "SimConfig",
    "SuctionConfig",
    "SuctionState",
    "TrajectoryError",
]


def __getattr__(name: str):
    # CellSim pulls in MuJoCo; import it on first use so the types stay cheap to import.
    if name in ("CellSim", "default_sim"):
        from factory_ai.sim import cell_sim

        return getattr(cell_sim, name)
    msg = f"module 'factory_ai.sim' has no attribute {name!r}"
    raise AttributeError(msg)
