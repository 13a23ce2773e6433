"""ROS 2 Jazzy message definitions that `rosbags`' Jazzy type store does not ship.

rosbags knows the core interfaces (sensor_msgs, geometry_msgs, trajectory_msgs, diagnostic_msgs,
visualization_msgs, rcl_interfaces messages, ...) but not vision_msgs, control_msgs or service
types. The texts below are the field lines of the Jazzy releases (comments dropped), so the type
store serializes them byte-for-byte like a Jazzy node would:

- vision_msgs 4.1.1 (ros-perception/vision_msgs, branch ros2, the version Jazzy ships)
- control_msgs 5.x (ros-controls/control_msgs, branch jazzy): FollowJointTrajectory
- std_srvs (SetBool) and rcl_interfaces (SetParameters) services, split at ``---`` into
  ``_Request`` / ``_Response`` (actions into ``_Goal`` / ``_Result`` / ``_Feedback``) the way
  rosidl names them.
"""

from __future__ import annotations

MSG_DEFS: dict[str, str] = {
    # vision_msgs 4.1.1
    "vision_msgs/msg/Point2D": "float64 x\nfloat64 y\n",
    "vision_msgs/msg/Pose2D": "vision_msgs/Point2D position\nfloat64 theta\n",
    "vision_msgs/msg/BoundingBox2D": "vision_msgs/Pose2D center\nfloat64 size_x\nfloat64 size_y\n",
    "vision_msgs/msg/ObjectHypothesis": "string class_id\nfloat64 score\n",
    "vision_msgs/msg/ObjectHypothesisWithPose": (
        "vision_msgs/ObjectHypothesis hypothesis\ngeometry_msgs/PoseWithCovariance pose\n"
    ),
    "vision_msgs/msg/Detection2D": (
        "std_msgs/Header header\n"
        "vision_msgs/ObjectHypothesisWithPose[] results\n"
        "vision_msgs/BoundingBox2D bbox\n"
        "string id\n"
    ),
    "vision_msgs/msg/Detection2DArray": "std_msgs/Header header\nvision_msgs/Detection2D[] detections\n",
    # control_msgs 5.x (jazzy branch)
    "control_msgs/msg/JointTolerance": (
        "string name\nfloat64 position\nfloat64 velocity\nfloat64 acceleration\n"
    ),
    "control_msgs/msg/JointComponentTolerance": (
        "uint16 X_AXIS=1\nuint16 Y_AXIS=2\nuint16 Z_AXIS=3\nuint16 TRANSLATION=4\nuint16 ROTATION=5\n"
        "string joint_name\nuint16 component\nfloat64 position\nfloat64 velocity\nfloat64 acceleration\n"
    ),
    "control_msgs/action/FollowJointTrajectory_Goal": (
        "trajectory_msgs/JointTrajectory trajectory\n"
        "trajectory_msgs/MultiDOFJointTrajectory multi_dof_trajectory\n"
        "control_msgs/JointTolerance[] path_tolerance\n"
        "control_msgs/JointComponentTolerance[] component_path_tolerance\n"
        "control_msgs/JointTolerance[] goal_tolerance\n"
        "control_msgs/JointComponentTolerance[] component_goal_tolerance\n"
        "builtin_interfaces/Duration goal_time_tolerance\n"
    ),
    "control_msgs/action/FollowJointTrajectory_Result": (
        "int32 SUCCESSFUL=0\nint32 INVALID_GOAL=-1\nint32 INVALID_JOINTS=-2\n"
        "int32 OLD_HEADER_TIMESTAMP=-3\nint32 PATH_TOLERANCE_VIOLATED=-4\n"
        "int32 GOAL_TOLERANCE_VIOLATED=-5\n"
        "int32 error_code\nstring error_string\n"
    ),
    "control_msgs/action/FollowJointTrajectory_Feedback": (
        "std_msgs/Header header\n"
        "string[] joint_names\n"
        "trajectory_msgs/JointTrajectoryPoint desired\n"
        "trajectory_msgs/JointTrajectoryPoint actual\n"
        "trajectory_msgs/JointTrajectoryPoint error\n"
        "string[] multi_dof_joint_names\n"
        "trajectory_msgs/MultiDOFJointTrajectoryPoint multi_dof_desired\n"
        "trajectory_msgs/MultiDOFJointTrajectoryPoint multi_dof_actual\n"
        "trajectory_msgs/MultiDOFJointTrajectoryPoint multi_dof_error\n"
    ),
    # std_srvs
    "std_srvs/srv/SetBool_Request": "bool data\n",
    "std_srvs/srv/SetBool_Response": "bool success\nstring message\n",
    # rcl_interfaces
    "rcl_interfaces/srv/SetParameters_Request": "rcl_interfaces/Parameter[] parameters\n",
    "rcl_interfaces/srv/SetParameters_Response": "rcl_interfaces/SetParametersResult[] results\n",
}
