"""Pure helpers for `launch/sim_gazebo.launch.py` (no ROS, no MuJoCo imports; unit-tested).

The URDF's `<ros2_control>` block names `mock_components/GenericSystem`; under Gazebo the
hardware is `gz_ros2_control/GazeboSimSystem` and the URDF's `<gazebo>` plugin needs the
installed controllers file. The bridge maps gz topics onto the package's ROS topic names.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from factory_ai.config import CellDescription
from factory_ai.geometry import xyz_rpy_from_T
from factory_ai.sim.sdf_world import CONVEYOR_CMD_TOPIC, IMAGE_TOPIC

GZ_HARDWARE_PLUGIN = "gz_ros2_control/GazeboSimSystem"
GZ_CONTROL_PLUGIN_FILE = "gz_ros2_control-system"
GZ_CONTROL_PLUGIN_NAME = "gz_ros2_control::GazeboSimROS2ControlPlugin"
MOCK_ONLY_PARAMS = ("calculate_dynamics", "mock_sensor_commands", "position_state_following_offset")


def gazebo_robot_description(urdf_text: str, controllers_yaml: str | Path) -> str:
    """The URDF with its ros2_control hardware swapped to gz_ros2_control.

    Args:
        urdf_text: the package URDF (mock hardware by default).
        controllers_yaml: absolute path of the controller_manager parameters for gz_ros2_control.

    Raises:
        ValueError: the URDF has no <ros2_control> <hardware> block.
    """
    root = ET.fromstring(urdf_text)
    hardware = root.find("ros2_control/hardware")
    if hardware is None:
        msg = "URDF has no <ros2_control><hardware> block to run under Gazebo"
        raise ValueError(msg)
    plugin = hardware.find("plugin")
    if plugin is None:
        plugin = ET.SubElement(hardware, "plugin")
    plugin.text = GZ_HARDWARE_PLUGIN
    for param in list(hardware.findall("param")):
        if param.get("name") in MOCK_ONLY_PARAMS:
            hardware.remove(param)
    gz_plugin = None
    for gz in root.findall("gazebo"):
        for p in gz.findall("plugin"):
            if p.get("filename") == GZ_CONTROL_PLUGIN_FILE:
                gz_plugin = p
    if gz_plugin is None:
        gz = ET.SubElement(root, "gazebo")
        gz_plugin = ET.SubElement(gz, "plugin", filename=GZ_CONTROL_PLUGIN_FILE, name=GZ_CONTROL_PLUGIN_NAME)
    params = gz_plugin.find("parameters")
    if params is None:
        params = ET.SubElement(gz_plugin, "parameters")
    params.text = str(controllers_yaml)
    return ET.tostring(root, encoding="unicode")


def bridge_arguments() -> list[str]:
    """ros_gz_bridge parameter_bridge arguments: clock and camera gz -> ROS, belt speed ROS -> gz.

    Joint states come from ros2_control's joint_state_broadcaster (inside gz_ros2_control), so
    `joint_states` carries the same message as with mock hardware or a real driver.
    """
    image = "/" + IMAGE_TOPIC
    info = image.rsplit("/", 1)[0] + "/camera_info"  # gz-sensors publishes camera_info next to the image
    return [
        "/clock@rosgraph_msgs/msg/Clock[gz.msgs.Clock",
        f"{image}@sensor_msgs/msg/Image[gz.msgs.Image",
        f"{info}@sensor_msgs/msg/CameraInfo[gz.msgs.CameraInfo",
        f"{CONVEYOR_CMD_TOPIC}@std_msgs/msg/Float64]gz.msgs.Double",
    ]


def bridge_remappings() -> list[tuple[str, str]]:
    """gz topics are absolute; on the ROS side the package uses relative (namespaceable) names."""
    return [(a.split("@", 1)[0], a.split("@", 1)[0].lstrip("/")) for a in bridge_arguments() if not a.startswith("/clock")]


def spawn_pose_arguments(cell: CellDescription) -> list[str]:
    """`ros_gz_sim create` pose arguments putting the arm's base where cell.yaml says."""
    xyz, rpy = xyz_rpy_from_T(cell.arm.T_world_base)
    vals = np.concatenate([xyz, rpy])
    return [a for k, v in zip(("-x", "-y", "-z", "-R", "-P", "-Y"), vals) for a in (k, f"{float(v):.6f}")]


def camera_static_tf_arguments(cell: CellDescription) -> list[str]:
    """static_transform_publisher arguments (Jazzy flag form) for base -> camera optical frame."""
    xyz, rpy = xyz_rpy_from_T(cell.camera.T_base_camera)
    names = ("--x", "--y", "--z", "--roll", "--pitch", "--yaw")
    out = [a for k, v in zip(names, np.concatenate([xyz, rpy])) for a in (k, f"{float(v):.6f}")]
    return out + ["--frame-id", cell.arm.base_frame, "--child-frame-id", cell.camera.frame_id]
