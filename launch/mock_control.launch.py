"""The cell against ros2_control with mock hardware: the very joint_trajectory_controller
integrators run, fed by the URDF's `mock_components/GenericSystem`.

Starts robot_state_publisher (publishes `robot_description`, which the Jazzy controller_manager
reads), `ros2_control_node` with config/controllers.yaml, spawners for joint_state_broadcaster
and joint_trajectory_controller, and (start_cell:=true) cell.launch.py pointed at that controller.

    ros2 launch factory_ai mock_control.launch.py
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

from factory_ai.nodes.launch_utils import PACKAGE, is_true


def _launch_setup(context: LaunchContext) -> list[Any]:
    def arg(name: str) -> str:
        return LaunchConfiguration(name).perform(context)

    namespace, urdf, controllers = arg("namespace"), arg("urdf"), arg("controllers_file")
    controller_manager = f"/{namespace.strip('/')}/controller_manager" if namespace.strip("/") else "/controller_manager"
    actions: list[Any] = [
        Node(
            package="robot_state_publisher",
            executable="robot_state_publisher",
            namespace=namespace,
            parameters=[{"robot_description": Path(urdf).read_text()}],
            output="screen",
        ),
        Node(
            package="controller_manager",
            executable="ros2_control_node",
            namespace=namespace,
            parameters=[controllers],
            # Jazzy's controller_manager reads the URDF from the `robot_description` topic;
            # older releases listened on ~/robot_description.
            remappings=[("~/robot_description", "robot_description")],
            output="screen",
        ),
    ]
    for controller in ("joint_state_broadcaster", "joint_trajectory_controller"):
        actions.append(
            Node(
                package="controller_manager",
                executable="spawner",
                namespace=namespace,
                arguments=[controller, "--controller-manager", controller_manager, "--param-file", controllers],
                output="screen",
            )
        )
    if is_true(arg("start_cell")):
        actions.append(
            IncludeLaunchDescription(
                PythonLaunchDescriptionSource(
                    PathJoinSubstitution([FindPackageShare(PACKAGE), "launch", "cell.launch.py"]).perform(context)
                ),
                launch_arguments={
                    "params_file": arg("params_file"),
                    "urdf": urdf,
                    "namespace": namespace,
                    "use_sim_time": "false",
                    # relative: resolves to the controller in this namespace
                    "controller_action": "joint_trajectory_controller/follow_joint_trajectory",
                    "autostart": arg("autostart"),
                    "start_robot_state_publisher": "false",
                }.items(),
            )
        )
    return actions


def generate_launch_description() -> LaunchDescription:
    """Launch arguments (each with a default and a description), ros2_control and the cell."""
    share = FindPackageShare(PACKAGE)
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "urdf",
                default_value=PathJoinSubstitution([share, "urdf", "factory_arm.urdf"]),
                description="URDF with a <ros2_control> block (mock_components/GenericSystem by default)",
            ),
            DeclareLaunchArgument(
                "controllers_file",
                default_value=PathJoinSubstitution([share, "config", "controllers.yaml"]),
                description="controller_manager and controller parameters",
            ),
            DeclareLaunchArgument(
                "params_file",
                default_value=PathJoinSubstitution([share, "config", "nodes.yaml"]),
                description="YAML with the factory_ai nodes' parameters",
            ),
            DeclareLaunchArgument("namespace", default_value="", description="namespace of every node"),
            DeclareLaunchArgument(
                "start_cell", default_value="true", description="also start the factory_ai nodes (cell.launch.py)"
            ),
            DeclareLaunchArgument(
                "autostart", default_value="true", description="configure and activate the lifecycle nodes at start"
            ),
            OpaqueFunction(function=_launch_setup),
        ]
    )
