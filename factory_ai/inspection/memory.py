"""The good-part memory bank: greedy coreset subsampling of feature cells (PatchCore).

Keeping every cell of every good training crop makes the nearest-neighbour search slow; a random
subset leaves holes in feature space, so rare-but-normal cells look anomalous. The greedy
k-center coreset keeps the cells that cover the space: each new pick is the cell farthest from
those already kept. Distances for the selection use a random projection (as PatchCore does),
which preserves them well enough and makes each step a cheap mat-vec.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch

log = logging.getLogger(__name__)


def greedy_coreset(
    cells: torch.Tensor,
    n: int,
    proj_dim: int = 64,
    max_candidates: int = 250_000,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> torch.Tensor:
    """Indices (n,) of a k-center coreset of `cells`.

    Args:
        cells: (N, C) float feature cells.
        n: coreset size; all indices are returned when N <= n.
        proj_dim: random projection dimension for the distance computations.
        max_candidates: a random subset of this many cells is the candidate pool (bounds time).
        seed: seeds the candidate subset, the projection and the first pick.
        progress: called with the number of picks done so far (every 256 picks).
    """
    if cells.ndim != 2 or cells.shape[0] == 0:
        msg = f"greedy_coreset needs a non-empty (N, C) tensor, got shape {tuple(cells.shape)}"
        raise ValueError(msg)
    N, C = cells.shape
    if n >= N:
        return torch.arange(N)
    g = torch.Generator().manual_seed(int(seed))
    pool = torch.randperm(N, generator=g)[:max_candidates] if N > max_candidates else torch.arange(N)
    z = cells[pool].float()
    if C > proj_dim:
        z = z @ (torch.randn(C, proj_dim, generator=g) / proj_dim**0.5)
    sq = (z * z).sum(1)
    first = int(torch.randint(len(z), (1,), generator=g))
    picks = [first]
    min_d2 = sq - 2.0 * (z @ z[first]) + sq[first]
    for k in range(1, n):
        i = int(torch.argmax(min_d2))
        picks.append(i)
        torch.minimum(min_d2, sq - 2.0 * (z @ z[i]) + sq[i], out=min_d2)
        if progress is not None and k % 256 == 0:
            progress(k)
    return pool[torch.tensor(picks)]
