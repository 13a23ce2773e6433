"""Kinematic view of a URDF: links, joints and the chain between two frames; geometry is ignored.

Vendor URDFs reference meshes as `package://...`; kinematics never needs them, so this module
reads only link names, joint origins, axes and limits, and writes a stripped URDF string that
Pinocchio parses without touching any mesh file.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from factory_ai.geometry import T_from_xyz_rpy

MOVABLE_TYPES = ("revolute", "continuous", "prismatic")


class UrdfError(ValueError):
    """The URDF is malformed or does not contain what the caller asked for."""


@dataclass(frozen=True)
class UrdfJoint:
    """One URDF joint; limits are +-inf where the URDF gives none."""

    name: str
    type: str  # revolute, continuous, prismatic, fixed, floating, planar
    parent: str
    child: str
    origin_xyz: np.ndarray  # (3,) the joint's <origin> in the parent link frame (m)
    origin_rpy: np.ndarray  # (3,) fixed-axis roll, pitch, yaw (rad)
    axis: np.ndarray  # (3,) unit axis in the joint frame
    lower: float  # rad or m; -inf for continuous joints
    upper: float
    velocity: float  # rad/s or m/s; inf if unspecified
    effort: float  # N m or N; inf if unspecified
    mimic: str | None = None  # name of the joint this one mimics

    @property
    def movable(self) -> bool:
        return self.type in MOVABLE_TYPES

    @property
    def T_parent_joint(self) -> np.ndarray:
        """(4, 4) joint frame at zero motion, in the parent link frame."""
        return T_from_xyz_rpy(self.origin_xyz, self.origin_rpy)


@dataclass(frozen=True)
class UrdfTree:
    """Links and joints of a URDF, with parent lookups."""

    name: str
    links: tuple[str, ...]
    joints: tuple[UrdfJoint, ...]
    root: str

    def joint_to_child(self, link: str) -> UrdfJoint | None:
        """The joint whose child is `link` (None for the root)."""
        for j in self.joints:
            if j.child == link:
                return j
        return None

    def path_joints(self, base: str, tip: str) -> list[UrdfJoint]:
        """Joints from `base` down to `tip`, base side first.

        Raises:
            UrdfError: if a frame is unknown or `tip` does not hang below `base`.
        """
        for name, link in (("base_frame", base), ("tip_frame", tip)):
            if link not in self.links:
                msg = f"{name} {link!r} is not a link of URDF {self.name!r}; links: {', '.join(self.links)}"
                raise UrdfError(msg)
        path: list[UrdfJoint] = []
        link = tip
        while link != base:
            j = self.joint_to_child(link)
            if j is None:
                msg = f"tip_frame {tip!r} does not hang below base_frame {base!r} in URDF {self.name!r}"
                raise UrdfError(msg)
            path.append(j)
            link = j.parent
        return path[::-1]


def _floats(text: str | None, n: int, default: list[float], what: str) -> np.ndarray:
    if text is None:
        return np.asarray(default, dtype=float)
    try:
        values = [float(v) for v in text.split()]
    except ValueError:
        values = []
    if len(values) != n or not all(math.isfinite(v) for v in values):
        msg = f"URDF {what} must be {n} finite numbers, got {text!r}"
        raise UrdfError(msg)
    return np.asarray(values)


def _attr_float(el: ET.Element | None, key: str, default: float, what: str) -> float:
    if el is None or el.get(key) is None:
        return default
    try:
        return float(el.get(key))  # type: ignore[arg-type]
    except ValueError:
        msg = f"URDF {what} {key}= must be a number, got {el.get(key)!r}"
        raise UrdfError(msg) from None


def _parse_joint(el: ET.Element) -> UrdfJoint:
    name = el.get("name")
    jtype = el.get("type")
    if not name or not jtype:
        msg = f"URDF joint needs name= and type=, got {el.attrib}"
        raise UrdfError(msg)
    parent, child = el.find("parent"), el.find("child")
    if parent is None or child is None or not parent.get("link") or not child.get("link"):
        msg = f"URDF joint {name!r} needs <parent link=...> and <child link=...>"
        raise UrdfError(msg)
    origin = el.find("origin")
    xyz = _floats(origin.get("xyz") if origin is not None else None, 3, [0, 0, 0], f"joint {name!r} origin xyz")
    rpy = _floats(origin.get("rpy") if origin is not None else None, 3, [0, 0, 0], f"joint {name!r} origin rpy")
    axis_el = el.find("axis")
    axis = _floats(axis_el.get("xyz") if axis_el is not None else None, 3, [1, 0, 0], f"joint {name!r} axis")
    norm = float(np.linalg.norm(axis))
    if jtype in MOVABLE_TYPES and norm < 1e-9:
        msg = f"URDF joint {name!r} has a zero axis"
        raise UrdfError(msg)
    axis = axis / norm if norm > 0 else axis
    limit = el.find("limit")
    what = f"joint {name!r} <limit>"
    if jtype == "continuous":
        lower, upper = -math.inf, math.inf
    else:
        lower = _attr_float(limit, "lower", 0.0 if jtype in MOVABLE_TYPES else -math.inf, what)
        upper = _attr_float(limit, "upper", 0.0 if jtype in MOVABLE_TYPES else math.inf, what)
    if jtype in ("revolute", "prismatic") and not lower < upper:
        msg = f"URDF joint {name!r} needs <limit lower < upper>, got lower={lower} upper={upper}"
        raise UrdfError(msg)
    velocity = _attr_float(limit, "velocity", math.inf, what)
    effort = _attr_float(limit, "effort", math.inf, what)
    mimic = el.find("mimic")
    return UrdfJoint(
        name=name,
        type=jtype,
        parent=parent.get("link"),  # type: ignore[arg-type]
        child=child.get("link"),  # type: ignore[arg-type]
        origin_xyz=xyz,
        origin_rpy=rpy,
        axis=axis,
        lower=lower,
        upper=upper,
        velocity=velocity if velocity > 0 else math.inf,  # 0 means "unspecified" in many vendor files
        effort=effort if effort > 0 else math.inf,
        mimic=mimic.get("joint") if mimic is not None else None,
    )


def parse_urdf(urdf: str | Path) -> UrdfTree:
    """Parse a URDF file path or XML string into its kinematic tree (no meshes are opened).

    Args:
        urdf: path to a .urdf file, or the XML text itself.
    """
    text = str(urdf)
    if not text.lstrip().startswith("<"):
        path = Path(urdf)
        try:
            text = path.read_text()
        except OSError as exc:
            msg = f"cannot read URDF {path}: {exc.strerror}"
            raise UrdfError(msg) from exc
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        msg = f"URDF is not valid XML: {exc}"
        raise UrdfError(msg) from exc
    if root.tag != "robot":
        msg = f"URDF root element must be <robot>, got <{root.tag}>"
        raise UrdfError(msg)
    links = tuple(el.get("name", "") for el in root.findall("link"))
    joints = tuple(_parse_joint(el) for el in root.findall("joint"))
    names = set(links)
    for j in joints:
        for role in ("parent", "child"):
            if getattr(j, role) not in names:
                msg = f"URDF joint {j.name!r} names {role} link {getattr(j, role)!r}, which is not defined"
                raise UrdfError(msg)
    children = [j.child for j in joints]
    if len(set(children)) != len(children):
        msg = "URDF has a link with two parent joints (not a tree)"
        raise UrdfError(msg)
    roots = [link for link in links if link not in set(children)]
    if len(roots) != 1:
        msg = f"URDF must have exactly one root link, found {roots}"
        raise UrdfError(msg)
    return UrdfTree(name=root.get("name", "robot"), links=links, joints=joints, root=roots[0])


def kinematic_urdf_xml(tree: UrdfTree, movable: set[str]) -> str:
    """A geometry-free URDF string where only the joints in `movable` move.

    Every other joint becomes fixed at its zero position, and continuous joints become
    revolute (Pinocchio would otherwise model them with cos/sin coordinates).
    """
    robot = ET.Element("robot", name=tree.name)
    for link in tree.links:
        ET.SubElement(robot, "link", name=link)
    for j in tree.joints:
        keep = j.name in movable
        jtype = ("revolute" if j.type == "continuous" else j.type) if keep else "fixed"
        el = ET.SubElement(robot, "joint", name=j.name, type=jtype)
        ET.SubElement(el, "parent", link=j.parent)
        ET.SubElement(el, "child", link=j.child)
        ET.SubElement(el, "origin", xyz=_text(j.origin_xyz), rpy=_text(j.origin_rpy))
        if keep:
            ET.SubElement(el, "axis", xyz=_text(j.axis))
            lo, hi = (j.lower, j.upper) if math.isfinite(j.lower) else (-4 * math.pi, 4 * math.pi)
            vel = j.velocity if math.isfinite(j.velocity) else 1e3
            eff = j.effort if math.isfinite(j.effort) else 1e6
            ET.SubElement(el, "limit", lower=repr(lo), upper=repr(hi), velocity=repr(vel), effort=repr(eff))
    return ET.tostring(robot, encoding="unicode")


def _text(v: np.ndarray) -> str:
    # repr keeps every digit, so the stripped URDF is bit-identical in its numbers.
    return " ".join(repr(float(x)) for x in v)
