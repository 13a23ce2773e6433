"""Test URDFs for the robot model, built in code.

- `seven_dof_urdf()`: a 7-DOF arm with Franka-Panda-like kinematics and limits (published
  DH parameters), mounted on a world link at an offset so that `base_frame` ("link0") is not the
  URDF root, with a two-finger gripper branch (prismatic + mimic joints off the chain) and a
  continuous last joint.
- `vendor_style_urdf()`: our arm rewritten the way vendor description packages ship it: mesh
  visuals/collisions under `package://`, transmissions, Gazebo tags. The meshes do not exist.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
ARM_URDF = REPO_ROOT / "urdf" / "factory_arm.urdf"

HALF_PI = math.pi / 2

# name, origin xyz, origin rpy, lower, upper (rad); None limits = continuous
_SEVEN_DOF_JOINTS = [
    ("joint1", (0, 0, 0.333), (0, 0, 0), -2.8973, 2.8973),
    ("joint2", (0, 0, 0), (-HALF_PI, 0, 0), -1.7628, 1.7628),
    ("joint3", (0, -0.316, 0), (HALF_PI, 0, 0), -2.8973, 2.8973),
    ("joint4", (0.0825, 0, 0), (HALF_PI, 0, 0), -3.0718, -0.0698),
    ("joint5", (-0.0825, 0.384, 0), (-HALF_PI, 0, 0), -2.8973, 2.8973),
    ("joint6", (0, 0, 0), (HALF_PI, 0, 0), -0.0175, 3.7525),
    ("joint7", (0.088, 0, 0), (HALF_PI, 0, 0), None, None),
]

_FINGER_LIMIT = '<limit lower="0" upper="0.04" effort="100" velocity="0.2"/>'
SEVEN_DOF_BASE = "link0"
SEVEN_DOF_TIP = "tcp"
SEVEN_DOF_JOINTS = tuple(j[0] for j in _SEVEN_DOF_JOINTS)


def _v(values) -> str:
    return " ".join(repr(float(x)) for x in values)


def seven_dof_urdf() -> str:
    """URDF text of the 7-DOF test arm (base 'link0' below a 'world' root, tip 'tcp')."""
    parts = [
        '<robot name="test_arm7">',
        '<link name="world"/>',
        '<link name="mount"/>',
        '<joint name="world_to_mount" type="fixed"><parent link="world"/><child link="mount"/>'
        '<origin xyz="0.3 -0.2 0.8" rpy="0.1 -0.05 0.5"/></joint>',
        '<link name="link0"><visual><geometry><box size="0.1 0.1 0.1"/></geometry></visual></link>',
        '<joint name="mount_to_link0" type="fixed"><parent link="mount"/><child link="link0"/>'
        '<origin xyz="0 0 0.02" rpy="0 0 0"/></joint>',
    ]
    parent = "link0"
    for i, (name, xyz, rpy, lo, hi) in enumerate(_SEVEN_DOF_JOINTS, start=1):
        child = f"link{i}"
        parts.append(f'<link name="{child}"/>')
        if lo is None:
            limit = '<limit effort="12" velocity="2.61"/>'
            jtype = "continuous"
        else:
            vel = 2.175 if i <= 4 else 2.61
            eff = 87 if i <= 4 else 12
            limit = f'<limit lower="{lo}" upper="{hi}" effort="{eff}" velocity="{vel}"/>'
            jtype = "revolute"
        parts.append(
            f'<joint name="{name}" type="{jtype}"><parent link="{parent}"/><child link="{child}"/>'
            f'<origin xyz="{_v(xyz)}" rpy="{_v(rpy)}"/><axis xyz="0 0 1"/>{limit}</joint>'
        )
        parent = child
    parts += [
        '<link name="flange"/>',
        '<joint name="joint8" type="fixed"><parent link="link7"/><child link="flange"/>'
        '<origin xyz="0 0 0.107" rpy="0 0 0"/></joint>',
        '<link name="hand"/>',
        '<joint name="hand_joint" type="fixed"><parent link="flange"/><child link="hand"/>'
        f'<origin xyz="0 0 0" rpy="0 0 {-math.pi / 4!r}"/></joint>',
        '<link name="tcp"/>',
        '<joint name="hand_tcp_joint" type="fixed"><parent link="hand"/><child link="tcp"/>'
        '<origin xyz="0 0 0.1034" rpy="0 0 0"/></joint>',
        # Gripper branch: moves nothing on the arm chain; the model must hold it at zero.
        '<link name="left_finger"/><link name="right_finger"/>',
        '<joint name="finger_joint1" type="prismatic"><parent link="hand"/><child link="left_finger"/>'
        f'<origin xyz="0 0 0.0584"/><axis xyz="0 1 0"/>{_FINGER_LIMIT}</joint>',
        '<joint name="finger_joint2" type="prismatic"><parent link="hand"/><child link="right_finger"/>'
        f'<origin xyz="0 0 0.0584"/><axis xyz="0 -1 0"/>{_FINGER_LIMIT}'
        '<mimic joint="finger_joint1"/></joint>',
        "</robot>",
    ]
    return "\n".join(parts)


def vendor_style_urdf(mesh_package: str = "factory_arm_description") -> str:
    """Our arm as a vendor would ship it: every geometry a `package://` mesh that is not installed."""
    root = ET.fromstring(ARM_URDF.read_text())
    for link in root.findall("link"):
        name = link.get("name")
        for kind in ("visual", "collision"):
            for el in link.findall(kind):
                geometry = el.find("geometry")
                for child in list(geometry):
                    geometry.remove(child)
                ext = "dae" if kind == "visual" else "stl"
                ET.SubElement(
                    geometry,
                    "mesh",
                    filename=f"package://{mesh_package}/meshes/{kind}/{name}.{ext}",
                    scale="0.001 0.001 0.001",
                )
    for el in root.findall("mujoco"):
        root.remove(el)
    for joint in root.findall("joint"):
        if joint.get("type") == "fixed":
            continue
        name = joint.get("name")
        tr = ET.SubElement(root, "transmission", name=f"{name}_trans")
        ET.SubElement(tr, "type").text = "transmission_interface/SimpleTransmission"
        j = ET.SubElement(tr, "joint", name=name)
        ET.SubElement(j, "hardwareInterface").text = "hardware_interface/PositionJointInterface"
    gz = ET.SubElement(root, "gazebo", reference="wrist_3_link")
    ET.SubElement(gz, "selfCollide").text = "true"
    return ET.tostring(root, encoding="unicode")
