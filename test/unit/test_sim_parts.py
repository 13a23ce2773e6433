"""Procedural parts and flaws: pure functions of (rng, shape, defect type, severity)."""

import numpy as np
import pytest

from factory_ai.sim.parts import draw_part_appearance, part_mesh, part_texture_rgb, shape_geometry
from factory_ai.sim.types import PartShape
from factory_ai.types import DefectType

SHAPES = list(PartShape)
FLAWS = [DefectType.CRACK, DefectType.CHIP, DefectType.HOLE, DefectType.SCRATCH]


def _texel_of(shape, xy_m, tex_px=256):
    geo = shape_geometry(shape)
    rel = (np.asarray(xy_m) - geo.tex_center_m) / geo.tex_size_m
    return int((0.5 - rel[1]) * tex_px), int((rel[0] + 0.5) * tex_px)  # row, col


@pytest.mark.parametrize("shape", SHAPES)
def test_parts_are_metal_sized_and_meshes_are_consistent(shape):
    geo = shape_geometry(shape)
    extent = np.ptp(geo.outline_m, axis=0).max()
    assert 0.030 <= extent <= 0.060, f"{shape} is {extent * 1000:.0f} mm across"
    verts, faces, uv = part_mesh(shape)
    assert faces.min() == 0 and faces.max() == len(verts) - 1
    assert np.all((uv >= 0.0) & (uv <= 1.0))
    assert np.isclose(verts[:, 2].max(), geo.thickness_m) and np.isclose(verts[:, 2].min(), 0.0)


@pytest.mark.parametrize("defect", FLAWS)
def test_same_rng_seed_gives_the_same_flawed_part(defect):
    a = draw_part_appearance(np.random.default_rng(7), PartShape.BRACKET, defect, 0.6)
    b = draw_part_appearance(np.random.default_rng(7), PartShape.BRACKET, defect, 0.6)
    c = draw_part_appearance(np.random.default_rng(8), PartShape.BRACKET, defect, 0.6)
    assert np.array_equal(part_texture_rgb(a), part_texture_rgb(b))
    assert not np.array_equal(part_texture_rgb(a), part_texture_rgb(c))
    assert a.defect_type is defect and a.defective


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("defect", FLAWS)
def test_flaw_changes_texture_only_around_its_ground_truth_location(shape, defect):
    app = draw_part_appearance(np.random.default_rng(3), shape, defect, 0.15)  # a subtle one
    flawed = part_texture_rgb(app).astype(int)
    clean = part_texture_rgb(app.without_defect()).astype(int)
    diff = np.abs(flawed - clean).max(axis=2)
    assert diff.max() >= 25, f"subtle {defect.value} on a {shape.value} barely changes the texture"
    rows, cols = np.nonzero(diff > 10)
    r, c = _texel_of(shape, app.defect.center_m)
    geo = shape_geometry(shape)
    px_per_m = 256 / geo.tex_size_m
    far = np.hypot(rows - r, cols - c) > 0.022 * px_per_m  # nothing changes 22 mm from the flaw
    assert not far.any()


def test_good_parts_vary_so_a_texture_difference_is_not_a_defect():
    rng = np.random.default_rng(0)
    a, b = (part_texture_rgb(draw_part_appearance(rng, PartShape.WASHER)) for _ in range(2))
    assert np.abs(a.astype(int) - b.astype(int)).mean() > 3.0


def test_hairline_crack_is_thin():
    app = draw_part_appearance(np.random.default_rng(5), PartShape.WASHER, DefectType.CRACK, 0.0)
    # Gaussian sigma 0.1 mm: about a pixel wide at the camera's 0.78 mm/px, yet dark.
    assert app.defect.width_m <= 0.00012
    assert app.defect.contrast >= 0.5


def test_anomaly_is_not_a_drawable_flaw():
    with pytest.raises(ValueError, match="ANOMALY"):
        draw_part_appearance(np.random.default_rng(0), PartShape.WASHER, DefectType.ANOMALY, 0.5)
