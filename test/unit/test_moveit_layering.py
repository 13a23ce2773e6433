"""The MoveIt integration's static shape: moveit/rclpy only under factory_ai/nodes/ (and lazily in
the backend), the backend compiles and imports without ROS, and moveit.launch.py builds move_group
from config/moveit through MoveItConfigsBuilder (run against recording stand-ins)."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODES = ROOT / "factory_ai" / "nodes"
LAUNCH = ROOT / "launch" / "moveit.launch.py"
BACKEND = NODES / "moveit_backend.py"


def _top_module(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name.split(".")[0] for a in node.names]
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        return [node.module.split(".")[0]]
    return []


def test_moveit_and_rclpy_are_imported_only_under_nodes():
    offenders = []
    for path in sorted((ROOT / "factory_ai").rglob("*.py")):
        if NODES in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            offenders += [f"{path.relative_to(ROOT)}:{node.lineno} {m}" for m in _top_module(node) if m in ("moveit", "rclpy")]
    assert not offenders, offenders


def test_backend_compiles_imports_moveit_lazily_and_loads_without_ros():
    tree = ast.parse(BACKEND.read_text())
    compile(tree, str(BACKEND), "exec")
    top_level = [m for node in tree.body for m in _top_module(node)]
    assert not {"moveit", "rclpy"} & set(top_level), top_level
    lazy = [m for node in ast.walk(tree) for m in _top_module(node)]
    assert "moveit" in lazy  # it does use MoveIt, inside functions
    mod = importlib.import_module("factory_ai.nodes.moveit_backend")
    assert hasattr(mod, "MoveItBackend") and hasattr(mod, "TrajectoryValidator")


def test_backend_pure_helpers(cell):
    import numpy as np

    from factory_ai.nodes.moveit_backend import robot_trajectory_msg, split_grasp_window
    from factory_ai.nodes.planning_scene import moveit_rosbags_types
    from factory_ai.types import JointTrajectory

    t = np.linspace(0.0, 1.0, 11)
    outside, inside = split_grasp_window(t, (0.3, 0.5))
    assert inside.tolist() == [3, 4, 5] and sorted(outside.tolist() + inside.tolist()) == list(range(11))
    names = ("a", "b")
    q = np.stack([t, -t], axis=1)
    traj = JointTrajectory(names, t, q, np.ones_like(q), np.zeros_like(q))
    m = moveit_rosbags_types()
    msg = m.deserialize(m.serialize(robot_trajectory_msg(m, traj, inside), "RobotTrajectory"), "RobotTrajectory")
    jt = msg.joint_trajectory
    assert list(jt.joint_names) == ["a", "b"] and len(jt.points) == 3
    assert jt.points[0].time_from_start.nanosec == 300_000_000
    np.testing.assert_allclose(jt.points[2].positions, [0.5, -0.5])


def test_moveit_launch_file_compiles_and_declares_use_rviz():
    tree = ast.parse(LAUNCH.read_text())
    compile(tree, str(LAUNCH), "exec")
    assert any(isinstance(n, ast.FunctionDef) and n.name == "generate_launch_description" for n in tree.body)
    args = {
        ast.literal_eval(c.args[0])
        for c in ast.walk(tree)
        if isinstance(c, ast.Call) and getattr(c.func, "id", "") == "DeclareLaunchArgument"
    }
    assert {"use_rviz", "use_sim_time", "moveit_config_dir", "urdf"} <= args


# -- running moveit.launch.py against recording stand-ins ------------------------------------------


class _Rec:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs


class _LaunchConfiguration(_Rec):
    def perform(self, context: dict) -> str:
        return context[self.args[0]]


class _Builder:
    """Records MoveItConfigsBuilder calls; every file it is pointed at must exist."""

    calls: list[tuple[str, dict]] = []

    def __init__(self, robot_name: str, package_name: str | None = None) -> None:
        _Builder.calls = [("__init__", {"robot_name": robot_name, "package_name": package_name})]

    def __getattr__(self, name: str):
        def method(**kwargs: Any) -> _Builder:
            if "file_path" in kwargs:
                assert Path(kwargs["file_path"]).is_file(), (name, kwargs["file_path"])
            _Builder.calls.append((name, kwargs))
            return self

        return method

    def to_moveit_configs(self) -> Any:
        cfg = types.SimpleNamespace(
            robot_description={"robot_description": "<robot/>"},
            robot_description_semantic={"robot_description_semantic": "<robot/>"},
            robot_description_kinematics={},
            planning_pipelines={},
            joint_limits={},
        )
        cfg.to_dict = lambda: {"from": "builder", **cfg.planning_pipelines}
        return cfg


def _module(name: str, **attrs: Any) -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.__dict__.update(attrs)
    return mod


@pytest.fixture
def fake_ros(monkeypatch):
    fakes = {
        "launch": _module("launch", LaunchDescription=type("LaunchDescription", (_Rec,), {}), LaunchContext=dict),
        "launch.actions": _module(
            "launch.actions",
            DeclareLaunchArgument=type("DeclareLaunchArgument", (_Rec,), {}),
            OpaqueFunction=type("OpaqueFunction", (_Rec,), {}),
        ),
        "launch.conditions": _module("launch.conditions", IfCondition=type("IfCondition", (_Rec,), {})),
        "launch.substitutions": _module("launch.substitutions", LaunchConfiguration=_LaunchConfiguration),
        "launch_ros": _module("launch_ros"),
        "launch_ros.actions": _module("launch_ros.actions", Node=type("Node", (_Rec,), {})),
        "ament_index_python": _module("ament_index_python"),
        "ament_index_python.packages": _module("ament_index_python.packages", get_package_share_directory=lambda p: str(ROOT)),
        "moveit_configs_utils": _module("moveit_configs_utils", MoveItConfigsBuilder=_Builder),
    }
    for name, mod in fakes.items():
        monkeypatch.setitem(sys.modules, name, mod)


def test_moveit_launch_starts_move_group_from_config_moveit(fake_ros):
    spec = importlib.util.spec_from_file_location("moveit_launch", LAUNCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    ld = mod.generate_launch_description()
    (opaque,) = [a for a in ld.args[0] if type(a).__name__ == "OpaqueFunction"]
    context = {"use_rviz": "false", "rviz_config": "", "use_sim_time": "false", "moveit_config_dir": "", "urdf": ""}
    move_group, rviz = opaque.kwargs["function"](context)
    assert (move_group.kwargs["package"], move_group.kwargs["executable"]) == ("moveit_ros_move_group", "move_group")
    assert (rviz.kwargs["package"], rviz.kwargs["executable"]) == ("rviz2", "rviz2")
    assert rviz.kwargs["condition"].args[0].args[0] == "use_rviz"
    used = {name: kw for name, kw in _Builder.calls}
    assert used["__init__"] == {"robot_name": "factory_arm", "package_name": "factory_ai"}
    moveit_dir = ROOT / "config" / "moveit"
    assert Path(used["robot_description_semantic"]["file_path"]) == moveit_dir / "factory_arm.srdf"
    for step, name in (
        ("robot_description_kinematics", "kinematics.yaml"),
        ("joint_limits", "joint_limits.yaml"),
        ("trajectory_execution", "moveit_controllers.yaml"),
        ("pilz_cartesian_limits", "pilz_cartesian_limits.yaml"),
    ):
        assert Path(used[step]["file_path"]) == moveit_dir / name, step
    # The pipelines come from config/moveit too (the builder alone would take its defaults).
    params = move_group.kwargs["parameters"][0]
    assert params["planning_pipelines"] == ["ompl", "pilz_industrial_motion_planner"]
    assert params["ompl"]["arm"]["default_planner_config"] == "RRTConnectkConfigDefault"
    assert params["pilz_industrial_motion_planner"]["default_planner_config"] == "PTP"
