"""The cell in Gazebo (gz sim, Harmonic): the world generated from config/cell.yaml, the arm
spawned from robot_description with gz_ros2_control, bridges, controllers and (optionally)
the factory_ai nodes.

Starts gz sim with worlds/factory_cell.sdf; robot_state_publisher with the URDF whose
ros2_control hardware is swapped to gz_ros2_control/GazeboSimSystem; `ros_gz_sim create` to
spawn the arm at cell.yaml's base pose; ros_gz_bridge for /clock, `camera/image_raw`,
`camera/camera_info` (frame overhead_camera_optical_frame) and `conveyor/cmd_vel`; a static
TF base_link -> overhead_camera_optical_frame; spawners for joint_state_broadcaster
(`joint_states`) and joint_trajectory_controller from config/controllers.yaml once the arm
exists; the belt speed command; and (start_cell:=true) cell.launch.py on simulated time.

    ros2 launch factory_ai sim_gazebo.launch.py              # GUI
    ros2 launch factory_ai sim_gazebo.launch.py gui:=false   # headless server

Needs ros-jazzy-ros-gz and ros-jazzy-gz-ros2-control. The vacuum gripper has no Gazebo
counterpart here: picks only happen in the MuJoCo twin.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from launch import LaunchContext, LaunchDescription
from launch.actions import (
    DeclareLaunchArgument,
    ExecuteProcess,
    IncludeLaunchDescription,
    OpaqueFunction,
    RegisterEventHandler,
    TimerAction,
)
from launch.event_handlers import OnProcessExit
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from factory_ai.nodes.launch_utils import PACKAGE, is_true

ROBOT_NAME = "factory_arm"


def _launch_setup(context: LaunchContext) -> list[Any]:
    # Plain-Python helpers (no ROS inside): tested in test/unit/test_sim_gazebo_files.py.
    from factory_ai.config import load_cell_description
    from factory_ai.sim.gazebo import (
        bridge_arguments,
        bridge_remappings,
        camera_static_tf_arguments,
        gazebo_robot_description,
        spawn_pose_arguments,
    )
    from factory_ai.sim.sdf_world import CONVEYOR_CMD_TOPIC

    def arg(name: str) -> str:
        return LaunchConfiguration(name).perform(context)

    cell = load_cell_description(arg("cell_file"))
    controllers = arg("controllers_file")
    description = gazebo_robot_description(Path(arg("urdf")).read_text(), controllers)
    sim_time = {"use_sim_time": True}
    gz_args = f"-r {arg('world')}" + ("" if is_true(arg("gui")) else " -s --headless-rendering")
    gz = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(
            PathJoinSubstitution([FindPackageShare("ros_gz_sim"), "launch", "gz_sim.launch.py"]).perform(context)
        ),
        launch_arguments={"gz_args": gz_args, "on_exit_shutdown": "true"}.items(),
    )
    rsp = Node(
        package="robot_state_publisher",
        executable="robot_state_publisher",
        parameters=[{"robot_description": description}, sim_time],
        output="screen",
    )
    spawn = Node(
        package="ros_gz_sim",
        executable="create",
        arguments=["-topic", "robot_description", "-name", ROBOT_NAME, *spawn_pose_arguments(cell)],
        output="screen",
    )
    bridge = Node(
        package="ros_gz_bridge",
        executable="parameter_bridge",
        name="gz_bridge",
        arguments=bridge_arguments(),
        remappings=bridge_remappings(),
        parameters=[sim_time],
        output="screen",
    )
    camera_tf = Node(
        package="tf2_ros",
        executable="static_transform_publisher",
        name="overhead_camera_tf",
        arguments=camera_static_tf_arguments(cell),
        parameters=[sim_time],
    )
    spawners = [
        Node(
            package="controller_manager",
            executable="spawner",
            arguments=[name, "--controller-manager", "/controller_manager", "--param-file", controllers],
            parameters=[sim_time],
            output="screen",
        )
        for name in ("joint_state_broadcaster", "joint_trajectory_controller")
    ]
    speed = arg("belt_speed_mps").strip() or str(cell.conveyor.speed_mps)
    belt = ExecuteProcess(
        cmd=["gz", "topic", "-t", CONVEYOR_CMD_TOPIC, "-m", "gz.msgs.Double", "-p", f"data: {float(speed)}"],
        output="screen",
    )
    actions: list[Any] = [
        gz,
        rsp,
        spawn,
        bridge,
        camera_tf,
        # Controllers exist only once gz_ros2_control is loaded with the spawned arm.
        RegisterEventHandler(OnProcessExit(target_action=spawn, on_exit=[*spawners, TimerAction(period=2.0, actions=[belt])])),
    ]
    if is_true(arg("start_cell")):
        actions.append(
            IncludeLaunchDescription(
                PythonLaunchDescriptionSource(
                    PathJoinSubstitution([FindPackageShare(PACKAGE), "launch", "cell.launch.py"]).perform(context)
                ),
                launch_arguments={
                    "params_file": arg("params_file"),
                    "urdf": arg("urdf"),
                    "use_sim_time": "true",
                    "controller_action": "joint_trajectory_controller/follow_joint_trajectory",
                    "autostart": arg("autostart"),
                    "start_robot_state_publisher": "false",
                }.items(),
            )
        )
    return actions


def generate_launch_description() -> LaunchDescription:
    """Launch arguments (each with a default and a description) and the Gazebo cell."""
    share = FindPackageShare(PACKAGE)
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "world",
                default_value=PathJoinSubstitution([share, "worlds", "factory_cell.sdf"]),
                description="gz sim world (generated from cell.yaml by `python -m factory_ai.sim.sdf_world`)",
            ),
            DeclareLaunchArgument(
                "urdf",
                default_value=PathJoinSubstitution([share, "urdf", "factory_arm.urdf"]),
                description="arm URDF; its ros2_control hardware is swapped to gz_ros2_control here",
            ),
            DeclareLaunchArgument(
                "cell_file",
                default_value=PathJoinSubstitution([share, "config", "cell.yaml"]),
                description="cell description (arm base pose, camera frame, belt speed)",
            ),
            DeclareLaunchArgument(
                "controllers_file",
                default_value=PathJoinSubstitution([share, "config", "controllers.yaml"]),
                description="controller_manager and controller parameters (loaded by gz_ros2_control)",
            ),
            DeclareLaunchArgument(
                "params_file",
                default_value=PathJoinSubstitution([share, "config", "nodes.yaml"]),
                description="YAML with the factory_ai nodes' parameters",
            ),
            DeclareLaunchArgument("gui", default_value="true", description="show the gz sim GUI (false: server only)"),
            DeclareLaunchArgument(
                "belt_speed_mps", default_value="", description="belt speed in m/s (empty: cell.yaml's conveyor.speed_mps)"
            ),
            DeclareLaunchArgument(
                "start_cell", default_value="false", description="also start the factory_ai nodes (cell.launch.py)"
            ),
            DeclareLaunchArgument(
                "autostart", default_value="true", description="configure and activate the lifecycle nodes at start"
            ),
            OpaqueFunction(function=_launch_setup),
        ]
    )
