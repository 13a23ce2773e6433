"""Contact gating of the vacuum cup: does the cup lip sit on a part?"""

from __future__ import annotations

import numpy as np

from factory_ai.sim.types import SuctionConfig


def suction_seal(p_world_cup: np.ndarray, z_world_cup: np.ndarray, p_world_parts: np.ndarray,
                 R_world_parts: np.ndarray, top_z_part_m: np.ndarray,
                 config: SuctionConfig) -> tuple[np.ndarray, np.ndarray]:
    """Which parts the cup would seal on, and how far off-centre it is.

    Args:
        p_world_cup: (3,) cup lip centre (the `suction_cup` frame origin).
        z_world_cup: (3,) cup axis (z of `suction_cup`, pointing out of the cup).
        p_world_parts: (M, 3) part frame origins (centroid on the bottom face).
        R_world_parts: (M, 3, 3) part orientations.
        top_z_part_m: (M,) height of each part's top face in its frame.
        config: gating thresholds.

    Returns:
        ok (M,) bool, lateral offset (M,) in metres.
    """
    n = R_world_parts[:, :, 2]
    p_top = p_world_parts + n * top_z_part_m[:, None]
    rel = p_world_cup[None, :] - p_top
    gap = np.einsum("ij,ij->i", rel, n)
    lateral = np.linalg.norm(rel - gap[:, None] * n, axis=1)
    cos_tilt = np.clip(-(n @ z_world_cup), -1.0, 1.0)
    ok = (
        (gap <= config.max_gap_m)
        & (gap >= -config.max_press_m)
        & (lateral <= config.max_offset_m)
        & (cos_tilt >= np.cos(config.max_tilt_rad))
    )
    return ok, lateral
