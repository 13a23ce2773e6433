"""The cell description loader: the shipped cell loads; broken copies name the bad key."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import yaml

from factory_ai.config import CellConfigError, default_cell_path, load_cell_description


@pytest.fixture()
def shipped() -> dict:
    return yaml.safe_load(default_cell_path().read_text())


def _load_edited(tmp_path: Path, data: dict):
    path = tmp_path / "cell.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_cell_description(path)


def test_shipped_cell_loads_with_the_documented_geometry() -> None:
    cell = load_cell_description()
    assert cell.arm.urdf_path.is_file()
    assert (cell.arm.base_frame, cell.arm.tool_frame, cell.arm.tip_frame) == ("base_link", "tool0", "suction_cup")
    np.testing.assert_allclose(cell.arm.T_world_base[:3, 3], [0.0, 0.0, 0.75])
    np.testing.assert_allclose(cell.T_base_belt[:3, 3], [0.0, 0.45, 0.01], atol=1e-12)
    np.testing.assert_allclose(cell.conveyor.direction_world, [1.0, 0.0, 0.0])
    assert cell.conveyor.speed_mps > 0 and cell.conveyor.width_m == pytest.approx(0.30)
    np.testing.assert_allclose(cell.reject_bin.size_m, [0.30, 0.30, 0.55])
    cam = cell.camera
    assert (cam.width_px, cam.height_px) == (640, 480)
    np.testing.assert_allclose(np.diag(cam.K), [900.0, 900.0, 1.0])
    # The camera looks straight down from 0.70 m above the belt surface.
    np.testing.assert_allclose(cam.T_base_camera[:3, 2], [0.0, 0.0, -1.0], atol=1e-6)
    assert cam.T_base_camera[2, 3] - cell.T_base_belt[2, 3] == pytest.approx(0.70)


def test_a_copy_elsewhere_loads_the_same(tmp_path: Path, shipped: dict) -> None:
    a, b = load_cell_description(), _load_edited(tmp_path, copy.deepcopy(shipped))
    np.testing.assert_array_equal(a.camera.T_base_camera, b.camera.T_base_camera)
    assert a.arm.urdf_path == b.arm.urdf_path


_POST = {"name": "post", "type": "box", "pose_world": {"xyz": [0, 0, 0], "rpy": [0, 0, 0]}, "size_m": [1, 1, 1]}


def _drop(key: str):
    def edit(d: dict) -> None:
        *path, last = key.split(".")
        node = d
        for k in path:
            node = node[k]
        del node[last]

    return edit


def _set(key: str, value):
    def edit(d: dict) -> None:
        *path, last = key.split(".")
        node = d
        for k in path:
            node = node[k]
        node[last] = value

    return edit


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (_drop("conveyor.speed_mps"), "conveyor.speed_mps is missing"),
        (_drop("camera"), "camera is missing"),
        (_drop("arm.base_pose_world"), "arm.base_pose_world is missing"),
        (_set("conveyor.speed_mps", -0.2), "conveyor.speed_mps must be > 0"),
        (_set("conveyor.width_m", "wide"), "conveyor.width_m must be a finite number"),
        (_set("camera.T_base_camera.xyz", [0.1, 0.2]), "camera.T_base_camera.xyz must be 3 numbers"),
        (_set("reject_bin.size_m", [0.3, 0.3]), "reject_bin.size_m must be 3 numbers"),
        (_set("reject_bin.size_m", [0.3, -0.3, 0.5]), "reject_bin.size_m must be positive"),
        (_set("camera.resolution_px", [640.5, 480]), "camera.resolution_px must be two positive integers"),
        (_set("camera.intrinsics.fx", 0.0), "camera.intrinsics.fx must be > 0"),
        (_set("arm.urdf", "urdf/no_such_arm.urdf"), "arm.urdf names a file that does not exist"),
        (_set("fixtures", [{**_POST, "type": "sphere"}]), r"fixtures\[0\].type must be 'box'"),
    ],
)
def test_broken_cell_names_the_bad_key(tmp_path: Path, shipped: dict, edit, needle: str) -> None:
    edit(shipped)
    with pytest.raises(CellConfigError, match=needle):
        _load_edited(tmp_path, shipped)


def test_bad_yaml_and_missing_file_are_cell_config_errors(tmp_path: Path) -> None:
    path = tmp_path / "cell.yaml"
    path.write_text("arm: {urdf: [unclosed\n")
    with pytest.raises(CellConfigError, match="not valid YAML"):
        load_cell_description(path)
    with pytest.raises(CellConfigError, match="cannot read cell description"):
        load_cell_description(tmp_path / "absent.yaml")
    path.write_text("- just\n- a list\n")
    with pytest.raises(CellConfigError, match="top level must be a mapping"):
        load_cell_description(path)
