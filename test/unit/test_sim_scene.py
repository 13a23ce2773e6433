"""The MuJoCo scene is assembled from the URDF and cell.yaml (no rendering here)."""

import xml.etree.ElementTree as ET

import mujoco
import numpy as np
import pytest

from factory_ai.sim.scene import ARM_PREFIX, R_world_mjcam_from_optical, build_cell_spec
from factory_ai.sim.types import SimConfig


@pytest.fixture(scope="module")
def model(cell):
    return build_cell_spec(cell, SimConfig(), cell.conveyor.speed_mps).compile()


def test_arm_comes_from_the_urdf(model, repo_root):
    urdf = ET.parse(repo_root / "urdf" / "factory_arm.urdf").getroot()
    for link in urdf.findall("link"):
        if link.get("name") != "world":
            assert mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, ARM_PREFIX + link.get("name")) >= 0
    movable = [j.get("name") for j in urdf.findall("joint") if j.get("type") == "revolute"]
    for name in movable:
        jid = model.joint(ARM_PREFIX + name).id
        lim = urdf.find(f"joint[@name='{name}']/limit")
        assert model.jnt_range[jid] == pytest.approx([float(lim.get("lower")), float(lim.get("upper"))])
    assert [model.actuator(i).name for i in range(len(movable))] == [f"servo/{n}" for n in movable]


def test_overhead_camera_is_placed_from_cell_yaml(model, cell):
    cam = model.camera(cell.camera.name)
    data = mujoco.MjData(model)
    mujoco.mj_kinematics(model, data)
    mujoco.mj_camlight(model, data)
    T = cell.T_world_camera
    assert data.cam_xpos[cam.id] == pytest.approx(T[:3, 3], abs=1e-9)
    R = data.cam_xmat[cam.id].reshape(3, 3)
    assert np.allclose(R, R_world_mjcam_from_optical(T[:3, :3]), atol=1e-6)
    assert np.allclose(-R[:, 2], [0, 0, -1], atol=1e-5)  # looks straight down at the belt
    fovy = 2 * np.degrees(np.arctan2(cell.camera.height_px / 2, cell.camera.K[1, 1]))
    assert model.cam_fovy[cam.id] == pytest.approx(fovy)


def test_conveyor_bin_slots_and_buffer(model, cell):
    belt = model.geom("belt")
    assert model.geom_size[belt.id][:2] == pytest.approx([cell.conveyor.length_m / 2, cell.conveyor.width_m / 2])
    assert model.geom_surfacevel[belt.id][0] == pytest.approx(cell.conveyor.speed_mps)
    bin_floor = model.body("reject_bin")
    assert model.body_pos[bin_floor.id] == pytest.approx(cell.reject_bin.T_world_bin[:3, 3])
    slots = [model.body(i).name for i in range(model.nbody) if model.body(i).name.startswith("part/")]
    cfg = SimConfig()
    assert len(slots) == cfg.slots_per_shape * len(cfg.shapes)
    assert model.vis.global_.offwidth >= cell.camera.width_px and model.vis.global_.offheight >= cell.camera.height_px
    assert model.opt.timestep == pytest.approx(0.002)
