"""ament_python package that also installs with plain pip (see requirements.txt for pins)."""

from glob import glob
from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "factory_ai"


def tree(folder: str) -> list[tuple[str, list[str]]]:
    """data_files entries installing every file under `folder` into the share directory."""
    entries: dict[str, list[str]] = {}
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            entries.setdefault(f"share/{PACKAGE}/{path.parent.as_posix()}", []).append(path.as_posix())
    return sorted(entries.items())


NODES = ["vision", "defect_classifier", "trajectory_planner", "feedback_learner", "twin"]

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*"]),
    package_data={PACKAGE: ["inspection/weights/*.pt", "inspection/weights/*.json", "inspection/weights/*.md"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.py")),
        *tree("urdf"),
        *tree("config"),
        *tree("worlds"),
    ],
    # Only what every install path agrees on: ROS users get numpy/scipy/opencv from rosdep,
    # pip users get pinned versions from requirements.txt. A pin here would fight the distro.
    install_requires=["setuptools", "numpy", "scipy", "pyyaml"],
    zip_safe=False,
    maintainer="factory_ai maintainers",
    maintainer_email="maintainers@factory-ai.dev",
    description="Adaptive pick-and-reject for robot arms over a conveyor, with a MuJoCo digital twin.",
    license="Apache-2.0",
    python_requires=">=3.10",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "factory-ai = factory_ai.cli:main",
            *(f"{n}_node = factory_ai.nodes.{n}_node:main" for n in NODES),
        ],
    },
)
