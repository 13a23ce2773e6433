"""The package must run on ROS 2 Jazzy's Python stack (Python 3.12, numpy 1.26, OpenCV 4.6) and
on Python 3.10+: no newer syntax, no numpy-2-only API, no pins that fight the distribution."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted([*(ROOT / "factory_ai").rglob("*.py"), *(ROOT / "launch").glob("*.py"), *(ROOT / "test").rglob("*.py")])

# Functions numpy added in 2.0 (1.26 raises AttributeError on them).
NUMPY2_ONLY = {
    "trapezoid", "concat", "unstack", "permute_dims", "matrix_transpose", "vecdot", "vecmat", "matvec",
    "bitwise_count", "isdtype", "cumulative_sum", "cumulative_prod", "astype", "pow", "acos", "asin",
    "atan", "atan2", "acosh", "asinh", "atanh", "bitwise_left_shift", "bitwise_right_shift",
    "bitwise_invert", "unique_values", "unique_counts", "unique_inverse", "unique_all", "strings",
}  # fmt: skip
NUMPY2_LINALG_ONLY = {"matrix_norm", "vector_norm", "svdvals", "vecdot", "matrix_transpose", "diagonal", "trace", "outer", "cross"}
DISTRO_PACKAGES = {"numpy", "scipy", "opencv-python", "opencv-python-headless", "pyyaml", "lxml", "matplotlib"}


def test_sources_parse_as_python_3_10():
    for path in SOURCES:
        ast.parse(path.read_text(), filename=str(path), feature_version=(3, 10))


def _numpy_aliases(tree: ast.AST) -> set[str]:
    names = {"numpy"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.asname or a.name for a in node.names if a.name == "numpy"}
    return names


def test_no_numpy_2_only_api():
    offenders = []
    for path in SOURCES:
        tree = ast.parse(path.read_text())
        np_names = _numpy_aliases(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in np_names:
                if node.attr in NUMPY2_ONLY:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} np.{node.attr}")
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Attribute)
                and node.value.attr == "linalg"
                and isinstance(node.value.value, ast.Name)
                and node.value.value.id in np_names
                and node.attr in NUMPY2_LINALG_ONLY
            ):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} np.linalg.{node.attr}")
            if isinstance(node, ast.ImportFrom) and node.module in ("numpy", "numpy.linalg"):
                bad = NUMPY2_ONLY if node.module == "numpy" else NUMPY2_LINALG_ONLY
                offenders += [f"{path.relative_to(ROOT)}:{node.lineno} {a.name}" for a in node.names if a.name in bad]
            # np.asarray(..., copy=...) only exists in numpy 2
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "asarray"
                and getattr(node.func.value, "id", "") in np_names
                and any(k.arg == "copy" for k in node.keywords)
            ):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} np.asarray(copy=...)")
    assert not offenders, offenders


def _requirements(name: str) -> dict[str, str]:
    out = {}
    for line in (ROOT / name).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            pkg, _, version = line.partition("==")
            assert version, f"{name}: {line!r} is not pinned with =="
            out[pkg.lower()] = version
    return out


def test_setup_py_pins_nothing():
    tree = ast.parse((ROOT / "setup.py").read_text())
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "setup")
    requires = ast.literal_eval(next(k.value for k in call.keywords if k.arg == "install_requires"))
    assert all(not re.search(r"[<>=~!]", r) for r in requires), requires


def test_ros_requirements_leave_the_distribution_packages_alone():
    ros = _requirements("requirements-ros.txt")
    assert not DISTRO_PACKAGES & set(ros), "rosdep provides these on ROS; a pip pin would fight the distro"
    assert "pin" not in ros and "coal" not in ros  # PyPI wheels need numpy >= 2.2: ros-jazzy-pinocchio instead
    assert ros["torch"] == "2.13.0"
    pinned = _requirements("requirements.txt")
    for pkg in ("mujoco", "pytorch-kinematics", "ruckig", "rosbags", "mcap-ros2-support", "onnxruntime"):
        assert ros[pkg] == pinned[pkg], f"{pkg}: requirements-ros.txt {ros[pkg]} != requirements.txt {pinned[pkg]}"
    compat = _requirements("requirements-compat.txt")
    assert compat["numpy"].startswith("1.26.") and compat["opencv-python-headless"].startswith("4.")
