"""MoveIt 2 for the factory_ai arm: move_group (and RViz behind `use_rviz`) from config/moveit.

The parameters come from `moveit_configs_utils.MoveItConfigsBuilder` pointed at the files
`factory-ai moveit-setup` wrote (SRDF, kinematics, joint limits, controllers, Pilz limits); the
planning pipelines (OMPL, Pilz) are loaded from the same folder, since the builder only looks for
them in `<package>/config/`. Robot state (/joint_states, TF) comes from `cell.launch.py` or the
integrator's own bringup; this file starts no controller.

    ros2 launch factory_ai moveit.launch.py use_rviz:=true
    ros2 launch factory_ai moveit.launch.py moveit_config_dir:=/path/to/config urdf:=/path/to/arm.urdf
"""

from __future__ import annotations

from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

PACKAGE = "factory_ai"


def _moveit_nodes(context: LaunchContext) -> list:
    """move_group and RViz with the parameters of the chosen config folder."""
    from moveit_configs_utils import MoveItConfigsBuilder

    from factory_ai.moveit_config import planning_pipeline_params, srdf_path

    share = Path(get_package_share_directory(PACKAGE))
    config_dir = Path(LaunchConfiguration("moveit_config_dir").perform(context) or share / "config" / "moveit")
    urdf = Path(LaunchConfiguration("urdf").perform(context) or share / "urdf" / "factory_arm.urdf")
    srdf = srdf_path(config_dir)
    use_sim_time = LaunchConfiguration("use_sim_time").perform(context).lower() in ("true", "1")

    # Absolute file paths: the builder joins them onto the package's share directory unchanged.
    moveit_config = (
        MoveItConfigsBuilder(srdf.stem, package_name=PACKAGE)
        .robot_description(file_path=str(urdf))
        .robot_description_semantic(file_path=str(srdf))
        .robot_description_kinematics(file_path=str(config_dir / "kinematics.yaml"))
        .joint_limits(file_path=str(config_dir / "joint_limits.yaml"))
        .trajectory_execution(file_path=str(config_dir / "moveit_controllers.yaml"), moveit_manage_controllers=False)
        .pilz_cartesian_limits(file_path=str(config_dir / "pilz_cartesian_limits.yaml"))
        .planning_pipelines(pipelines=["ompl", "pilz_industrial_motion_planner"])
        .planning_scene_monitor(publish_robot_description=True, publish_robot_description_semantic=True)
        .to_moveit_configs()
    )
    moveit_config.planning_pipelines = planning_pipeline_params(config_dir)

    move_group = Node(
        package="moveit_ros_move_group",
        executable="move_group",
        output="screen",
        parameters=[
            moveit_config.to_dict(),
            {"use_sim_time": use_sim_time, "publish_robot_description_semantic": True},
        ],
    )
    rviz_config = LaunchConfiguration("rviz_config").perform(context)
    rviz = Node(
        package="rviz2",
        executable="rviz2",
        output="log",
        arguments=["-d", rviz_config] if rviz_config else [],
        parameters=[
            moveit_config.robot_description,
            moveit_config.robot_description_semantic,
            moveit_config.robot_description_kinematics,
            moveit_config.planning_pipelines,
            moveit_config.joint_limits,
            {"use_sim_time": use_sim_time},
        ],
        condition=IfCondition(LaunchConfiguration("use_rviz")),
    )
    return [move_group, rviz]


def generate_launch_description() -> LaunchDescription:
    """Arguments, then move_group (+ RViz)."""
    return LaunchDescription(
        [
            DeclareLaunchArgument("use_rviz", default_value="false", description="also start RViz"),
            DeclareLaunchArgument(
                "rviz_config", default_value="", description="RViz config file; empty = RViz's default layout"
            ),
            DeclareLaunchArgument("use_sim_time", default_value="false", description="use /clock (the twin or Gazebo)"),
            DeclareLaunchArgument(
                "moveit_config_dir",
                default_value="",
                description="folder written by `factory-ai moveit-setup`; empty = the package's config/moveit",
            ),
            DeclareLaunchArgument(
                "urdf", default_value="", description="robot URDF; empty = the package's urdf/factory_arm.urdf"
            ),
            OpaqueFunction(function=_moveit_nodes),
        ]
    )
