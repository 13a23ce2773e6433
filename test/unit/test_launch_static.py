"""Static checks of launch/*.py (launch and launch_ros are not installable here).

With `ast`: each file compiles, defines generate_launch_description, and every
DeclareLaunchArgument has a default and a description. Then each file is run against recording
stand-ins of launch / launch_ros, to check what it would start: node names that are console
scripts, parameters taken from config/nodes.yaml, explicit namespaces, the autostart events,
the ros2_control pieces, and files that exist in the package.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
LAUNCH_FILES = sorted((ROOT / "launch").glob("*.launch.py"))
MINE = {"cell.launch.py", "twin.launch.py", "mock_control.launch.py"}
REQUIRED_ARGS = {
    "cell.launch.py": {
        "params_file", "urdf", "namespace", "camera", "use_sim_time", "controller_action", "autostart", "planning_backend",
        "launch_move_group", "use_rviz",
    },  # fmt: skip
    "twin.launch.py": {"params_file", "namespace", "controller_action", "autostart"},
    "mock_control.launch.py": {"urdf", "controllers_file", "params_file", "namespace", "autostart"},
}


def _console_scripts() -> set[str]:
    tree = ast.parse((ROOT / "setup.py").read_text())
    nodes = next(ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "NODES")
    return {f"{n}_node" for n in nodes}


def test_launch_files_exist():
    assert MINE <= {p.name for p in LAUNCH_FILES}
    assert 'glob("launch/*.py")' in (ROOT / "setup.py").read_text()  # installed to share/


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_compiles_and_declares_documented_arguments(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    compile(tree, str(path), "exec")
    assert any(isinstance(n, ast.FunctionDef) and n.name == "generate_launch_description" for n in tree.body)
    declared = set()
    for call in ast.walk(tree):
        if isinstance(call, ast.Call) and getattr(call.func, "id", getattr(call.func, "attr", "")) == "DeclareLaunchArgument":
            kw = {k.arg: k.value for k in call.keywords}
            name = ast.literal_eval(call.args[0])
            assert "default_value" in kw, f"{path.name}: argument {name!r} has no default"
            assert "description" in kw and ast.literal_eval(kw["description"]).strip(), f"{path.name}: {name!r} undocumented"
            declared.add(name)
    assert REQUIRED_ARGS.get(path.name, set()) <= declared, f"{path.name} lacks {REQUIRED_ARGS[path.name] - declared}"


# -- running the launch files against recording stand-ins ---------------------------------------


class Recorded:
    """Stands in for any launch / launch_ros class: remembers its arguments."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs


class LaunchConfiguration(Recorded):
    def perform(self, context: dict) -> str:
        return context[self.args[0]]


class FindPackageShare(Recorded):
    def perform(self, context: dict) -> str:
        assert self.args[0] == "factory_ai"
        return str(ROOT)  # the repository stands in for the share directory


class PathJoinSubstitution(Recorded):
    def perform(self, context: dict) -> str:
        parts = [p.perform(context) if hasattr(p, "perform") else p for p in self.args[0]]
        return str(Path(*parts))


def _module(name: str, **attrs: Any) -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.__dict__.update(attrs)
    mod.__getattr__ = lambda attr: type(attr, (Recorded,), {})  # any other class records
    return mod


@pytest.fixture
def fake_launch(monkeypatch):
    """launch, launch_ros and lifecycle_msgs replaced by recording stand-ins."""
    transition = types.SimpleNamespace(TRANSITION_CONFIGURE=1, TRANSITION_ACTIVATE=3)
    fakes = {
        "launch": _module("launch", LaunchDescription=type("LaunchDescription", (Recorded,), {}), LaunchContext=dict),
        "launch.actions": _module("launch.actions"),
        "launch.events": _module("launch.events", matches_action=lambda action: ("matches", action)),
        "launch.substitutions": _module(
            "launch.substitutions", LaunchConfiguration=LaunchConfiguration, PathJoinSubstitution=PathJoinSubstitution
        ),
        "launch.launch_description_sources": _module("launch.launch_description_sources"),
        "launch_ros": _module("launch_ros"),
        "launch_ros.actions": _module("launch_ros.actions"),
        "launch_ros.event_handlers": _module("launch_ros.event_handlers"),
        "launch_ros.events": _module("launch_ros.events"),
        "launch_ros.events.lifecycle": _module("launch_ros.events.lifecycle"),
        "launch_ros.substitutions": _module("launch_ros.substitutions", FindPackageShare=FindPackageShare),
        "lifecycle_msgs": _module("lifecycle_msgs"),
        "lifecycle_msgs.msg": _module("lifecycle_msgs.msg", Transition=transition),
    }
    for name, mod in fakes.items():
        monkeypatch.setitem(sys.modules, name, mod)
    return fakes


def _load(path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem.replace(".", "_"), path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _run(name: str, **overrides: str) -> tuple[list[Any], dict]:
    """generate_launch_description() with the declared defaults (+ overrides), then its OpaqueFunction."""
    ld = _load(ROOT / "launch" / name).generate_launch_description()
    entities = ld.args[0]
    context: dict[str, str] = {}
    for e in entities:
        if type(e).__name__ == "DeclareLaunchArgument":
            default = e.kwargs["default_value"]
            context[e.args[0]] = default.perform(context) if hasattr(default, "perform") else default
    context.update(overrides)
    opaque = [e for e in entities if type(e).__name__ == "OpaqueFunction"]
    assert len(opaque) == 1
    return opaque[0].kwargs["function"](context), context


def _by_type(actions: list[Any], name: str) -> list[Any]:
    return [a for a in actions if type(a).__name__ == name]


def test_cell_launch_starts_the_four_lifecycle_nodes_with_their_yaml_blocks(fake_launch):
    actions, context = _run("cell.launch.py", namespace="cell1", use_sim_time="true")
    assert Path(context["params_file"]) == ROOT / "config" / "nodes.yaml"
    nodes = _by_type(actions, "LifecycleNode")
    assert [n.kwargs["executable"] for n in nodes] == [
        "vision_node", "defect_classifier_node", "trajectory_planner_node", "feedback_learner_node",
    ]  # fmt: skip
    assert {n.kwargs["executable"] for n in nodes} <= _console_scripts()
    yaml_blocks = yaml.safe_load((ROOT / "config" / "nodes.yaml").read_text())
    for n in nodes:
        assert n.kwargs["namespace"] == "cell1" and n.kwargs["name"] == n.kwargs["executable"]
        params = n.kwargs["parameters"][0]
        assert params["use_sim_time"] is True
        for key, value in yaml_blocks[n.kwargs["name"]]["ros__parameters"].items():
            if key not in ("controller_action", "planning_backend", "urdf_path"):
                assert params[key] == value
    planner = nodes[2].kwargs["parameters"][0]
    assert planner["controller_action"] == "/joint_trajectory_controller/follow_joint_trajectory"
    assert planner["planning_backend"] == "builtin"
    assert Path(planner["urdf_path"]).is_file()
    rsp = _by_type(actions, "Node")
    assert [n.kwargs["executable"] for n in rsp] == ["robot_state_publisher"]
    assert rsp[0].kwargs["parameters"][0]["robot_description"].lstrip().startswith("<?xml")


def test_cell_launch_autostart_configures_then_activates(fake_launch):
    actions, _ = _run("cell.launch.py")
    nodes = _by_type(actions, "LifecycleNode")
    configure = [a.kwargs["event"] for a in _by_type(actions, "EmitEvent")]
    assert len(configure) == 4 and all(e.kwargs["transition_id"] == 1 for e in configure)
    assert [e.kwargs["lifecycle_node_matcher"][1] for e in configure] == nodes
    handlers = [a.args[0] for a in _by_type(actions, "RegisterEventHandler")]
    assert len(handlers) == 4
    for h, node in zip(handlers, nodes, strict=True):
        assert h.kwargs["target_lifecycle_node"] is node and h.kwargs["goal_state"] == "inactive"
        assert h.kwargs["start_state"] == "configuring"  # a later deactivate is not undone
        (activate,) = h.kwargs["entities"]
        assert activate.kwargs["event"].kwargs["transition_id"] == 3
    assert all(n.kwargs["remappings"] == [] for n in nodes)  # default: the camera/ topics as they are
    actions, _ = _run("cell.launch.py", autostart="false", start_robot_state_publisher="false", camera="/cam/color")
    vision = _by_type(actions, "LifecycleNode")[0]
    assert ("camera/image_raw", "/cam/color/image_raw") in vision.kwargs["remappings"]
    assert not _by_type(actions, "EmitEvent") and not _by_type(actions, "Node")


def test_cell_launch_starts_move_group_only_for_the_moveit_backend(fake_launch):
    actions, context = _run("cell.launch.py")
    assert context["launch_move_group"] == "true" and context["planning_backend"] == "builtin"
    assert not _by_type(actions, "IncludeLaunchDescription")  # builtin: no MoveIt at all
    actions, context = _run("cell.launch.py", planning_backend="moveit", use_rviz="true", use_sim_time="true")
    (include,) = _by_type(actions, "IncludeLaunchDescription")
    assert Path(include.args[0].args[0]) == ROOT / "launch" / "moveit.launch.py"
    args = dict(include.kwargs["launch_arguments"])
    assert (args["use_rviz"], args["use_sim_time"]) == ("true", "true")
    assert args["urdf"] == context["urdf"] and Path(args["urdf"]).is_file()
    yaml_planner = yaml.safe_load((ROOT / "config" / "nodes.yaml").read_text())["trajectory_planner_node"]
    assert args["moveit_config_dir"] == yaml_planner["ros__parameters"]["moveit_config_dir"]
    planner = _by_type(actions, "LifecycleNode")[2].kwargs["parameters"][0]
    assert planner["planning_backend"] == "moveit"
    # The integrator's cell already runs move_group: only our nodes start.
    actions, _ = _run("cell.launch.py", planning_backend="moveit", launch_move_group="false")
    assert not _by_type(actions, "IncludeLaunchDescription")
    assert _by_type(actions, "LifecycleNode")[2].kwargs["parameters"][0]["planning_backend"] == "moveit"


def test_twin_launch_runs_the_twin_on_wall_time_and_the_cell_on_sim_time(fake_launch):
    actions, _ = _run("twin.launch.py")
    (twin,) = _by_type(actions, "LifecycleNode")
    assert twin.kwargs["executable"] == "twin_node" and "twin_node" in _console_scripts()
    assert twin.kwargs["parameters"][0]["use_sim_time"] is False
    (include,) = _by_type(actions, "IncludeLaunchDescription")
    args = dict(include.kwargs["launch_arguments"])
    assert args["use_sim_time"] == "true"
    assert Path(include.args[0].args[0]) == ROOT / "launch" / "cell.launch.py"
    assert args["controller_action"] == twin.kwargs["parameters"][0]["controller_action"]


def test_mock_control_launch_brings_up_ros2_control_and_the_cell(fake_launch):
    actions, context = _run("mock_control.launch.py")
    nodes = _by_type(actions, "Node")
    executables = [n.kwargs["executable"] for n in nodes]
    assert executables[:2] == ["robot_state_publisher", "ros2_control_node"]
    assert nodes[1].kwargs["parameters"] == [context["controllers_file"]]
    spawned = [n.kwargs["arguments"][0] for n in nodes if n.kwargs["executable"] == "spawner"]
    assert spawned == ["joint_state_broadcaster", "joint_trajectory_controller"]
    controllers = yaml.safe_load(Path(context["controllers_file"]).read_text())
    cm = controllers["controller_manager"]["ros__parameters"]
    assert {"joint_state_broadcaster", "joint_trajectory_controller"} <= set(cm)
    (include,) = _by_type(actions, "IncludeLaunchDescription")
    args = dict(include.kwargs["launch_arguments"])
    assert args["start_robot_state_publisher"] == "false"  # one robot_state_publisher only
    assert args["controller_action"] == "joint_trajectory_controller/follow_joint_trajectory"
    assert "mock_components/GenericSystem" in Path(context["urdf"]).read_text()


def test_controller_joints_are_the_urdf_arm_joints(cell):
    from factory_ai.robot import RobotModel

    controllers = yaml.safe_load((ROOT / "config" / "controllers.yaml").read_text())
    joints = controllers["joint_trajectory_controller"]["ros__parameters"]["joints"]
    assert tuple(joints) == RobotModel.from_urdf(cell.arm.urdf_path).joint_names
