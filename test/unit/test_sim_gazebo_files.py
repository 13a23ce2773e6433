"""Gazebo files: the world SDF is generated from cell.yaml, and world, URDF tags and launch
file name the same topics and frames as the rest of the package."""

import ast
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from factory_ai.geometry import T_from_xyz_rpy
from factory_ai.sim.gazebo import (
    GZ_HARDWARE_PLUGIN,
    bridge_arguments,
    bridge_remappings,
    camera_static_tf_arguments,
    gazebo_robot_description,
    spawn_pose_arguments,
)
from factory_ai.sim.sdf_world import world_sdf


@pytest.fixture(scope="module")
def world(cell):
    return ET.fromstring(world_sdf(cell).split("\n", 3)[-1]).find("world")


def test_committed_world_equals_a_fresh_generation(cell, repo_root):
    committed = (repo_root / "worlds" / "factory_cell.sdf").read_text()
    assert committed == world_sdf(cell), "regenerate with: python -m factory_ai.sim.sdf_world"


def test_world_has_conveyor_bin_lights_and_fixtures(world, cell):
    models = {m.get("name") for m in world.iter("model")}
    assert {"conveyor", "conveyor_frame", "reject_bin", cell.camera.name} <= models
    assert {f.name for f in cell.fixtures} <= models
    assert len(world.findall("light")) >= 2
    belt = world.find("model[@name='conveyor']")
    track = belt.find("plugin[@name='gz::sim::systems::TrackController']")
    assert track is not None and track.findtext("link") == "belt_link"
    size = [float(v) for v in belt.find(".//collision/geometry/box/size").text.split()]
    assert size[:2] == pytest.approx([cell.conveyor.length_m, cell.conveyor.width_m])


def test_camera_sensor_matches_cell_yaml(world, cell):
    cam = cell.camera
    sensor = world.find(f".//model[@name='{cam.name}']//sensor[@type='camera']")
    assert sensor.findtext("topic") == "camera/image_raw"
    assert sensor.findtext("gz_frame_id") == "overhead_camera_optical_frame" == cam.frame_id
    assert int(sensor.findtext("camera/image/width")) == cam.width_px
    assert int(sensor.findtext("camera/image/height")) == cam.height_px
    intr = sensor.find("camera/lens/intrinsics")
    assert [float(intr.findtext(k)) for k in ("fx", "fy", "cx", "cy")] == pytest.approx(
        [cam.K[0, 0], cam.K[1, 1], cam.K[0, 2], cam.K[1, 2]])
    # gz cameras look along +x with z up: the view axis must be the optical z of cell.yaml and
    # the image's right (-y of the gz camera) the optical x.
    pose = [float(v) for v in world.find(f".//model[@name='{cam.name}']/pose").text.split()]
    R = T_from_xyz_rpy(pose[:3], pose[3:])[:3, :3]
    R_opt = cell.T_world_camera[:3, :3]
    assert np.allclose(R[:, 0], R_opt[:, 2], atol=1e-5) and np.allclose(-R[:, 1], R_opt[:, 0], atol=1e-5)
    assert np.allclose(pose[:3], cell.T_world_camera[:3, 3], atol=1e-6)


def test_sdf_world_generator_does_not_import_mujoco():
    import subprocess
    import sys

    code = "import sys, factory_ai.sim.sdf_world as w; w.world_sdf(__import__('factory_ai.config').config.load_cell_description()); sys.exit('mujoco' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_gazebo_description_swaps_only_the_hardware(repo_root):
    text = (repo_root / "urdf" / "factory_arm.urdf").read_text()
    assert "mock_components/GenericSystem" in text  # the shipped default stays mock hardware
    root = ET.fromstring(gazebo_robot_description(text, "/opt/share/factory_ai/config/controllers.yaml"))
    assert root.findtext("ros2_control/hardware/plugin") == GZ_HARDWARE_PLUGIN
    assert not root.findall("ros2_control/hardware/param[@name='calculate_dynamics']")
    plugin = root.find("gazebo/plugin[@filename='gz_ros2_control-system']")
    assert plugin.findtext("parameters") == "/opt/share/factory_ai/config/controllers.yaml"
    original = ET.fromstring(text)
    assert [j.get("name") for j in root.iter("joint")] == [j.get("name") for j in original.iter("joint")]


def test_bridge_and_tf_use_the_package_topic_and_frame_names(cell):
    args = bridge_arguments()
    assert "/clock@rosgraph_msgs/msg/Clock[gz.msgs.Clock" in args
    ros_names = dict(bridge_remappings())
    assert ros_names["/camera/image_raw"] == "camera/image_raw"
    assert ros_names["/camera/camera_info"] == "camera/camera_info"
    tf = camera_static_tf_arguments(cell)
    assert tf[tf.index("--frame-id") + 1] == "base_link"
    assert tf[tf.index("--child-frame-id") + 1] == "overhead_camera_optical_frame"
    pose = spawn_pose_arguments(cell)
    assert float(pose[pose.index("-z") + 1]) == pytest.approx(cell.arm.T_world_base[2, 3])


def test_launch_file_compiles_and_wires_gazebo(repo_root):
    path = repo_root / "launch" / "sim_gazebo.launch.py"
    source = path.read_text()
    tree = ast.parse(source)
    compile(source, str(path), "exec")
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert "generate_launch_description" in functions
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    for needed in ("ros_gz_sim", "create", "ros_gz_bridge", "parameter_bridge", "gz_sim.launch.py",
                   "joint_state_broadcaster", "joint_trajectory_controller", "robot_description",
                   "static_transform_publisher", "factory_cell.sdf", "controllers.yaml"):
        assert needed in strings, needed
    args = {c.args[0].value for c in ast.walk(tree) if isinstance(c, ast.Call)
            and getattr(c.func, "id", "") == "DeclareLaunchArgument"}
    assert {"world", "urdf", "controllers_file", "gui"} <= args
