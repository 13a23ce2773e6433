"""Shared pieces of the digital-twin tests: a twin without the automatic spawner, scripted motions."""

from __future__ import annotations

import dataclasses

from factory_ai.sim import SimConfig
from factory_ai.sim.scripted import cup_down_ik, min_jerk_trajectory

__all__ = ["cup_down_ik", "min_jerk_trajectory", "quiet_config"]


def quiet_config(**overrides: object) -> SimConfig:
    """A SimConfig with an empty belt and no spawner (tests place their own parts)."""
    return dataclasses.replace(SimConfig(spawn_enabled=False, prefill_belt=False), **overrides)
