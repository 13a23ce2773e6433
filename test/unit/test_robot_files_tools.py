"""The robot and world files as ROS and Gazebo parse them: `check_urdf` (urdfdom) and
`ign sdf -k` (libsdformat 12, SDF 1.9; it converts URDF too). `ign sdf -k` exits 0 even on an
invalid file, so the tests read its output. Without the tools the tests skip (and fail where
CI or FACTORY_AI_REQUIRE_TOOLS is set)."""

import os
import re
import shutil
import subprocess

import pytest

TOOLS = {"check_urdf": "liburdfdom-tools", "ign": "ignition-tools + libsdformat-dev"}


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        why = f"`{tool}` not installed (apt-get install {TOOLS[tool]})"
        if os.environ.get("CI") or os.environ.get("FACTORY_AI_REQUIRE_TOOLS"):
            pytest.fail(why)
        pytest.skip(why)
    return path


def _check_urdf(path) -> subprocess.CompletedProcess:
    return subprocess.run([_need("check_urdf"), str(path)], capture_output=True, text=True, timeout=60, check=False)


def _ign_errors(path, tmp_path) -> tuple[list[str], str]:
    out = subprocess.run([_need("ign"), "sdf", "-k", str(path)], capture_output=True, text=True, timeout=120,
                         check=False, cwd=tmp_path)
    text = out.stdout + out.stderr
    return [ln for ln in text.splitlines() if re.search(r"\bError\b", ln)], text


def test_urdf_passes_check_urdf(repo_root):
    out = _check_urdf(repo_root / "urdf" / "factory_arm.urdf")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Successfully Parsed XML" in out.stdout
    assert "robot name is: factory_arm" in out.stdout


def test_broken_urdf_is_caught_by_check_urdf(repo_root, tmp_path):
    text = (repo_root / "urdf" / "factory_arm.urdf").read_text()
    broken = tmp_path / "broken.urdf"
    broken.write_text(text.replace("<parent link=\"forearm_link\"/>", "<parent link=\"no_such_link\"/>", 1))
    assert _check_urdf(broken).returncode != 0


@pytest.mark.parametrize("rel", ["urdf/factory_arm.urdf", "worlds/factory_cell.sdf"])
def test_files_pass_ign_sdf_check(repo_root, tmp_path, rel):
    errors, text = _ign_errors(repo_root / rel, tmp_path)
    assert not errors, text
    assert "Valid" in text


def test_broken_world_sdf_is_caught(repo_root, tmp_path):
    text = (repo_root / "worlds" / "factory_cell.sdf").read_text()
    broken = tmp_path / "broken.sdf"
    # Two models with the same name: invalid SDF.
    broken.write_text(text.replace('<model name="reject_bin">', '<model name="conveyor">', 1))
    errors, out = _ign_errors(broken, tmp_path)
    assert errors, out


def test_broken_urdf_is_caught_by_ign_sdf(repo_root, tmp_path):
    text = (repo_root / "urdf" / "factory_arm.urdf").read_text()
    broken = tmp_path / "broken.urdf"
    broken.write_text(text.replace("<child link=\"wrist_1_link\"/>", "<child link=\"base_link\"/>", 1))
    errors, out = _ign_errors(broken, tmp_path)
    assert errors, out
