"""SRDF (MoveIt's semantic robot description): a small model, a deterministic writer and a reader.

The writer emits what MoveIt Setup Assistant writes for a single-arm robot: a planning group as a
`<chain>`, an end-effector group and `<end_effector>`, named `<group_state>`s, an optional
`<virtual_joint>` and the `<disable_collisions>` matrix with Setup Assistant's reason strings
("Adjacent", "Default", "Always", "Never", "User"). Pairs are written with link1 < link2 and in
sorted order, as Setup Assistant does, so the same inputs always give the same bytes.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import quoteattr

REASONS = ("Adjacent", "Default", "Always", "Never", "User")


class SrdfError(ValueError):
    """The SRDF is malformed or refers to something that does not exist."""


@dataclass(frozen=True)
class ChainGroup:
    """A planning group defined by a kinematic chain base_link -> tip_link."""

    name: str
    base_link: str
    tip_link: str


@dataclass(frozen=True)
class LinkGroup:
    """A group defined by a list of links (used for the end effector)."""

    name: str
    links: tuple[str, ...]


@dataclass(frozen=True)
class GroupState:
    """A named joint configuration of a group (rad / m)."""

    name: str
    group: str
    values: tuple[tuple[str, float], ...]

    def as_dict(self) -> dict[str, float]:
        return dict(self.values)


@dataclass(frozen=True)
class EndEffector:
    name: str
    parent_link: str
    group: str
    parent_group: str


@dataclass(frozen=True)
class VirtualJoint:
    name: str
    type: str  # fixed, floating, planar
    parent_frame: str
    child_link: str


@dataclass(frozen=True)
class SrdfModel:
    """The parts of an SRDF this package writes and reads."""

    robot_name: str
    chain_groups: tuple[ChainGroup, ...] = ()
    link_groups: tuple[LinkGroup, ...] = ()
    group_states: tuple[GroupState, ...] = ()
    end_effectors: tuple[EndEffector, ...] = ()
    virtual_joints: tuple[VirtualJoint, ...] = ()
    disabled_collisions: dict[tuple[str, str], str] = field(default_factory=dict)

    def group_state(self, name: str, group: str | None = None) -> GroupState:
        """The named state (of `group` if given); KeyError naming the known states."""
        for s in self.group_states:
            if s.name == name and (group is None or s.group == group):
                return s
        msg = f"SRDF {self.robot_name!r} has no group_state {name!r}; states: {[s.name for s in self.group_states]}"
        raise KeyError(msg)

    def chain_group(self, name: str) -> ChainGroup:
        for g in self.chain_groups:
            if g.name == name:
                return g
        msg = f"SRDF {self.robot_name!r} has no chain group {name!r}; groups: {[g.name for g in self.chain_groups]}"
        raise KeyError(msg)


def ordered_pair(a: str, b: str) -> tuple[str, str]:
    """(a, b) with the alphabetically smaller link first (Setup Assistant's order)."""
    return (a, b) if a < b else (b, a)


def _num(v: float) -> str:
    # Six decimals (1 urad / 1 um) are far below any controller's resolution; trailing zeros go.
    if not math.isfinite(v):
        msg = f"SRDF joint value must be finite, got {v}"
        raise SrdfError(msg)
    text = f"{v:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def srdf_xml(model: SrdfModel, comment: str = "") -> str:
    """The SRDF text of `model` (4-space indentation, one element per line, as Setup Assistant)."""
    q = quoteattr
    out = ['<?xml version="1.0" encoding="UTF-8"?>']
    out.append(
        "<!--This does not replace URDF, and is not an extension of URDF.\n"
        "    This is a format for representing semantic information about the robot structure.\n"
        "    A URDF file must exist for this robot as well, where the joints and the links that are referenced are defined\n"
        "-->"
    )
    if comment:
        out.append(f"<!--{comment}-->")
    out.append(f"<robot name={q(model.robot_name)}>")
    out.append(
        "    <!--GROUPS: Representation of a set of joints and links. This can be useful for specifying DOF to plan "
        "for, defining arms, end effectors, etc-->"
    )
    for g in model.chain_groups:
        out.append(f"    <group name={q(g.name)}>")
        out.append(f"        <chain base_link={q(g.base_link)} tip_link={q(g.tip_link)}/>")
        out.append("    </group>")
    for g in model.link_groups:
        out.append(f"    <group name={q(g.name)}>")
        out += [f"        <link name={q(link)}/>" for link in g.links]
        out.append("    </group>")
    if model.group_states:
        out.append(
            "    <!--GROUP STATES: Purpose: Define a named state for a particular group, in terms of joint values. "
            "This is useful to define states like 'folded arms'-->"
        )
    for s in model.group_states:
        out.append(f"    <group_state name={q(s.name)} group={q(s.group)}>")
        out += [f"        <joint name={q(j)} value={q(_num(v))}/>" for j, v in s.values]
        out.append("    </group_state>")
    if model.end_effectors:
        out.append("    <!--END EFFECTOR: Purpose: Represent information about an end effector.-->")
    for e in model.end_effectors:
        out.append(
            f"    <end_effector name={q(e.name)} parent_link={q(e.parent_link)} group={q(e.group)} "
            f"parent_group={q(e.parent_group)}/>"
        )
    if model.virtual_joints:
        out.append(
            "    <!--VIRTUAL JOINT: Purpose: this element defines a virtual joint between a robot link and an external "
            "frame of reference (considered fixed with respect to the robot)-->"
        )
    for v in model.virtual_joints:
        out.append(
            f"    <virtual_joint name={q(v.name)} type={q(v.type)} parent_frame={q(v.parent_frame)} "
            f"child_link={q(v.child_link)}/>"
        )
    if model.disabled_collisions:
        out.append(
            "    <!--DISABLE COLLISIONS: By default it is assumed that any link of the robot could potentially come "
            "into collision with any other link in the robot. This tag disables collision checking between a "
            "specified pair of links. -->"
        )
    for (a, b), reason in sorted(model.disabled_collisions.items()):
        if reason not in REASONS:
            msg = f"disable_collisions {a!r}/{b!r}: reason must be one of {REASONS}, got {reason!r}"
            raise SrdfError(msg)
        if not a < b:
            msg = f"disable_collisions pair must be ordered link1 < link2, got ({a!r}, {b!r})"
            raise SrdfError(msg)
        out.append(f"    <disable_collisions link1={q(a)} link2={q(b)} reason={q(reason)}/>")
    out.append("</robot>")
    return "\n".join(out) + "\n"


def parse_srdf(srdf: str | Path) -> SrdfModel:
    """Read an SRDF file path or XML text (chain and link groups, states, end effectors,
    virtual joints, disabled collisions; subgroups and passive joints are ignored)."""
    text = str(srdf)
    if not text.lstrip().startswith("<"):
        text = Path(srdf).read_text()
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        msg = f"SRDF is not valid XML: {exc}"
        raise SrdfError(msg) from exc
    if root.tag != "robot":
        msg = f"SRDF root element must be <robot>, got <{root.tag}>"
        raise SrdfError(msg)
    chains, link_groups = [], []
    for g in root.findall("group"):
        chain = g.find("chain")
        if chain is not None:
            chains.append(ChainGroup(g.get("name", ""), chain.get("base_link", ""), chain.get("tip_link", "")))
        links = tuple(el.get("name", "") for el in g.findall("link"))
        if links:
            link_groups.append(LinkGroup(g.get("name", ""), links))
    states = []
    for s in root.findall("group_state"):
        try:
            values = tuple((j.get("name", ""), float(j.get("value", "nan"))) for j in s.findall("joint"))
        except ValueError as exc:
            msg = f"SRDF group_state {s.get('name')!r}: a joint value is not a number ({exc})"
            raise SrdfError(msg) from exc
        states.append(GroupState(s.get("name", ""), s.get("group", ""), values))
    eefs = tuple(
        EndEffector(e.get("name", ""), e.get("parent_link", ""), e.get("group", ""), e.get("parent_group", ""))
        for e in root.findall("end_effector")
    )
    vjs = tuple(
        VirtualJoint(v.get("name", ""), v.get("type", ""), v.get("parent_frame", ""), v.get("child_link", ""))
        for v in root.findall("virtual_joint")
    )
    disabled = {}
    for d in root.findall("disable_collisions"):
        disabled[ordered_pair(d.get("link1", ""), d.get("link2", ""))] = d.get("reason", "User")
    return SrdfModel(root.get("name", ""), tuple(chains), tuple(link_groups), tuple(states), eefs, vjs, disabled)


def disabled_pairs(srdf: str | Path, reasons: tuple[str, ...] = REASONS) -> set[tuple[str, str]]:
    """Link pairs an SRDF disables (for `CollisionModel.set_allowed_pairs`), filtered by reason."""
    return {pair for pair, reason in parse_srdf(srdf).disabled_collisions.items() if reason in reasons}
