"""Rigid transforms as 4x4 numpy arrays. `T_a_b` maps points in frame b into frame a."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation


def T_from_xyz_rpy(xyz: np.ndarray | list[float], rpy: np.ndarray | list[float]) -> np.ndarray:
    """Homogeneous transform from a translation (m) and URDF fixed-axis roll-pitch-yaw (rad)."""
    T = np.eye(4)
    T[:3, :3] = Rotation.from_euler("xyz", np.asarray(rpy, dtype=float)).as_matrix()
    T[:3, 3] = np.asarray(xyz, dtype=float)
    return T


def xyz_rpy_from_T(T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of `T_from_xyz_rpy`: translation (m) and roll-pitch-yaw (rad)."""
    return T[:3, 3].copy(), Rotation.from_matrix(T[:3, :3]).as_euler("xyz")


def T_inv(T: np.ndarray) -> np.ndarray:
    """Inverse of a rigid transform (batched over leading dims)."""
    R = T[..., :3, :3]
    Rt = np.swapaxes(R, -1, -2)
    out = np.zeros_like(T)
    out[..., :3, :3] = Rt
    out[..., :3, 3] = -(Rt @ T[..., :3, 3:4])[..., 0]
    out[..., 3, 3] = 1.0
    return out


def transform_points(T_a_b: np.ndarray, p_b: np.ndarray) -> np.ndarray:
    """Map points (..., 3) in frame b into frame a."""
    p_b = np.asarray(p_b, dtype=float)
    return p_b @ T_a_b[:3, :3].T + T_a_b[:3, 3]


def quat_xyzw_from_T(T: np.ndarray) -> np.ndarray:
    """Rotation part of T as a unit quaternion in ROS order (x, y, z, w)."""
    return Rotation.from_matrix(T[:3, :3]).as_quat()


def T_from_xyz_quat_xyzw(xyz: np.ndarray | list[float], quat_xyzw: np.ndarray | list[float]) -> np.ndarray:
    """Homogeneous transform from a translation (m) and a ROS-order quaternion (x, y, z, w)."""
    T = np.eye(4)
    T[:3, :3] = Rotation.from_quat(np.asarray(quat_xyzw, dtype=float)).as_matrix()
    T[:3, 3] = np.asarray(xyz, dtype=float)
    return T


def wrap_angle_rad(a: np.ndarray | float) -> np.ndarray | float:
    """Wrap angles to [-pi, pi)."""
    return (np.asarray(a) + np.pi) % (2.0 * np.pi) - np.pi
