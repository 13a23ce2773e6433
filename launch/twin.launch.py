"""The whole cell against the MuJoCo digital twin: twin_node (camera, joint states, /clock,
FollowJointTrajectory, suction, inspection labels) plus cell.launch.py with use_sim_time:=true.
No Gazebo, no hardware.

    ros2 launch factory_ai twin.launch.py
    ros2 launch factory_ai twin.launch.py params_file:=/tmp/nodes.yaml   # e.g. another seed
"""

from __future__ import annotations

from typing import Any

from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, OpaqueFunction
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare

from factory_ai.nodes.launch_utils import PACKAGE, is_true, lifecycle_node, node_parameters


def _launch_setup(context: LaunchContext) -> list[Any]:
    def arg(name: str) -> str:
        return LaunchConfiguration(name).perform(context)

    params = {
        **node_parameters(arg("params_file"), "twin_node"),
        "controller_action": arg("controller_action"),
        "use_sim_time": False,  # the twin is the clock
    }
    twin = lifecycle_node("twin_node", arg("namespace"), params, is_true(arg("autostart")))
    cell = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(
            PathJoinSubstitution([FindPackageShare(PACKAGE), "launch", "cell.launch.py"]).perform(context)
        ),
        launch_arguments={
            "params_file": arg("params_file"),
            "namespace": arg("namespace"),
            "use_sim_time": "true",
            "controller_action": arg("controller_action"),
            "autostart": arg("autostart"),
            "planning_backend": arg("planning_backend"),
        }.items(),
    )
    return [*twin, cell]


def generate_launch_description() -> LaunchDescription:
    """Launch arguments (each with a default and a description), the twin and the cell."""
    share = FindPackageShare(PACKAGE)
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "params_file",
                default_value=PathJoinSubstitution([share, "config", "nodes.yaml"]),
                description="YAML with the nodes' parameters (twin_node's block: seed, defect rate, ...)",
            ),
            DeclareLaunchArgument("namespace", default_value="", description="namespace of every node"),
            DeclareLaunchArgument(
                "controller_action",
                default_value="/joint_trajectory_controller/follow_joint_trajectory",
                description="FollowJointTrajectory action the twin serves and the planner uses",
            ),
            DeclareLaunchArgument(
                "autostart", default_value="true", description="configure and activate the lifecycle nodes at start"
            ),
            DeclareLaunchArgument(
                "planning_backend",
                default_value="builtin",
                choices=["builtin", "moveit"],
                description="planner backend, as in cell.launch.py",
            ),
            OpaqueFunction(function=_launch_setup),
        ]
    )
