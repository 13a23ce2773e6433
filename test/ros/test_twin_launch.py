"""launch_testing: twin.launch.py runs the whole graph against the MuJoCo twin; with every part
defective, the planner sends a FollowJointTrajectory goal and a part lands in the reject bin
within the time limit. Needs a ROS 2 Jazzy install (skipped otherwise)."""

from __future__ import annotations

import tempfile
import time
import unittest
from pathlib import Path

import pytest

pytest.importorskip("rclpy", reason="needs a ROS 2 install")
pytest.importorskip("launch_testing", reason="needs a ROS 2 install")

import launch_testing  # noqa: E402
import launch_testing.actions  # noqa: E402
import launch_testing.asserts  # noqa: E402
import rclpy  # noqa: E402
import yaml  # noqa: E402
from action_msgs.msg import GoalStatusArray  # noqa: E402
from ament_index_python.packages import get_package_share_directory  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from launch import LaunchDescription  # noqa: E402
from launch.actions import IncludeLaunchDescription  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile  # noqa: E402

from factory_ai.nodes import convert  # noqa: E402

SHARE = Path(get_package_share_directory("factory_ai"))
ACTION = "/joint_trajectory_controller/follow_joint_trajectory"
TIME_LIMIT_S = 240.0  # wall clock; the twin runs at real time: belt travel to the pick window + one cycle


def make_params_file() -> str:
    """nodes.yaml with every twin part defective and the learner's database in a temp folder."""
    tmp = Path(tempfile.mkdtemp(prefix="factory_ai_twin_test_"))
    params = yaml.safe_load((SHARE / "config" / "nodes.yaml").read_text())
    params["twin_node"]["ros__parameters"]["defect_rate"] = 1.0
    params["feedback_learner_node"]["ros__parameters"]["db_path"] = str(tmp / "learner.sqlite")
    path = tmp / "nodes.yaml"
    path.write_text(yaml.safe_dump(params))
    return str(path)


@pytest.mark.ros
@pytest.mark.launch_test
def generate_test_description():
    twin = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(str(SHARE / "launch" / "twin.launch.py")),
        launch_arguments={"params_file": make_params_file()}.items(),
    )
    return LaunchDescription([twin, launch_testing.actions.ReadyToTest()])


class TestTwinRejectsADefectivePart(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        rclpy.init()
        cls.node = rclpy.create_node("twin_launch_probe")

    @classmethod
    def tearDownClass(cls):
        cls.node.destroy_node()
        rclpy.shutdown()

    def test_defective_part_gets_a_goal_and_ends_in_the_bin(self):
        goals: set[bytes] = set()
        in_bin: list[tuple[float, str, str]] = []

        def on_status(msg: GoalStatusArray) -> None:
            goals.update(bytes(s.goal_info.goal_id.uuid) for s in msg.status_list)

        def on_events(msg: DiagnosticArray) -> None:
            in_bin.extend(e for e in convert.diagnostics_to_part_events(msg) if e[2] == "in_bin")

        # action status is latched (transient local) by rclpy/rcl action servers
        status_qos = QoSProfile(depth=10, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.node.create_subscription(GoalStatusArray, f"{ACTION}/_action/status", on_status, status_qos)
        self.node.create_subscription(DiagnosticArray, "/twin/part_events", on_events, 100)
        deadline = time.monotonic() + TIME_LIMIT_S
        while time.monotonic() < deadline and not (goals and in_bin):
            rclpy.spin_once(self.node, timeout_sec=0.5)
        self.assertTrue(goals, f"no FollowJointTrajectory goal on {ACTION} within {TIME_LIMIT_S:.0f} s")
        self.assertTrue(in_bin, f"{len(goals)} goal(s) sent but no part in the bin within {TIME_LIMIT_S:.0f} s")


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):
    def test_processes_exit_cleanly(self, proc_info):
        launch_testing.asserts.assertExitCodes(proc_info, allowable_exit_codes=[0, -2, -15])
