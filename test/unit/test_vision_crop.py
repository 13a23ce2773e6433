"""canonical_crop: pure, centred, oriented to the part's axis, the same for training and run time."""

from __future__ import annotations

import numpy as np
import pytest
from vision_helpers import FrameRenderer, Lighting, SynthPart, observe_still

from factory_ai.vision import PartTracker, canonical_crop


@pytest.fixture(scope="module")
def renderer(cell):
    return FrameRenderer(cell, seed=3)


def _dot_frame(u: int, v: int) -> np.ndarray:
    img = np.zeros((480, 640, 3), np.uint8)
    img[v - 1 : v + 2, u - 1 : u + 2] = 255
    return img


def _bright_centre(crop: np.ndarray) -> tuple[float, float]:
    w = crop[..., 0].astype(float)
    vs, us = np.mgrid[0 : w.shape[0], 0 : w.shape[1]]
    return float((us * w).sum() / w.sum()), float((vs * w).sum() / w.sum())


def test_crop_is_pure_and_sized():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    before = img.copy()
    a = canonical_crop(img, (300.3, 200.7), 0.7, 64, extent_px=80.0)
    b = canonical_crop(img, (300.3, 200.7), 0.7, 64, extent_px=80.0)
    assert a.shape == (64, 64, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert np.array_equal(img, before)


@pytest.mark.parametrize(
    ("angle_rad", "dot_offset_px"),
    [(0.0, (12, 0)), (np.pi / 2, (0, 12)), (np.pi, (-12, 0)), (-np.pi / 2, (0, -12))],
)
def test_the_crop_x_axis_follows_the_given_image_direction(angle_rad, dot_offset_px):
    """A dot 12 px from the centre along `angle_rad` lands 12 px right of the crop centre."""
    u0, v0 = 320, 240
    img = _dot_frame(u0 + dot_offset_px[0], v0 + dot_offset_px[1])
    crop = canonical_crop(img, (u0, v0), angle_rad, 65)
    assert _bright_centre(crop) == pytest.approx((32 + 12, 32), abs=1e-6)


def test_extent_scales_the_region_into_the_crop():
    """extent = 2 x size: a dot 20 px right of the centre lands 10 px right in the crop."""
    img = _dot_frame(340, 240)
    crop = canonical_crop(img, (320, 240), 0.0, 65, extent_px=130.0)
    assert _bright_centre(crop) == pytest.approx((42, 32), abs=0.1)


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"center_px": (np.nan, 3.0)}, "center_px"),
        ({"center_px": (1.0, 2.0, 3.0)}, "center_px"),
        ({"angle_rad": np.inf}, "angle_rad"),
        ({"size_px": 4}, "size_px"),
        ({"size_px": 64.5}, "size_px"),
        ({"extent_px": -3.0}, "extent_px"),
        ({"rgb": np.zeros((10, 10), np.uint8)}, "shape"),
    ],
)
def test_bad_arguments_raise_value_errors(kwargs, problem):
    args = {"rgb": np.zeros((480, 640, 3), np.uint8), "center_px": (320.0, 240.0), "angle_rad": 0.0, "size_px": 64}
    args.update(kwargs)
    with pytest.raises(ValueError, match=problem):
        canonical_crop(**args)


def test_a_part_looks_the_same_in_its_crop_whatever_its_yaw(cell, renderer):
    """The crop normalizes orientation: a bracket at any yaw gives the same crop, and a crop cut
    with a wrong angle does not."""
    tracker = PartTracker(cell)
    pl = tracker.plane
    p = pl.p_belt_base_m - 0.55 * pl.x_belt_base + 0.03 * pl.y_belt_base
    crops = []
    for yaw in (0.0, 1.1, -2.5):
        (obs,) = observe_still(tracker, renderer.render([SynthPart("bracket", p, yaw)], Lighting(noise_std=0.5)))
        crops.append(obs.crop.astype(float))
    diff_same = max(np.mean(np.abs(c - crops[0])) for c in crops[1:])
    rotated = np.rot90(crops[0]).astype(float)
    diff_wrong = np.mean(np.abs(rotated - crops[0]))
    print(f"\nmean |diff| between yaws {diff_same:.1f} grey levels, against a 90 deg turn {diff_wrong:.1f}")
    assert diff_same < 0.25 * diff_wrong


def test_an_observation_says_how_to_cut_its_crop_again(cell, renderer):
    """The ROS classifier node re-cuts crops from the observation's crop_* fields."""
    tracker = PartTracker(cell)
    pl = tracker.plane
    parts = [
        SynthPart("hex_nut", pl.p_belt_base_m - 0.62 * pl.x_belt_base, 0.3),
        SynthPart("washer", pl.p_belt_base_m - 0.45 * pl.x_belt_base - 0.06 * pl.y_belt_base),
    ]
    frame = renderer.render(parts)
    obs = observe_still(tracker, frame)
    assert len(obs) == 2
    for o in obs:
        again = canonical_crop(frame, o.crop_center_px, o.crop_angle_rad, o.crop.shape[0], extent_px=o.crop_extent_px)
        assert np.array_equal(again, o.crop)
        u0, v0, u1, v1 = o.bbox_px
        assert u0 <= o.crop_center_px[0] <= u1 and v0 <= o.crop_center_px[1] <= v1
