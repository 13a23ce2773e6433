"""Camera model: pixels <-> points on the belt in the base frame, with parallax and distortion."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from factory_ai.vision.camera_model import BeltPlaneModel


@pytest.fixture(scope="module")
def plane(cell):
    return BeltPlaneModel(cell)


def _belt_points(plane: BeltPlaneModel, rng: np.random.Generator, n: int) -> np.ndarray:
    """Random points on the belt surface inside the camera's view."""
    x = rng.uniform(-0.75, -0.35, n)
    y = rng.uniform(-0.14, 0.14, n)
    return plane.p_belt_base_m + x[:, None] * plane.x_belt_base + y[:, None] * plane.y_belt_base


@pytest.mark.parametrize("height_m", [0.0, 0.003, 0.008])
def test_belt_points_survive_the_round_trip_through_pixels(plane, height_m):
    p = _belt_points(plane, np.random.default_rng(0), 200)
    uv = plane.belt_to_pixels(p, height_m)
    assert np.all((uv >= 0) & (uv <= [639, 479]))
    back = plane.pixels_to_belt_base_m(uv, height_m)
    assert np.max(np.abs(back - p)) < 1e-9


def test_principal_point_sees_the_belt_straight_below_the_camera(plane, cell):
    p = plane.pixels_to_belt_base_m(cell.camera.K[:2, 2][None])[0]
    below = cell.camera.T_base_camera[:3, 3].copy()
    below[2] = plane.p_belt_base_m[2]
    assert np.allclose(p, below, atol=1e-12)


def test_image_follows_the_brief_axes(plane):
    """Image u runs along the belt (+x_base), v along -y_base; ~0.78 mm per pixel on the belt."""
    p0 = plane.pixels_to_belt_base_m(np.array([[319.5, 239.5]]))[0]
    du = plane.pixels_to_belt_base_m(np.array([[329.5, 239.5]]))[0] - p0
    dv = plane.pixels_to_belt_base_m(np.array([[319.5, 249.5]]))[0] - p0
    assert du[0] > 0 and abs(du[1]) < 1e-12
    assert dv[1] < 0 and abs(dv[0]) < 1e-12
    assert np.linalg.norm(du) / 10 == pytest.approx(0.70 / 900.0, rel=1e-9)


def test_the_height_of_a_part_top_removes_its_parallax(plane):
    """A nut's top face seen 0.15 m off the optical axis: back-projecting onto the belt would
    miss its footprint by ~1.7 mm; back-projecting at its height finds it exactly."""
    footprint = plane.p_belt_base_m + 0.15 * plane.y_belt_base - 0.55 * plane.x_belt_base
    uv_top = plane.belt_to_pixels(footprint[None], 0.008)
    naive = plane.pixels_to_belt_base_m(uv_top, 0.0)[0]
    exact = plane.pixels_to_belt_base_m(uv_top, 0.008)[0]
    assert np.linalg.norm(naive - footprint) > 1.5e-3
    assert np.linalg.norm(exact - footprint) < 1e-9


def test_lens_distortion_is_undone(cell):
    cam = dataclasses.replace(cell.camera, distortion=np.array([-0.25, 0.08, 0.001, -0.0015, 0.0]))
    plane = BeltPlaneModel(dataclasses.replace(cell, camera=cam))
    p = _belt_points(plane, np.random.default_rng(1), 200)
    uv = plane.belt_to_pixels(p, 0.003)
    undistorted = BeltPlaneModel(cell).belt_to_pixels(p, 0.003)
    assert np.max(np.linalg.norm(uv - undistorted, axis=1)) > 5.0  # the lens really bends
    back = plane.pixels_to_belt_base_m(uv, 0.003)
    assert np.max(np.linalg.norm(back - p, axis=1)) < 2e-5  # undistortPoints iterates: 0.02 mm


def test_image_angles_and_belt_yaws_are_inverse(plane):
    rng = np.random.default_rng(2)
    p = _belt_points(plane, rng, 50)
    yaw = rng.uniform(-np.pi, np.pi, 50)
    ang = plane.image_angle_rad(p, yaw, 0.003)
    uv = plane.belt_to_pixels(p, 0.003)
    back = plane.yaw_base_rad(uv, ang, 0.003)
    assert np.max(np.abs(np.angle(np.exp(1j * (back - yaw))))) < 1e-9
    # Looking down mirrors the belt: a counter-clockwise yaw turns clockwise in the image.
    assert np.allclose(np.angle(np.exp(1j * (ang + yaw))), 0.0, atol=1e-6)  # rpy = 3.141593, not pi


def test_belt_region_spans_the_belt_width_in_the_image(plane):
    poly = plane.belt_polygon_px()
    v_edges = sorted({round(v) for v in (poly[:, 1].min(), poly[:, 1].max())})
    # Belt edges at y = 0.30 and 0.60 m, 0.70 m below the camera: v = 239.5 +- 900 * 0.15 / 0.7.
    assert v_edges == [round(239.5 - 900 * 0.15 / 0.7), round(239.5 + 900 * 0.15 / 0.7)]
