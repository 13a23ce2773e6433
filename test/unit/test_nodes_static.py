"""Static checks of the ROS 2 nodes (rclpy is not installable here; the nodes run on a ROS machine).

Parsed with `ast`, never imported: every node module compiles, is a lifecycle node with
`main(args=None)` and a console_scripts entry, uses relative topic names and sensor-data QoS for
images, reads only parameters it declares, and config/nodes.yaml matches the declarations.
rclpy and the other ROS packages are imported only under factory_ai/nodes/.
"""

from __future__ import annotations

import ast
import importlib
import py_compile
from pathlib import Path

import pytest
import yaml

from factory_ai.nodes.params import Param

ROOT = Path(__file__).resolve().parents[2]
NODES_DIR = ROOT / "factory_ai" / "nodes"
NODE_FILES = sorted(NODES_DIR.glob("*_node.py"))
ROS_ONLY_MODULES = {"common"}  # helpers that import rclpy at module level; node modules too
ABSOLUTE_TOPICS = {"/diagnostics", "/clock", "/planning_scene"}  # global by ROS / MoveIt convention
BACKEND_PARAMS = {"moveit_config_dir", "moveit_group", "moveit_scene_service"}  # read by nodes/moveit_backend.py
EXPECTED_NODES = {"vision_node", "defect_classifier_node", "trajectory_planner_node", "feedback_learner_node", "twin_node"}


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _is_ros_module(name: str) -> bool:
    top = name.split(".")[0]
    return (
        top in {"rclpy", "launch", "launch_ros", "launch_testing", "launch_testing_ros", "tf2_ros", "moveit", "message_filters"}
        or top.endswith("_msgs")
        or top.endswith("_srvs")
    )


def _imports(tree: ast.AST) -> list[tuple[str, ast.AST]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.module, node))
    return out


def params_table(path: Path) -> dict[str, Param]:
    """The node's literal PARAMS table, evaluated without importing the module."""
    for node in _tree(path).body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", None) == "PARAMS":
            table = {}
            for key, call in zip(node.value.keys, node.value.values, strict=True):
                assert isinstance(call, ast.Call) and getattr(call.func, "id", None) == "Param", ast.dump(call)
                args = [ast.literal_eval(a) for a in call.args]
                kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
                table[ast.literal_eval(key)] = Param(*args, **kwargs)
            return table
    pytest.fail(f"{path.name} has no module-level `PARAMS: dict[str, Param] = {{...}}` table")


def test_the_five_nodes_exist():
    assert {p.stem for p in NODE_FILES} == EXPECTED_NODES


@pytest.mark.parametrize("path", NODE_FILES, ids=lambda p: p.stem)
def test_node_module_compiles_and_is_a_lifecycle_node_with_main(path, tmp_path):
    py_compile.compile(str(path), cfile=str(tmp_path / "x.pyc"), doraise=True)
    tree = _tree(path)
    mains = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main"]
    assert mains, f"{path.name}: no main()"
    args = mains[0].args
    assert [a.arg for a in args.args] == ["args"] and isinstance(args.defaults[0], ast.Constant), "main(args=None)"
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    node_cls = [c for c in classes if any(getattr(b, "id", "") in ("CellNode", "Node") for b in c.bases)]
    assert node_cls, f"{path.name}: no class derived from the lifecycle CellNode"
    methods = {f.name for f in node_cls[0].body if isinstance(f, ast.FunctionDef)}
    assert "on_configure" in methods, f"{path.name}: heavy setup belongs in on_configure"
    # the node's ROS name is its module name (console script, YAML key and launch name agree)
    inits = [f for f in node_cls[0].body if isinstance(f, ast.FunctionDef) and f.name == "__init__"]
    calls = [c for c in ast.walk(inits[0]) if isinstance(c, ast.Call) and isinstance(c.func, ast.Attribute) and c.func.attr == "__init__"]
    assert calls and ast.literal_eval(calls[0].args[0]) == path.stem


def test_lifecycle_api_is_jazzys():
    common = _tree(NODES_DIR / "common.py")
    imported = {(n.module, a.name) for n in ast.walk(common) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert {("rclpy.lifecycle", "Node"), ("rclpy.lifecycle", "State"), ("rclpy.lifecycle", "TransitionCallbackReturn")} <= imported
    assert ("rclpy.executors", "ExternalShutdownException") in imported
    for path in [*NODE_FILES, NODES_DIR / "common.py"]:
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.With):  # `with rclpy.init():` is Rolling-only, fails on Jazzy
                for item in node.items:
                    assert "rclpy.init" not in ast.unparse(item.context_expr), f"{path.name}: {ast.unparse(node)}"
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "create_publisher":
                pytest.fail(f"{path.name}: use create_lifecycle_publisher (publishers drop messages until active)")
    run_src = ast.get_source_segment((NODES_DIR / "common.py").read_text(), next(
        n for n in common.body if isinstance(n, ast.FunctionDef) and n.name == "run"))  # fmt: skip
    assert "rclpy.init(args=args)" in run_src and "rclpy.try_shutdown()" in run_src and "destroy_node()" in run_src


def _topic_calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") in ("create_subscription", "create_lifecycle_publisher"):
            yield node


@pytest.mark.parametrize("path", NODE_FILES, ids=lambda p: p.stem)
def test_topics_are_relative_and_images_use_sensor_qos(path):
    calls = list(_topic_calls(_tree(path)))
    assert calls, f"{path.name} makes no topics"
    for call in calls:
        topic = call.args[1]
        if isinstance(topic, ast.Constant):
            name = topic.value
            assert not name.startswith("/") or name in ABSOLUTE_TOPICS, f"{path.name}: absolute topic {name!r}"
            if "image" in name:
                qos = call.args[-1]
                assert getattr(qos, "id", "") == "qos_profile_sensor_data", f"{path.name}: {name} needs sensor-data QoS"


@pytest.mark.parametrize("path", NODE_FILES, ids=lambda p: p.stem)
def test_nodes_read_only_declared_parameters(path):
    table = params_table(path)
    read = {
        ast.literal_eval(n.slice)
        for n in ast.walk(_tree(path))
        if isinstance(n, ast.Subscript)
        and isinstance(n.value, ast.Attribute)
        and n.value.attr == "p"
        and isinstance(n.slice, ast.Constant)
    }
    assert read <= set(table), f"{path.name} reads undeclared parameters {sorted(read - set(table))}"
    unused = set(table) - read - {"cell_file"} - BACKEND_PARAMS
    # every declared parameter is used somewhere in the module (directly or through read_parameters)
    src = path.read_text()
    assert not [k for k in unused if f'"{k}"' not in src.split("PARAMS")[-1]], f"{path.name}: unused {sorted(unused)}"


def test_nodes_yaml_matches_the_declared_parameters():
    data = yaml.safe_load((ROOT / "config" / "nodes.yaml").read_text())
    assert set(data) == {p.stem for p in NODE_FILES}
    for path in NODE_FILES:
        table = params_table(path)
        block = data[path.stem]["ros__parameters"]
        assert set(block) == set(table), f"{path.stem}: YAML {sorted(set(block) ^ set(table))} differ from PARAMS"
        for key, value in block.items():
            table[key].check(f"{path.stem}.{key}", value)  # type and range as rclpy will enforce
        assert "use_sim_time" not in block  # set once by the launch files


def test_console_scripts_for_every_node():
    tree = _tree(ROOT / "setup.py")
    nodes = next(
        ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "NODES"
    )
    assert {f"{n}_node" for n in nodes} == {p.stem for p in NODE_FILES}
    assert 'f"{n}_node = factory_ai.nodes.{n}_node:main"' in (ROOT / "setup.py").read_text()


def test_rclpy_and_ros_packages_are_imported_only_under_nodes():
    offenders = []
    for path in sorted((ROOT / "factory_ai").rglob("*.py")):
        if NODES_DIR in path.parents:
            continue
        offenders += [f"{path.relative_to(ROOT)}:{n.lineno} {m}" for m, n in _imports(_tree(path)) if _is_ros_module(m)]
    assert not offenders, offenders


def test_core_never_imports_the_nodes_package():
    core = ("vision", "inspection", "planning", "learning", "cell", "sim", "robot")
    offenders = []
    for sub in core:
        for path in sorted((ROOT / "factory_ai" / sub).rglob("*.py")):
            offenders += [f"{path.relative_to(ROOT)} {m}" for m, _ in _imports(_tree(path)) if m.startswith("factory_ai.nodes")]
    assert not offenders, offenders


def test_pure_helpers_of_the_ros_layer_import_without_ros():
    for path in sorted(NODES_DIR.glob("*.py")):
        if path.stem.endswith("_node") or path.stem in ROS_ONLY_MODULES or path.stem == "moveit_backend":
            continue
        tree = _tree(path)
        top_level = [m for m, n in _imports(ast.Module(body=tree.body, type_ignores=[])) if _is_ros_module(m) and n in tree.body]
        assert not top_level, f"{path.name} imports {top_level} at module level"
        importlib.import_module(f"factory_ai.nodes.{path.stem}")
