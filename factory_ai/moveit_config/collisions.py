"""The SRDF's disabled-collision matrix, computed by sampling like MoveIt Setup Assistant does.

Setup Assistant (moveit_setup_srdf_plugins/compute_default_collisions.cpp) disables a link pair
for one of four reasons, in this order:

1. Adjacent: the links are joined by a joint, or by a chain of links without collision geometry.
2. Default: the pair collides in the default state (each joint at 0, or mid-range if 0 is out of
   its limits).
3. Always: in rounds of 200 random states, the pair collides in more than 95 % of them (rounds
   repeat until one disables nothing new).
4. Never: over N random states (Setup Assistant's default: 10,000) the pair never collides.

Collisions here are the project's collision model (`factory_ai.planning.collision`): URDF
cylinders as capsules, boxes as capsules around them. Both are supersets of the shapes MoveIt
checks, so a pair never seen touching here never touches in MoveIt for the same states. "Never"
additionally demands a clearance of `never_margin_m` in every sample: a sampled "never" is a
statistical claim, and a margin catches the pairs that only meet in a thin sliver of the joint
space that N samples can miss.

Adapter notes (the collision model's kinematics handles revolute and fixed joints only): joints
that are prismatic, planar, floating or mimic are frozen at their default value; pairs involving
a link moved by a frozen joint are never disabled as "Never" or "Always" (their motion was not
sampled), only as Adjacent or Default. Links whose collision geometry is a mesh are unknown to
the collision model; their pairs are only disabled when adjacent (logged).
"""

from __future__ import annotations

import logging
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from factory_ai.moveit_config.srdf import ordered_pair
from factory_ai.robot.urdf import UrdfTree, parse_urdf

log = logging.getLogger(__name__)

ALWAYS_ROUND_SAMPLES = 200  # Setup Assistant's SMALL_TRIAL_COUNT
_CHUNK = 2000  # configurations per collision-model call (bounds memory)


@dataclass(frozen=True)
class DisabledCollisions:
    """Result of the sampling: every disabled pair with its reason, and what was measured.

    Attributes:
        disabled: (link1, link2) with link1 < link2 -> "Adjacent" | "Default" | "Always" | "Never".
        links: links with collision geometry (MoveIt's view: any <collision> element).
        modelled_links: links the collision model has geometry for (primitives).
        unsampled_links: links moved by frozen joints (their pairs are never "Never"/"Always").
        samples: random states of the "Never" phase.
        seed: seed of every random draw.
        never_margin_m: clearance a "Never" pair kept in every sample.
        min_clearance_m: smallest distance seen per "Never" pair (m).
    """

    disabled: dict[tuple[str, str], str]
    links: tuple[str, ...]
    modelled_links: tuple[str, ...]
    unsampled_links: tuple[str, ...]
    samples: int
    seed: int
    never_margin_m: float
    min_clearance_m: dict[tuple[str, str], float]

    def count(self, reason: str) -> int:
        return sum(1 for r in self.disabled.values() if r == reason)

    def pairs(self, reason: str) -> list[tuple[str, str]]:
        return sorted(p for p, r in self.disabled.items() if r == reason)


def _urdf_text(urdf: str | Path) -> str:
    text = str(urdf)
    return text if text.lstrip().startswith("<") else Path(urdf).read_text()


def default_position(lower: float, upper: float) -> float:
    """MoveIt's default joint value: 0 if within the limits, else the middle of the range."""
    if not (math.isfinite(lower) and math.isfinite(upper)):
        return 0.0
    return 0.0 if lower <= 0.0 <= upper else 0.5 * (lower + upper)


def links_with_collision(urdf_text: str) -> tuple[str, ...]:
    """Links with at least one <collision> element that has a geometry (URDF order)."""
    root = ET.fromstring(urdf_text)
    out = []
    for link in root.findall("link"):
        for col in link.findall("collision"):
            geom = col.find("geometry")
            if geom is not None and len(geom):
                out.append(link.get("name", ""))
                break
    return tuple(out)


def adjacent_pairs(tree: UrdfTree, geometric: set[str]) -> set[tuple[str, str]]:
    """Setup Assistant's "Adjacent" pairs: joined by a joint, or through links without geometry.

    Builds the link graph (an edge per joint), then makes the neighbours of every link without
    geometry mutually adjacent, repeating until nothing changes; pairs of links with geometry
    that end up connected are adjacent.
    """
    graph: dict[str, set[str]] = {link: set() for link in tree.links}
    for j in tree.joints:
        graph[j.parent].add(j.child)
        graph[j.child].add(j.parent)
    changed = True
    while changed:
        changed = False
        for link in tree.links:
            if link in geometric:
                continue
            nbrs = sorted(graph[link])
            for i, a in enumerate(nbrs):
                for b in nbrs[i + 1 :]:
                    if b not in graph[a]:
                        graph[a].add(b)
                        graph[b].add(a)
                        changed = True
    return {ordered_pair(a, b) for a in geometric for b in graph[a] if b in geometric and a != b}


class LinkPairSampler:
    """Adapter over `planning.collision.CollisionModel` for whole-robot self-collision sampling.

    The collision model is built with the URDF root as its base (so every link counts, not only
    those below the planning group's base) from a copy of the URDF in which joints it cannot
    move (prismatic, planar, floating, mimic) are fixed at their default value.

    Args:
        urdf: URDF path or XML text.
    """

    def __init__(self, urdf: str | Path) -> None:
        from factory_ai.planning.collision import CollisionModel

        text = _urdf_text(urdf)
        self.tree = parse_urdf(text)
        self.links_with_geometry = links_with_collision(text)
        sampled, frozen = [], []
        for j in self.tree.joints:
            if j.type in ("revolute", "continuous") and j.mimic is None:
                sampled.append(j)
            elif j.type != "fixed":
                frozen.append(j)
        self.joint_names = tuple(j.name for j in sampled)
        lo = np.array([j.lower if math.isfinite(j.lower) else -math.pi for j in sampled])
        hi = np.array([j.upper if math.isfinite(j.upper) else math.pi for j in sampled])
        self.q_lo, self.q_hi = lo, hi
        self.q_default = np.array([default_position(j.lower, j.upper) for j in sampled])
        self.unsampled_links = self._below({j.child for j in frozen})
        if frozen:
            log.warning(
                "joints %s are not sampled (prismatic/planar/floating/mimic): held at their default; "
                "pairs with links %s are disabled only when adjacent or colliding by default",
                [j.name for j in frozen],
                sorted(self.unsampled_links),
            )
        self.model = None
        self.link_names: tuple[str, ...] = ()
        if not self.joint_names:
            msg = f"URDF {self.tree.name!r} has no revolute or continuous joint to sample"
            raise ValueError(msg)
        try:
            self.model = CollisionModel.from_urdf(
                _frozen_urdf(text, frozen),
                self.joint_names,
                cell=None,
                base_frame=self.tree.root,
                tip_frame=self.tree.root,
                grasp_links=(),
                grid_voxel_m=0.0,
            )
            self.link_names = self.model.link_names
        except ValueError as exc:  # no primitive geometry at all: adjacency only
            log.warning("collision model unavailable for %r (%s); only adjacent pairs are disabled", self.tree.name, exc)
        missing = sorted(set(self.links_with_geometry) - set(self.link_names))
        if missing:
            log.warning("links %s have collision geometry the collision model does not know (meshes?): "
                        "their pairs are left enabled unless adjacent", missing)
        self.pairs: tuple[tuple[str, str], ...] = tuple(
            ordered_pair(a, b) for a, b in (self.model.link_pairs() if self.model is not None else [])
        )

    def _below(self, roots: set[str]) -> set[str]:
        out, stack = set(), list(roots)
        while stack:
            link = stack.pop()
            if link in out:
                continue
            out.add(link)
            stack += [j.child for j in self.tree.joints if j.parent == link]
        return out

    def random_q(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n, J) uniform random joint values within the limits (continuous joints: [-pi, pi])."""
        return rng.uniform(self.q_lo, self.q_hi, size=(n, len(self.joint_names)))

    def pair_distances(self, q_rad: np.ndarray) -> np.ndarray:
        """(B, P) signed distance of every link pair (columns in `pairs` order), in chunks."""
        q = np.atleast_2d(q_rad)
        if self.model is None or not self.pairs:
            return np.full((q.shape[0], 0), np.inf)
        parts = [self.model.pair_distances(q[i : i + _CHUNK]) for i in range(0, q.shape[0], _CHUNK)]
        return np.concatenate(parts, axis=0)


def _frozen_urdf(text: str, frozen) -> str:
    """The URDF with `frozen` joints turned fixed at their default value (origin moved by it)."""
    if not frozen:
        return text
    root = ET.fromstring(text)
    by_name = {j.name: j for j in frozen}
    for el in root.findall("joint"):
        j = by_name.get(el.get("name", ""))
        if j is None:
            continue
        el.set("type", "fixed")
        value = default_position(j.lower, j.upper)
        if value != 0.0 and j.type in ("prismatic", "revolute", "continuous"):
            R = Rotation.from_euler("xyz", j.origin_rpy)
            xyz, rpy = np.asarray(j.origin_xyz, dtype=float), np.asarray(j.origin_rpy, dtype=float)
            if j.type == "prismatic":
                xyz = xyz + R.apply(j.axis * value)
            else:
                rpy = (R * Rotation.from_rotvec(j.axis * value)).as_euler("xyz")
            origin = el.find("origin")
            if origin is None:
                origin = ET.SubElement(el, "origin")
            origin.set("xyz", " ".join(repr(float(v)) for v in xyz))
            origin.set("rpy", " ".join(repr(float(v)) for v in rpy))
    return ET.tostring(root, encoding="unicode")


def compute_disabled_collisions(
    urdf: str | Path,
    samples: int = 10_000,
    seed: int = 0,
    min_collision_fraction: float = 0.95,
    never_margin_m: float = 0.01,
    sampler: LinkPairSampler | None = None,
) -> DisabledCollisions:
    """Setup Assistant's default collision matrix, computed with the project's collision model.

    Args:
        urdf: URDF path or XML text.
        samples: random states of the "Never" phase (Setup Assistant's default 10,000).
        seed: seed of every random draw (same seed, same matrix).
        min_collision_fraction: "Always" threshold (fraction of a 200-state round).
        never_margin_m: clearance (m) a pair must keep in every sample to count as "Never".
        sampler: a prebuilt sampler for this URDF (tests reuse it).
    """
    if samples < 1:
        msg = f"samples must be >= 1, got {samples}"
        raise ValueError(msg)
    if not 0.0 < min_collision_fraction <= 1.0:
        msg = f"min_collision_fraction must be in (0, 1], got {min_collision_fraction}"
        raise ValueError(msg)
    s = sampler if sampler is not None else LinkPairSampler(urdf)
    rng = np.random.default_rng(seed)
    disabled: dict[tuple[str, str], str] = {}
    for pair in sorted(adjacent_pairs(s.tree, set(s.links_with_geometry))):
        disabled[pair] = "Adjacent"
    pairs = s.pairs
    if pairs:
        d0 = s.pair_distances(s.q_default[None])[0]
        for k in np.flatnonzero(d0 < 0.0):
            disabled.setdefault(pairs[k], "Default")
    # Pairs whose relative motion was sampled (both links modelled, neither moved by a frozen joint).
    sampled = np.array([a not in s.unsampled_links and b not in s.unsampled_links for a, b in pairs], dtype=bool)
    seen = np.zeros(len(pairs), dtype=bool)
    limit = int(ALWAYS_ROUND_SAMPLES * min_collision_fraction)
    while pairs:
        open_ = np.array([p not in disabled for p in pairs], dtype=bool) & sampled
        hits = (s.pair_distances(s.random_q(ALWAYS_ROUND_SAMPLES, rng)) < 0.0) & open_
        seen |= hits.any(axis=0)
        always = np.flatnonzero(hits.sum(axis=0) > limit)
        if always.size == 0:
            break
        for k in always:
            disabled[pairs[k]] = "Always"
    min_clear = np.full(len(pairs), np.inf)
    done = 0
    while done < samples and pairs:
        n = min(_CHUNK, samples - done)
        min_clear = np.minimum(min_clear, s.pair_distances(s.random_q(n, rng)).min(axis=0))
        done += n
    never_clear = {}
    for k, pair in enumerate(pairs):
        if pair in disabled or not sampled[k] or seen[k]:
            continue
        if min_clear[k] >= never_margin_m:
            disabled[pair] = "Never"
            never_clear[pair] = float(min_clear[k])
    return DisabledCollisions(
        disabled=dict(sorted(disabled.items())),
        links=tuple(sorted(s.links_with_geometry)),
        modelled_links=tuple(sorted(s.link_names)),
        unsampled_links=tuple(sorted(s.unsampled_links)),
        samples=int(samples),
        seed=int(seed),
        never_margin_m=float(never_margin_m),
        min_clearance_m=never_clear,
    )
