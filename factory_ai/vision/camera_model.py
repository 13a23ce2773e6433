"""Pinhole camera model between image pixels and the conveyor plane in the arm's base frame.

`T_base_camera` maps points in the camera's optical frame (z forward, x right, y down) into the
base frame. Pixels are (u, v) = (column, row) with (0, 0) at the centre of the top-left pixel,
the OpenCV convention the intrinsics `K` use.
"""

from __future__ import annotations

import cv2
import numpy as np

from factory_ai.config import CameraDescription, CellDescription


def rays_camera_from_pixels(uv_px: np.ndarray, K: np.ndarray, distortion: np.ndarray) -> np.ndarray:
    """Viewing rays through pixels, undistorted, as directions with z = 1 in the camera frame.

    Args:
        uv_px: (N, 2) pixel coordinates (u, v).
        K: (3, 3) intrinsic matrix.
        distortion: (5,) plumb_bob coefficients k1 k2 p1 p2 k3.

    Returns:
        (N, 3) ray directions (x/z, y/z, 1) in the optical frame.
    """
    uv = np.asarray(uv_px, dtype=np.float64).reshape(-1, 1, 2)
    if uv.shape[0] == 0:
        return np.zeros((0, 3))
    xy = cv2.undistortPoints(uv, np.asarray(K, dtype=np.float64), np.asarray(distortion, dtype=np.float64))
    xy = xy.reshape(-1, 2)
    return np.column_stack([xy, np.ones(len(xy))])


def intersect_rays_plane_base_m(
    T_base_camera: np.ndarray,
    rays_camera: np.ndarray,
    p_plane_base_m: np.ndarray,
    n_plane_base: np.ndarray,
) -> np.ndarray:
    """Where camera rays meet a plane, in the base frame.

    Args:
        T_base_camera: (4, 4) camera optical frame into base.
        rays_camera: (N, 3) ray directions in the camera frame.
        p_plane_base_m: (N, 3) or (3,) a point on the plane per ray (m, base frame).
        n_plane_base: (3,) plane normal (base frame).

    Returns:
        (N, 3) intersection points (m, base frame); NaN rows where a ray is parallel to the
        plane or the plane lies behind the camera.
    """
    R = T_base_camera[:3, :3]
    o = T_base_camera[:3, 3]
    d = np.asarray(rays_camera, dtype=np.float64) @ R.T
    n = np.asarray(n_plane_base, dtype=np.float64)
    denom = d @ n
    num = (np.asarray(p_plane_base_m, dtype=np.float64) - o) @ n
    with np.errstate(divide="ignore", invalid="ignore"):
        s = num / denom
    s = np.where((np.abs(denom) > 1e-12) & (s > 0.0), s, np.nan)
    return o + s[:, None] * d


def project_base_to_pixels(p_base_m: np.ndarray, camera: CameraDescription) -> np.ndarray:
    """Project base-frame points into the image (with lens distortion).

    Args:
        p_base_m: (N, 3) points in the base frame (m).
        camera: the cell's camera (intrinsics, distortion, `T_base_camera`).

    Returns:
        (N, 2) pixel coordinates (u, v); points behind the camera come back as NaN.
    """
    p = np.asarray(p_base_m, dtype=np.float64).reshape(-1, 3)
    T_camera_base = np.linalg.inv(camera.T_base_camera)
    p_cam = p @ T_camera_base[:3, :3].T + T_camera_base[:3, 3]
    if len(p_cam) == 0:
        return np.zeros((0, 2))
    uv, _ = cv2.projectPoints(p_cam.reshape(-1, 1, 3), np.zeros(3), np.zeros(3), camera.K, camera.distortion)
    uv = uv.reshape(-1, 2)
    uv[p_cam[:, 2] <= 0.0] = np.nan
    return uv


class BeltPlaneModel:
    """Maps image points of parts to their centre on the belt surface, in the base frame.

    A part's outline is seen at the height of its top face, not at the belt, so a pixel is
    back-projected onto the plane `height_m` above the belt and the result dropped along the
    belt normal to the belt surface: this removes the parallax of tall parts away from the
    optical axis (5 mm of height 0.2 m off-axis would otherwise cost 1.4 mm).
    """

    def __init__(self, cell: CellDescription) -> None:
        self.camera = cell.camera
        T_base_belt = cell.T_base_belt
        self.T_base_camera = np.asarray(cell.camera.T_base_camera, dtype=np.float64)
        self.p_belt_base_m = T_base_belt[:3, 3].copy()
        self.n_belt_base = T_base_belt[:3, 2].copy()
        self.x_belt_base = T_base_belt[:3, 0].copy()  # travel direction
        self.y_belt_base = T_base_belt[:3, 1].copy()
        self.belt_length_m = cell.conveyor.length_m
        self.belt_width_m = cell.conveyor.width_m
        self.rail_height_m = cell.conveyor.rail_height_m

    def pixels_to_belt_base_m(self, uv_px: np.ndarray, height_m: np.ndarray | float = 0.0) -> np.ndarray:
        """Points on the belt surface below image points seen `height_m` above the belt.

        Args:
            uv_px: (N, 2) pixel coordinates.
            height_m: (N,) or scalar height above the belt of the surface seen at each pixel.

        Returns:
            (N, 3) points on the belt surface (m, base frame).
        """
        uv = np.asarray(uv_px, dtype=np.float64).reshape(-1, 2)
        h = np.broadcast_to(np.asarray(height_m, dtype=np.float64), (len(uv),))
        rays = rays_camera_from_pixels(uv, self.camera.K, self.camera.distortion)
        p_plane = self.p_belt_base_m + h[:, None] * self.n_belt_base
        p_seen = intersect_rays_plane_base_m(self.T_base_camera, rays, p_plane, self.n_belt_base)
        return p_seen - h[:, None] * self.n_belt_base

    def belt_to_pixels(self, p_base_m: np.ndarray, height_m: np.ndarray | float = 0.0) -> np.ndarray:
        """Pixels where points on the belt surface appear when raised `height_m` above it.

        Args:
            p_base_m: (N, 3) points on the belt surface (m, base frame).
            height_m: (N,) or scalar height above the belt.

        Returns:
            (N, 2) pixel coordinates.
        """
        p = np.asarray(p_base_m, dtype=np.float64).reshape(-1, 3)
        h = np.broadcast_to(np.asarray(height_m, dtype=np.float64), (len(p),))
        return project_base_to_pixels(p + h[:, None] * self.n_belt_base, self.camera)

    def yaw_base_rad(self, uv_px: np.ndarray, angle_image_rad: np.ndarray, height_m: np.ndarray | float) -> np.ndarray:
        """Yaw about the belt normal (rad, from the belt's +x) of image directions at image points.

        Args:
            uv_px: (N, 2) pixel where each direction starts.
            angle_image_rad: (N,) direction in the image, from +u towards +v.
            height_m: (N,) or scalar height above the belt of the surface seen.

        Returns:
            (N,) yaw in the base frame measured in the belt plane, in [-pi, pi).
        """
        uv = np.asarray(uv_px, dtype=np.float64).reshape(-1, 2)
        a = np.asarray(angle_image_rad, dtype=np.float64).reshape(-1)
        step_px = 5.0  # long enough to be exact in float64, short enough to stay local
        tip = uv + step_px * np.column_stack([np.cos(a), np.sin(a)])
        h = np.broadcast_to(np.asarray(height_m, dtype=np.float64), (len(uv),))
        p = self.pixels_to_belt_base_m(np.concatenate([uv, tip]), np.concatenate([h, h]))
        d = p[len(uv) :] - p[: len(uv)]
        return np.arctan2(d @ self.y_belt_base, d @ self.x_belt_base)

    def image_angle_rad(self, p_base_m: np.ndarray, yaw_rad: np.ndarray, height_m: np.ndarray | float) -> np.ndarray:
        """Image direction (rad, from +u towards +v) of a belt-plane direction at a point.

        Args:
            p_base_m: (N, 3) points on the belt surface (m, base frame).
            yaw_rad: (N,) directions in the belt plane, from the belt's +x.
            height_m: (N,) or scalar height above the belt of the surface seen.

        Returns:
            (N,) image angles; inverse of `yaw_base_rad`.
        """
        p = np.asarray(p_base_m, dtype=np.float64).reshape(-1, 3)
        yaw = np.asarray(yaw_rad, dtype=np.float64).reshape(-1)
        step_m = 0.005
        d = np.cos(yaw)[:, None] * self.x_belt_base + np.sin(yaw)[:, None] * self.y_belt_base
        h = np.broadcast_to(np.asarray(height_m, dtype=np.float64), (len(p),))
        uv = self.belt_to_pixels(np.concatenate([p, p + step_m * d]), np.concatenate([h, h]))
        duv = uv[len(p) :] - uv[: len(p)]
        return np.arctan2(duv[:, 1], duv[:, 0])

    def belt_polygon_px(self, inset_m: float = 0.0) -> np.ndarray:
        """Outline of the belt surface between the rails in the image, as a polygon.

        The side rails stand `rail_height_m` above the belt edges. Seen from above the belt
        their inner faces lie outside the belt's outline; seen from beside the belt the near
        rail's top edge hides a strip of it. Each edge sample takes whichever of the two is
        nearer to the belt's centreline in the image.

        Args:
            inset_m: margin inside the belt's edges (m).

        Returns:
            (M, 2) float pixel polygon (may extend beyond the image).
        """
        half_l = 0.5 * self.belt_length_m
        half_w = 0.5 * self.belt_width_m - inset_m
        xs = np.linspace(-half_l, half_l, 41)
        centre = self.p_belt_base_m + xs[:, None] * self.x_belt_base
        uv_centre = self.belt_to_pixels(centre, 0.0)
        outline = []
        for side in (-1.0, 1.0):
            edge = centre + side * half_w * self.y_belt_base
            uv_low = self.belt_to_pixels(edge, 0.0)
            uv_high = self.belt_to_pixels(edge, self.rail_height_m)
            high_hides = np.linalg.norm(uv_high - uv_centre, axis=1) < np.linalg.norm(uv_low - uv_centre, axis=1)
            uv = np.where(high_hides[:, None], uv_high, uv_low)
            outline.append(uv if side < 0 else uv[::-1])
        poly = np.concatenate(outline)
        return poly[np.all(np.isfinite(poly), axis=1)]
