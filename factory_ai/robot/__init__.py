"""Robot model: URDF loading, forward kinematics, Jacobians (single and batched torch) and IK.

Pure Python core (Pinocchio, numpy; torch and pytorch-kinematics load only for batched torch
calls). Never imports rclpy or MuJoCo.
"""

from factory_ai.robot.ik import IKBatchResult, IKOptions, IKResult
from factory_ai.robot.limits import JointLimits, JointLimitsError, load_joint_limits
from factory_ai.robot.model import RobotModel
from factory_ai.robot.urdf import UrdfError

__all__ = [
    "IKBatchResult",
    "IKOptions",
    "IKResult",
    "JointLimits",
    "JointLimitsError",
    "RobotModel",
    "UrdfError",
    "load_joint_limits",
]
