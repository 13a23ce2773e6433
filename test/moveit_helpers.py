"""Test fixtures for the MoveIt config generator and planning-scene conversions.

- `seven_dof_collision_urdf()`: the kinematics engineer's 7-DOF test arm (`robot_helpers`) with
  collision geometry added, since the collision matrix needs some: a capsule-like cylinder along
  each link offset, a sphere at each joint, boxes for the hand and the two prismatic fingers
  (which exercise the generator's handling of joints it cannot sample).
- `SEVEN_DOF_LIMITS_YAML`: acceleration/jerk limits for it (the published Panda limits), so
  Pilz would have what it needs.
- For the real-MoveIt tests (test/moveit/): `isolated_ros_env()`, `joint_state_publisher(...)`
  (a /joint_states publisher process), `stop_process`, `results` (a probe's RESULT lines).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
import xml.etree.ElementTree as ET
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from robot_helpers import SEVEN_DOF_BASE, SEVEN_DOF_JOINTS, SEVEN_DOF_TIP, seven_dof_urdf

__all__ = [
    "MOVEIT_TEST_DIR",
    "SEVEN_DOF_BASE",
    "SEVEN_DOF_JOINTS",
    "SEVEN_DOF_LIMITS_YAML",
    "SEVEN_DOF_TIP",
    "isolated_ros_env",
    "joint_state_publisher",
    "results",
    "seven_dof_collision_urdf",
    "stop_process",
]

LINK_RADIUS_M = 0.05


def _vec(v) -> str:
    return " ".join(repr(float(x)) for x in v)


def _add(link: ET.Element, shape: str, xyz, rpy, **attrs: str) -> None:
    col = ET.SubElement(link, "collision")
    ET.SubElement(col, "origin", xyz=_vec(xyz), rpy=_vec(rpy))
    geom = ET.SubElement(col, "geometry")
    ET.SubElement(geom, shape, **attrs)


def seven_dof_collision_urdf() -> str:
    """URDF text of the 7-DOF test arm with collision primitives on every moving link."""
    root = ET.fromstring(seven_dof_urdf())
    links = {el.get("name"): el for el in root.findall("link")}
    _add(links["link0"], "cylinder", (0, 0, 0.1), (0, 0, 0), radius="0.07", length="0.2")
    for joint in root.findall("joint"):
        parent = joint.find("parent").get("link")
        child = joint.find("child").get("link")
        origin = joint.find("origin")
        offset = np.array([float(v) for v in (origin.get("xyz", "0 0 0") if origin is not None else "0 0 0").split()])
        if child.startswith("link") and child != "link0":
            _add(links[child], "sphere", (0, 0, 0), (0, 0, 0), radius=repr(LINK_RADIUS_M))
        length = float(np.linalg.norm(offset))
        if parent.startswith("link") and parent != "link0" and length > 1e-6:
            # Cylinder from the parent's origin to this joint: rotate z onto the offset.
            rot, _ = Rotation.align_vectors([offset / length], [[0.0, 0.0, 1.0]])
            with warnings.catch_warnings():  # gimbal lock is harmless: any z -> offset rotation will do
                warnings.simplefilter("ignore", UserWarning)
                rpy = rot.as_euler("xyz")
            _add(
                links[parent], "cylinder", offset / 2, rpy,
                radius=repr(LINK_RADIUS_M * 0.8), length=repr(length),
            )  # fmt: skip
    _add(links["hand"], "box", (0, 0, 0.03), (0, 0, 0), size="0.05 0.2 0.06")
    for finger, y in (("left_finger", 0.01), ("right_finger", -0.01)):
        _add(links[finger], "box", (0, y, 0.025), (0, 0, 0), size="0.02 0.02 0.05")
    return ET.tostring(root, encoding="unicode")


SEVEN_DOF_LIMITS_YAML = "joint_limits:\n" + "".join(
    f"  {name}:\n    has_velocity_limits: true\n    max_velocity: {v}\n"
    f"    has_acceleration_limits: true\n    max_acceleration: {a}\n"
    f"    has_jerk_limits: true\n    max_jerk: {j}\n"
    for name, v, a, j in zip(
        SEVEN_DOF_JOINTS,
        (2.175, 2.175, 2.175, 2.175, 2.61, 2.61, 2.61),
        (15.0, 7.5, 10.0, 12.5, 15.0, 20.0, 20.0),
        (7500.0, 3750.0, 5000.0, 6250.0, 7500.0, 10000.0, 10000.0),
    )
)


# -- processes for the real-MoveIt tests (test/moveit/) -----------------------------------------

REPO_ROOT = Path(__file__).resolve().parents[1]
MOVEIT_TEST_DIR = REPO_ROOT / "test" / "moveit"


def isolated_ros_env() -> dict[str, str]:
    """Environment for ROS test processes: a domain of their own, discovery on this host only,
    and this checkout first on PYTHONPATH."""
    env = dict(os.environ)
    env["ROS_DOMAIN_ID"] = str(100 + os.getpid() % 100)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "test"), env.get("PYTHONPATH", "")])
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


@contextmanager
def joint_state_publisher(names, q_rad, env: dict[str, str]):
    """A /joint_states publisher in another process (MoveItPy needs one to finish starting)."""
    proc = subprocess.Popen(
        [sys.executable, str(MOVEIT_TEST_DIR / "joint_state_publisher.py"), json.dumps(list(names)),
         json.dumps([float(v) for v in q_rad])],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        yield proc
    finally:
        stop_process(proc)


def stop_process(proc: subprocess.Popen, timeout_s: float = 10.0) -> None:
    """SIGTERM, then SIGKILL, the one process we started (by its pid)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout_s)


def results(stdout: str) -> dict[str, dict]:
    """The `RESULT {json}` lines a probe printed, by step."""
    out = {}
    for line in stdout.splitlines():
        if line.startswith("RESULT "):
            item = json.loads(line[len("RESULT "):])
            out[item["step"]] = item
    return out
