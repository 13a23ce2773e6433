"""The factory_ai cell: vision, defect classifier, trajectory planner and feedback learner
(managed lifecycle nodes) plus robot_state_publisher with the arm's URDF.

    ros2 launch factory_ai cell.launch.py                       # defaults from config/nodes.yaml
    ros2 launch factory_ai cell.launch.py namespace:=cell1 params_file:=/path/my_nodes.yaml \
        controller_action:=/scaled_joint_trajectory_controller/follow_joint_trajectory

With autostart:=true (default) each node is configured at start and activated as soon as it
reaches 'inactive'; with autostart:=false drive them with `ros2 lifecycle set`.

With planning_backend:=moveit the planner also checks its trajectories with MoveIt, and this
file starts move_group (moveit.launch.py, in the root namespace where the planner's default
MoveIt topic and service names point) unless launch_move_group:=false says the cell runs one:

    ros2 launch factory_ai cell.launch.py planning_backend:=moveit use_rviz:=true
    ros2 launch factory_ai cell.launch.py planning_backend:=moveit launch_move_group:=false
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, OpaqueFunction
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from factory_ai.nodes.launch_utils import PACKAGE, camera_remappings, is_true, lifecycle_node, node_parameters

PROCESSING_NODES = ("vision_node", "defect_classifier_node", "trajectory_planner_node", "feedback_learner_node")


def _launch_setup(context: LaunchContext) -> list[Any]:
    def arg(name: str) -> str:
        return LaunchConfiguration(name).perform(context)

    namespace = arg("namespace")
    use_sim_time = is_true(arg("use_sim_time"))
    urdf = arg("urdf")
    backend = arg("planning_backend")
    overrides = {
        "trajectory_planner_node": {
            "controller_action": arg("controller_action"),
            "planning_backend": backend,
            "urdf_path": urdf,
        },
    }
    actions: list[Any] = []
    for name in PROCESSING_NODES:
        params = {**node_parameters(arg("params_file"), name), **overrides.get(name, {}), "use_sim_time": use_sim_time}
        actions += lifecycle_node(name, namespace, params, is_true(arg("autostart")), camera_remappings(arg("camera")))
    if is_true(arg("start_robot_state_publisher")):
        actions.append(
            Node(
                package="robot_state_publisher",
                executable="robot_state_publisher",
                namespace=namespace,
                parameters=[{"robot_description": Path(urdf).read_text(), "use_sim_time": use_sim_time}],
                output="screen",
            )
        )
    if backend == "moveit" and is_true(arg("launch_move_group")):
        planner = node_parameters(arg("params_file"), "trajectory_planner_node")
        actions.append(
            IncludeLaunchDescription(
                PythonLaunchDescriptionSource(
                    PathJoinSubstitution([FindPackageShare(PACKAGE), "launch", "moveit.launch.py"]).perform(context)
                ),
                launch_arguments={
                    "use_rviz": arg("use_rviz"),
                    "use_sim_time": arg("use_sim_time"),
                    "urdf": urdf,  # the planner's robot and MoveIt's are one file
                    "moveit_config_dir": str(planner.get("moveit_config_dir", "")),
                }.items(),
            )
        )
    return actions


def generate_launch_description() -> LaunchDescription:
    """Launch arguments (each with a default and a description) and the cell's nodes."""
    share = FindPackageShare(PACKAGE)
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "params_file",
                default_value=PathJoinSubstitution([share, "config", "nodes.yaml"]),
                description="YAML with the nodes' parameters, keyed by node name (node_name: ros__parameters:)",
            ),
            DeclareLaunchArgument(
                "urdf",
                default_value=PathJoinSubstitution([share, "urdf", "factory_arm.urdf"]),
                description="robot URDF for robot_state_publisher and the planner",
            ),
            DeclareLaunchArgument("namespace", default_value="", description="namespace of every node of the cell"),
            DeclareLaunchArgument(
                "camera",
                default_value="camera",
                description="camera namespace: the nodes read <camera>/image_raw and <camera>/camera_info",
            ),
            DeclareLaunchArgument(
                "use_sim_time", default_value="false", description="use /clock (true with the twin or Gazebo)"
            ),
            DeclareLaunchArgument(
                "controller_action",
                default_value="/joint_trajectory_controller/follow_joint_trajectory",
                description="FollowJointTrajectory action of the arm's controller",
            ),
            DeclareLaunchArgument(
                "autostart",
                default_value="true",
                description="configure and activate the lifecycle nodes at start (false: use ros2 lifecycle set)",
            ),
            DeclareLaunchArgument(
                "planning_backend",
                default_value="builtin",
                choices=["builtin", "moveit"],
                description="builtin: our intercept planner only; moveit: also validate with MoveIt (see README)",
            ),
            DeclareLaunchArgument(
                "launch_move_group",
                default_value="true",
                description="with planning_backend:=moveit, also start move_group (moveit.launch.py); "
                "false when the cell already runs one; ignored for builtin",
            ),
            DeclareLaunchArgument(
                "use_rviz",
                default_value="false",
                description="start RViz with the move_group this file starts (planning_backend:=moveit)",
            ),
            DeclareLaunchArgument(
                "start_robot_state_publisher",
                default_value="true",
                description="start robot_state_publisher (false when another launch file already does)",
            ),
            OpaqueFunction(function=_launch_setup),
        ]
    )
