"""The overhead camera: geometry from cell.yaml, depth, visible flaws, seeded realism, sizes."""

import argparse
import dataclasses

import cv2
import numpy as np
import pytest
from sim_helpers import quiet_config

from factory_ai.sim import CellSim
from factory_ai.sim.dataset import label_parts, project_base_points, render_flaw_pairs, render_labeled_scenes
from factory_ai.sim.parts import draw_part_appearance
from factory_ai.types import DefectType


@pytest.fixture(scope="module")
def sim(cell):
    s = CellSim(cell, quiet_config(belt_speed_mps=0.0))
    yield s
    s.close()


def _part_blob_centroid(rgb: np.ndarray) -> np.ndarray:
    mask = rgb.mean(axis=2) > 90  # metal against the dark belt (rails cropped below)
    mask[:70], mask[-70:] = False, False
    ys, xs = np.nonzero(mask)
    return np.array([xs.mean(), ys.mean()])


def test_frame_shapes_and_depth_in_metres(sim, cell):
    sim.reset(0)
    sim.spawn_part("hex_nut", p_base_m=cell.camera.T_base_camera[:2, 3])
    f = sim.render_camera()
    assert f.rgb.shape == (480, 640, 3) and f.rgb.dtype == np.uint8
    assert f.depth_m.shape == (480, 640) and f.depth_m.dtype == np.float32
    belt_z = (sim.T_base_world @ sim.T_world_belt)[2, 3]
    cam_to_belt = cell.camera.T_base_camera[2, 3] - belt_z
    assert f.depth_m[240, 100] == pytest.approx(cam_to_belt, abs=0.002)
    label = label_parts(cell, sim.ground_truth())[0]
    u, v = np.round(label.center_px + [14, 0]).astype(int)  # on the nut's face, off its bore
    assert f.depth_m[v, u] == pytest.approx(cam_to_belt - 0.008, abs=0.002)
    assert f.stamp_s == sim.time_s and f.frame_id == cell.camera.frame_id


@pytest.mark.parametrize("p_base", [(-0.55, 0.45), (-0.70, 0.36), (-0.42, 0.54)])
def test_parts_appear_where_the_intrinsics_project_them(sim, cell, p_base):
    sim.reset(0)
    sim.spawn_part("bracket", p_base_m=p_base, yaw_rad=0.7)
    f = sim.render_camera(realism=False)
    truth = sim.ground_truth()[0]
    top = truth.p_base_m + [0, 0, truth.top_z_part_m / 2]
    expected = project_base_points(cell, top[None])[0]
    assert np.linalg.norm(_part_blob_centroid(f.rgb) - expected) < 2.0


@pytest.mark.parametrize("defect", [DefectType.CRACK, DefectType.CHIP, DefectType.HOLE, DefectType.SCRATCH])
def test_a_flaw_is_visible_in_the_crop(sim, cell, defect):
    app = draw_part_appearance(np.random.default_rng(11), "washer", defect, 0.3)
    crops = []
    for appearance in (app, app.without_defect()):
        sim.reset(0)
        sim.spawn_part(p_base_m=(-0.56, 0.44), yaw_rad=0.4, appearance=appearance)
        f = sim.render_camera(realism=False)
        label = label_parts(cell, sim.ground_truth())[0]
        u, v = np.round(label.center_px).astype(int)
        crops.append(f.rgb[v - 40: v + 40, u - 40: u + 40].astype(int))
        if label.defect_px is not None:
            defect_px = label.defect_px - label.center_px + 40
    diff = np.abs(crops[0] - crops[1]).max(axis=2)
    assert diff.max() >= 20, f"{defect.value}: flaw hardly visible (max diff {diff.max()})"  # noise std is 2
    ys, xs = np.nonzero(diff > 12)
    assert np.hypot(xs - defect_px[0], ys - defect_px[1]).max() < 25  # the change is at the flaw


def test_realism_is_seeded_and_degrades_the_clean_image(sim):
    images = []
    for seed in (1, 1, 2):
        sim.reset(seed)
        sim.step(0.1)
        images.append(sim.render_camera().rgb.astype(int))
    clean = sim.render_camera(realism=False).rgb.astype(int)
    assert np.array_equal(images[0], images[1]) and not np.array_equal(images[0], images[2])
    noise = (images[2] - clean)[100:380, 100:540].std()
    assert 1.0 < noise < 10.0


def test_a_larger_resolution_renders_with_consistent_geometry(cell):
    cam = dataclasses.replace(cell.camera, width_px=1280, height_px=960, K=cell.camera.K * [[2], [2], [1]] + [[0, 0, 0.5], [0, 0, 0.5], [0, 0, 0]])
    big = dataclasses.replace(cell, camera=cam)
    s = CellSim(big, quiet_config(belt_speed_mps=0.0))
    try:
        s.spawn_part("bracket", p_base_m=(-0.6, 0.42), yaw_rad=0.3)
        f = s.render_camera(realism=False)
        assert f.rgb.shape == (960, 1280, 3) and f.depth_m.shape == (960, 1280)
        truth = s.ground_truth()[0]
        expected = project_base_points(big, (truth.p_base_m + [0, 0, truth.top_z_part_m / 2])[None])[0]
        mask = f.rgb.mean(axis=2) > 90
        mask[:140], mask[-140:] = False, False
        ys, xs = np.nonzero(mask)
        assert np.linalg.norm([xs.mean() - expected[0], ys.mean() - expected[1]]) < 3.0
    finally:
        s.close()


def test_labeled_scenes_put_labels_on_parts(cell):
    frames = list(render_labeled_scenes(2, seed=4, parts_per_scene=(2, 3), defect_rate=1.0))
    assert len(frames) == 2
    for lf in frames:
        assert 2 <= len(lf.parts) <= 3
        grey = lf.frame.rgb.mean(axis=2)
        belt = np.median(grey[100:380])
        for p in lf.parts:
            assert p.fully_in_view and p.truth.defective and p.defect_px is not None
            u0, v0, u1, v1 = np.round(p.bbox_px).astype(int)
            assert grey[v0:v1, u0:u1].mean() > belt + 20


def test_flaw_pairs_differ_only_by_the_flaw(cell):
    (flawed, clean), = list(render_flaw_pairs(1, seed=2, defect_types=(DefectType.HOLE,)))
    a, b = flawed.parts[0], clean.parts[0]
    assert a.truth.defective and not b.truth.defective
    assert np.allclose(a.center_px, b.center_px)
    diff = np.abs(flawed.frame.rgb.astype(int) - clean.frame.rgb.astype(int)).max(axis=2)
    ys, xs = np.nonzero(diff > 12)
    assert len(xs) > 0 and np.hypot(xs - a.defect_px[0], ys - a.defect_px[1]).max() < 10


def test_rendering_falls_back_to_osmesa_when_egl_fails(tmp_path):
    import ctypes.util
    import os
    import subprocess
    import sys

    if ctypes.util.find_library("OSMesa") is None:
        pytest.skip("libOSMesa not installed (apt-get install libosmesa6)")
    code = (
        "from factory_ai.sim import CellSim, SimConfig\n"
        "s = CellSim(config=SimConfig(spawn_enabled=False, prefill_belt=False))\n"
        "f = s.render_camera()\n"
        "print(s._renderer.backend, f.rgb.shape, round(float(f.depth_m[240, 100]), 3))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("FACTORY_AI_GL_BACKEND", "PYOPENGL_PLATFORM")}
    env.update(MUJOCO_GL="egl", MUJOCO_EGL_DEVICE_ID="99")  # an EGL device that does not exist
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                         cwd=tmp_path, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[0] == "osmesa" and "(480, 640, 3)" in out.stdout


def test_snapshot_command_writes_the_pictures(tmp_path):
    from factory_ai.commands import snapshot

    args = argparse.Namespace(out=tmp_path, seed=0, time=0.2, cell=None, overview_size=(640, 400),
                              no_showcase=False, clean=False)
    assert snapshot.run(args) == 0
    overhead = cv2.imread(str(tmp_path / "overhead.png"))
    overview = cv2.imread(str(tmp_path / "overview.png"))
    depth = cv2.imread(str(tmp_path / "overhead_depth.png"), cv2.IMREAD_UNCHANGED)
    assert overhead.shape == (480, 640, 3) and overview.shape == (400, 640, 3)
    assert depth.dtype == np.uint16 and 600 < np.median(depth) < 800  # millimetres to the belt
    assert (tmp_path / "overhead_labels.json").is_file()
