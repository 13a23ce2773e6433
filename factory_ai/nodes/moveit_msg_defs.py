"""ROS 2 Jazzy .msg texts of moveit_msgs/PlanningScene and everything it needs, for rosbags.

rosbags' Jazzy type store ships shape_msgs, sensor_msgs, trajectory_msgs and geometry_msgs but
not moveit_msgs, object_recognition_msgs or octomap_msgs. The texts below are the field lines of
the releases Jazzy ships (comments dropped, types fully qualified), so a rosbags type store with
them registered serializes a PlanningScene byte-for-byte like a Jazzy node:

- moveit_msgs 2.6.0 (moveit/moveit_msgs, tag 2.6.0, branch ros2): PlanningScene, RobotState,
  AttachedCollisionObject, CollisionObject, PlanningSceneWorld, AllowedCollisionMatrix,
  AllowedCollisionEntry, ObjectColor, LinkPadding, LinkScale, PlanningSceneComponents,
  RobotTrajectory; services GetPlanningScene and ApplyPlanningScene;
- object_recognition_msgs 2.0.0 (wg-perception/object_recognition_msgs, branch ros2): ObjectType;
- octomap_msgs 2.0.0 (OctoMap/octomap_msgs, branch ros2): Octomap, OctomapWithPose;
- shape_msgs (ros2/common_interfaces, branch jazzy): SolidPrimitive, Mesh, MeshTriangle, Plane.
  The type store already has these; they are here so that a store without them works too, and
  a test checks they equal the store's.
"""

from __future__ import annotations

from typing import Any

MOVEIT_MSG_DEFS: dict[str, str] = {
    # shape_msgs (jazzy)
    "shape_msgs/msg/SolidPrimitive": (
        "uint8 BOX=1\nuint8 SPHERE=2\nuint8 CYLINDER=3\nuint8 CONE=4\nuint8 PRISM=5\n"
        "uint8 type\n"
        "float64[<=3] dimensions\n"
        "uint8 BOX_X=0\nuint8 BOX_Y=1\nuint8 BOX_Z=2\nuint8 SPHERE_RADIUS=0\n"
        "uint8 CYLINDER_HEIGHT=0\nuint8 CYLINDER_RADIUS=1\nuint8 CONE_HEIGHT=0\nuint8 CONE_RADIUS=1\n"
        "uint8 PRISM_HEIGHT=0\n"
        "geometry_msgs/Polygon polygon\n"
    ),
    "shape_msgs/msg/MeshTriangle": "uint32[3] vertex_indices\n",
    "shape_msgs/msg/Mesh": "shape_msgs/MeshTriangle[] triangles\ngeometry_msgs/Point[] vertices\n",
    "shape_msgs/msg/Plane": "float64[4] coef\n",
    # object_recognition_msgs 2.0.0
    "object_recognition_msgs/msg/ObjectType": "string key\nstring db\n",
    # octomap_msgs 2.0.0
    "octomap_msgs/msg/Octomap": (
        "std_msgs/Header header\nbool binary\nstring id\nfloat64 resolution\nint8[] data\n"
    ),
    "octomap_msgs/msg/OctomapWithPose": (
        "std_msgs/Header header\ngeometry_msgs/Pose origin\noctomap_msgs/Octomap octomap\n"
    ),
    # moveit_msgs 2.6.0
    "moveit_msgs/msg/CollisionObject": (
        "std_msgs/Header header\n"
        "geometry_msgs/Pose pose\n"
        "string id\n"
        "object_recognition_msgs/ObjectType type\n"
        "shape_msgs/SolidPrimitive[] primitives\n"
        "geometry_msgs/Pose[] primitive_poses\n"
        "shape_msgs/Mesh[] meshes\n"
        "geometry_msgs/Pose[] mesh_poses\n"
        "shape_msgs/Plane[] planes\n"
        "geometry_msgs/Pose[] plane_poses\n"
        "string[] subframe_names\n"
        "geometry_msgs/Pose[] subframe_poses\n"
        "byte ADD=0\nbyte REMOVE=1\nbyte APPEND=2\nbyte MOVE=3\n"
        "byte operation\n"
    ),
    "moveit_msgs/msg/AttachedCollisionObject": (
        "string link_name\n"
        "moveit_msgs/CollisionObject object\n"
        "string[] touch_links\n"
        "trajectory_msgs/JointTrajectory detach_posture\n"
        "float64 weight\n"
    ),
    "moveit_msgs/msg/RobotState": (
        "sensor_msgs/JointState joint_state\n"
        "sensor_msgs/MultiDOFJointState multi_dof_joint_state\n"
        "moveit_msgs/AttachedCollisionObject[] attached_collision_objects\n"
        "bool is_diff\n"
    ),
    "moveit_msgs/msg/AllowedCollisionEntry": "bool[] enabled\n",
    "moveit_msgs/msg/AllowedCollisionMatrix": (
        "string[] entry_names\n"
        "moveit_msgs/AllowedCollisionEntry[] entry_values\n"
        "string[] default_entry_names\n"
        "bool[] default_entry_values\n"
    ),
    "moveit_msgs/msg/LinkPadding": "string link_name\nfloat64 padding\n",
    "moveit_msgs/msg/LinkScale": "string link_name\nfloat64 scale\n",
    "moveit_msgs/msg/ObjectColor": "string id\nstd_msgs/ColorRGBA color\n",
    "moveit_msgs/msg/PlanningSceneWorld": (
        "moveit_msgs/CollisionObject[] collision_objects\noctomap_msgs/OctomapWithPose octomap\n"
    ),
    "moveit_msgs/msg/PlanningScene": (
        "string name\n"
        "moveit_msgs/RobotState robot_state\n"
        "string robot_model_name\n"
        "geometry_msgs/TransformStamped[] fixed_frame_transforms\n"
        "moveit_msgs/AllowedCollisionMatrix allowed_collision_matrix\n"
        "moveit_msgs/LinkPadding[] link_padding\n"
        "moveit_msgs/LinkScale[] link_scale\n"
        "moveit_msgs/ObjectColor[] object_colors\n"
        "moveit_msgs/PlanningSceneWorld world\n"
        "bool is_diff\n"
    ),
    "moveit_msgs/msg/PlanningSceneComponents": (
        "uint32 SCENE_SETTINGS=1\nuint32 ROBOT_STATE=2\nuint32 ROBOT_STATE_ATTACHED_OBJECTS=4\n"
        "uint32 WORLD_OBJECT_NAMES=8\nuint32 WORLD_OBJECT_GEOMETRY=16\nuint32 OCTOMAP=32\n"
        "uint32 TRANSFORMS=64\nuint32 ALLOWED_COLLISION_MATRIX=128\nuint32 LINK_PADDING_AND_SCALING=256\n"
        "uint32 OBJECT_COLORS=512\n"
        "uint32 components\n"
    ),
    "moveit_msgs/msg/RobotTrajectory": (
        "trajectory_msgs/JointTrajectory joint_trajectory\n"
        "trajectory_msgs/MultiDOFJointTrajectory multi_dof_joint_trajectory\n"
    ),
    "moveit_msgs/srv/GetPlanningScene_Request": "moveit_msgs/PlanningSceneComponents components\n",
    "moveit_msgs/srv/GetPlanningScene_Response": "moveit_msgs/PlanningScene scene\n",
    "moveit_msgs/srv/ApplyPlanningScene_Request": "moveit_msgs/PlanningScene scene\n",
    "moveit_msgs/srv/ApplyPlanningScene_Response": "bool success\n",
}

#: Short attribute name -> full type name, for the message namespaces of `planning_scene`.
MOVEIT_TYPE_NAMES: dict[str, str] = {
    "Header": "std_msgs/msg/Header",
    "ColorRGBA": "std_msgs/msg/ColorRGBA",
    "Point": "geometry_msgs/msg/Point",
    "Point32": "geometry_msgs/msg/Point32",
    "Polygon": "geometry_msgs/msg/Polygon",
    "Quaternion": "geometry_msgs/msg/Quaternion",
    "Pose": "geometry_msgs/msg/Pose",
    "JointState": "sensor_msgs/msg/JointState",
    "JointTrajectory": "trajectory_msgs/msg/JointTrajectory",
    "JointTrajectoryPoint": "trajectory_msgs/msg/JointTrajectoryPoint",
    "Duration": "builtin_interfaces/msg/Duration",
    "Time": "builtin_interfaces/msg/Time",
    **{name.rsplit("/", 1)[1]: name for name in MOVEIT_MSG_DEFS},
}


def register_moveit_types(typestore: Any) -> Any:
    """Register every definition above into a rosbags type store (skipping ones it has); returns it."""
    from rosbags.typesys import get_types_from_msg

    types: dict = {}
    for name, text in MOVEIT_MSG_DEFS.items():
        for parsed_name, typedef in get_types_from_msg(text, name).items():
            # rosbags files "pkg/srv/X" under "pkg/srv/msg/X"; keep the name rosidl gives it.
            full = parsed_name.replace("/srv/msg/", "/srv/")
            if full not in typestore.types:
                types[full] = typedef
    typestore.register(types)
    return typestore
