"""Packaging: package.xml (checked with catkin_pkg), setup.py install layout, the CLI's help."""

from __future__ import annotations

import configparser
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from catkin_pkg.package import parse_package

REPO = Path(__file__).resolve().parents[2]

ROS_DEPS = {
    "rclpy",
    "sensor_msgs",
    "geometry_msgs",
    "vision_msgs",
    "trajectory_msgs",
    "control_msgs",
    "std_srvs",
    "diagnostic_msgs",
    "tf2_ros_py",
    "robot_state_publisher",
    "visualization_msgs",
    "python3-numpy",
    "python3-scipy",
    "python3-opencv",
}
TEST_DEPS = {"python3-pytest", "launch_testing_ros"}


@pytest.fixture(scope="module")
def package():
    return parse_package(str(REPO))


@pytest.fixture(scope="module")
def setup_info() -> dict:
    """data_files, entry points and version as setuptools sees them (setup.py run in its folder)."""
    code = (
        "import json, setuptools\n"
        "from distutils.core import run_setup\n"
        "d = run_setup('setup.py', stop_after='init')\n"
        "print(json.dumps({'data_files': d.data_files, 'entry_points': d.entry_points,"
        " 'version': d.get_version(), 'name': d.get_name()}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_package_xml_parses_as_an_ament_python_package(package) -> None:
    assert package.name == "factory_ai"
    assert package.package_format == 3
    assert [e.content for e in package.exports if e.tagname == "build_type"] == ["ament_python"]
    assert "ament_python" in {d.name for d in package.buildtool_depends}


def test_package_xml_declares_the_ros_dependencies_the_nodes_use(package) -> None:
    declared = {d.name for d in package.exec_depends} | {d.name for d in package.build_export_depends}
    assert ROS_DEPS <= declared, f"missing: {sorted(ROS_DEPS - declared)}"
    assert TEST_DEPS <= {d.name for d in package.test_depends}


def test_setup_py_installs_launch_urdf_and_config_into_the_share_directory(setup_info: dict, package) -> None:
    assert setup_info["name"] == package.name
    assert setup_info["version"] == package.version
    installed = {f"{dest}/{Path(src).name}" for dest, files in setup_info["data_files"] for src in files}
    for folder in ("launch", "urdf", "config"):
        files = [p for p in (REPO / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts]
        assert files, f"{folder}/ is empty"
        for p in files:
            rel = p.relative_to(REPO).as_posix()
            assert f"share/factory_ai/{rel}" in installed, f"{rel} is not installed"
    assert "share/ament_index/resource_index/packages/factory_ai" in installed
    assert "share/factory_ai/package.xml" in installed
    assert (REPO / "resource" / "factory_ai").is_file()


def test_console_scripts_install_where_ros2_run_finds_them(setup_info: dict) -> None:
    scripts = setup_info["entry_points"]["console_scripts"]
    assert "factory-ai = factory_ai.cli:main" in scripts
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    assert cfg["develop"]["script_dir"] == "$base/lib/factory_ai"
    assert cfg["install"]["install_scripts"] == "$base/lib/factory_ai"


def test_factory_ai_help_lists_its_commands() -> None:
    from factory_ai import cli

    out = subprocess.run(
        [sys.executable, "-m", "factory_ai.cli", "--help"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    available = [name for name, mod in cli.COMMANDS.items() if importlib.util.find_spec(mod) is not None]
    assert "bench" in available
    for name in available:
        assert name in out, f"`factory-ai --help` does not list {name}"
