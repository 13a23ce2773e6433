"""The moveit_py backend against a real MoveIt 2: MoveItPy starts on the generated config,
validates our trajectories with `PlanningScene.is_path_valid` (and refuses one through a crate),
and plans back to `ready` with Pilz PTP and to a joint goal with OMPL.

MoveItPy runs in a probe subprocess next to a /joint_states publisher process (its constructor
holds the interpreter; MoveIt's teardown may abort after a successful run), and the test judges
by what the probe printed. Skipped without a MoveIt 2 install.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("moveit")
pytest.importorskip("moveit.planning")
pytest.importorskip("rclpy")

from moveit_helpers import MOVEIT_TEST_DIR, isolated_ros_env, joint_state_publisher, results  # noqa: E402

pytestmark = pytest.mark.moveit

REPO = Path(__file__).resolve().parents[2]
ARM_URDF = REPO / "urdf" / "factory_arm.urdf"
SHIPPED = REPO / "config" / "moveit"
JOINTS = ("shoulder_pan_joint", "shoulder_lift_joint", "elbow_joint", "wrist_1_joint", "wrist_2_joint", "wrist_3_joint")
PROBE_TIMEOUT_S = 240


@pytest.fixture(scope="module")
def probe(cell):
    """Start state = ready turned 0.4 rad about the base; run the probe once, return its steps."""
    start = np.asarray(cell.arm.ready_q_rad, dtype=float) + np.array([0.4, 0, 0, 0, 0, 0])
    env = isolated_ros_env()
    with joint_state_publisher(JOINTS, start, env):
        proc = subprocess.run(
            [sys.executable, str(MOVEIT_TEST_DIR / "moveit_py_probe.py"), "--urdf", str(ARM_URDF),
             "--config", str(SHIPPED), "--start", json.dumps(start.tolist())],
            env=env, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S,
        )  # fmt: skip
    steps = results(proc.stdout)
    assert "error" not in steps, steps["error"]["traceback"] + proc.stderr[-4000:]
    assert "started" in steps, f"MoveItPy did not start (exit {proc.returncode}):\n{proc.stderr[-4000:]}"
    return start, steps


def test_moveit_py_starts_on_the_generated_config_and_sees_the_published_state(probe):
    start, steps = probe
    assert tuple(steps["started"]["joints"]) == JOINTS
    np.testing.assert_allclose(steps["state"]["q"], start, atol=1e-3)


def test_is_path_valid_accepts_a_free_path_and_refuses_one_through_a_crate(probe):
    _, steps = probe
    assert steps["validate_free"]["valid"], steps["validate_free"]
    assert not steps["validate_crate"]["valid"], steps["validate_crate"]
    assert steps["validate_crate_touch_allowed"]["valid"], steps["validate_crate_touch_allowed"]
    assert steps["validate_removed"]["valid"]


def test_pilz_plans_back_to_ready_and_ompl_to_a_joint_goal(probe, cell):
    start, steps = probe
    plan = steps["plan_ready"]
    assert plan["ok"], plan
    assert tuple(plan["names"]) == JOINTS
    np.testing.assert_allclose(plan["q_first"], start, atol=1e-3)
    np.testing.assert_allclose(plan["q_last"], cell.arm.ready_q_rad, atol=1e-3)
    assert plan["duration_s"] > 0
    ompl = steps["plan_ompl"]
    assert ompl["ok"], ompl
    np.testing.assert_allclose(ompl["q_last"], ompl["goal"], atol=1e-3)
    assert "done" in steps
