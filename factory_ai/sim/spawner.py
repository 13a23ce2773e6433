"""Seeded part spawner: what comes down the belt, where, and how far apart."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from factory_ai.sim.parts import PartAppearance, draw_part_appearance, shape_geometry
from factory_ai.sim.types import PartShape, SimConfig
from factory_ai.types import DefectType


@dataclass(frozen=True)
class SpawnRequest:
    """One part to put on the belt.

    Attributes:
        xy_belt_m: (2,) position of the part origin in the belt surface frame.
        yaw_rad: rotation about the belt's z axis.
        appearance: surface and flaw (its shape, defect type and severity included).
    """

    xy_belt_m: np.ndarray
    yaw_rad: float
    appearance: PartAppearance

    @property
    def shape(self) -> PartShape:
        return self.appearance.shape


class PartSpawner:
    """Decides the parts fed at the upstream end of the belt; every draw uses its own generator."""

    def __init__(self, config: SimConfig, belt_length_m: float, belt_width_m: float,
                 rng: np.random.Generator) -> None:
        self.config = config
        self.length_m = belt_length_m
        self.width_m = belt_width_m
        self.rng = rng
        self.entry_x_m = -belt_length_m / 2.0 + 0.10  # room to push a part upstream of a neighbour
        self._last: tuple[np.ndarray, float] | None = None  # previous part: xy, radius (at spawn)

    def next_gap_m(self) -> float:
        """Belt travel until the next spawn (close pairs included)."""
        lo, hi = self.config.spawn_gap_m
        if self.rng.random() < self.config.close_pair_prob:
            return float(self.rng.uniform(0.045, 0.065))  # almost touching the previous part
        return float(self.rng.uniform(lo, hi))

    def request(self, x_belt_m: float, previous_xy_belt_m: np.ndarray | None = None) -> SpawnRequest:
        """A new part at belt position x; lateral position chosen to clear the previous part.

        Args:
            x_belt_m: where along the belt the part goes (belt frame).
            previous_xy_belt_m: (2,) current position of the previously spawned part, if any.
        """
        cfg = self.config
        shape = PartShape(cfg.shapes[int(self.rng.integers(len(cfg.shapes)))])
        defective = self.rng.random() < cfg.defect_rate
        if defective:
            defect_type = DefectType(cfg.defect_types[int(self.rng.integers(len(cfg.defect_types)))])
            severity = float(self.rng.uniform(*cfg.severity_range))
        else:
            defect_type, severity = DefectType.OK, 0.0
        appearance = draw_part_appearance(self.rng, shape, defect_type, severity)
        r = shape_geometry(shape).radius_m
        y_max = max(0.0, self.width_m / 2.0 - r - 0.004)
        yaw = float(self.rng.uniform(-np.pi, np.pi))
        y = float(self.rng.uniform(-y_max, y_max))
        if previous_xy_belt_m is not None and self._last is not None:
            r_prev = self._last[1]
            for _ in range(20):  # keep clear of the previous part (2 mm)
                if np.hypot(x_belt_m - previous_xy_belt_m[0], y - previous_xy_belt_m[1]) >= r + r_prev + 0.002:
                    break
                y = float(self.rng.uniform(-y_max, y_max))
            else:
                # No lateral room: push it upstream just enough (it then enters slightly later).
                dy = y - previous_xy_belt_m[1]
                need = np.sqrt(max(0.0, (r + r_prev + 0.002) ** 2 - dy**2))
                x_belt_m = float(previous_xy_belt_m[0] - need)
        self._last = (np.array([x_belt_m, y]), r)
        return SpawnRequest(np.array([x_belt_m, y]), yaw, appearance)
