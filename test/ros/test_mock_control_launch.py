"""launch_testing: mock_control.launch.py runs ros2_control's joint_trajectory_controller on mock
hardware with the cell; a defect reported to the planner node becomes a goal the controller
executes to SUCCEEDED, including a replacement goal sent while the arm moves (a second defect
arrives during the approach). Needs ROS 2 Jazzy with ros2_control (skipped otherwise)."""

from __future__ import annotations

import tempfile
import time
import unittest
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="needs a ROS 2 install")
pytest.importorskip("launch_testing", reason="needs a ROS 2 install")
pytest.importorskip("controller_manager", reason="needs ros2_control")

import launch_testing  # noqa: E402
import launch_testing.actions  # noqa: E402
import rclpy  # noqa: E402
import yaml  # noqa: E402
from action_msgs.msg import GoalStatus, GoalStatusArray  # noqa: E402
from ament_index_python.packages import get_package_share_directory  # noqa: E402
from launch import LaunchDescription  # noqa: E402
from launch.actions import IncludeLaunchDescription  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402
from lifecycle_msgs.msg import State  # noqa: E402
from lifecycle_msgs.srv import GetState  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile  # noqa: E402
from vision_msgs.msg import Detection2DArray  # noqa: E402

from factory_ai.nodes import convert  # noqa: E402
from factory_ai.types import DefectType, DefectVerdict, PartObservation  # noqa: E402

SHARE = Path(get_package_share_directory("factory_ai"))
ACTION = "/joint_trajectory_controller/follow_joint_trajectory"
BELT_V_MPS = np.array([0.2, 0.0, 0.0])


def make_params_file() -> str:
    tmp = Path(tempfile.mkdtemp(prefix="factory_ai_mock_test_"))
    params = yaml.safe_load((SHARE / "config" / "nodes.yaml").read_text())
    params["feedback_learner_node"]["ros__parameters"]["db_path"] = str(tmp / "learner.sqlite")
    path = tmp / "nodes.yaml"
    path.write_text(yaml.safe_dump(params))
    return str(path)


@pytest.mark.ros
@pytest.mark.launch_test
def generate_test_description():
    mock = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(str(SHARE / "launch" / "mock_control.launch.py")),
        launch_arguments={"params_file": make_params_file()}.items(),
    )
    return LaunchDescription([mock, launch_testing.actions.ReadyToTest()])


class TestPlannerAgainstJointTrajectoryController(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        rclpy.init()
        cls.node = rclpy.create_node("mock_control_probe")
        cls.msgs = convert.rclpy_types()

    @classmethod
    def tearDownClass(cls):
        cls.node.destroy_node()
        rclpy.shutdown()

    def _now_s(self) -> float:
        return self.node.get_clock().now().nanoseconds * 1e-9

    def _spin_until(self, done, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if done():
                return True
            rclpy.spin_once(self.node, timeout_sec=0.05)
        return done()

    def _planner_active(self) -> bool:
        client = self.node.create_client(GetState, "/trajectory_planner_node/get_state")
        try:
            if not client.wait_for_service(timeout_sec=2.0):
                return False
            future = client.call_async(GetState.Request())
            rclpy.spin_until_future_complete(self.node, future, timeout_sec=2.0)
            return future.result() is not None and future.result().current_state.id == State.PRIMARY_STATE_ACTIVE
        finally:
            self.node.destroy_client(client)

    def _report_defect(self, track_id: int, x_m: float, parts_pub, verdict_pub) -> None:
        """Tell the planner: part `track_id` is at base x = x_m now, moving with the belt, and defective."""
        now = self._now_s()
        part = PartObservation(track_id, now, np.array([x_m, 0.45, 0.01]), 0.0, BELT_V_MPS, (300, 220, 340, 260))
        verdict = DefectVerdict(track_id, now, 0.97, DefectType.CRACK, 0.97, 0.9, reject=True)
        parts_pub.publish(convert.parts_to_detections(self.msgs, [part], now, "overhead_camera_optical_frame"))
        rclpy.spin_once(self.node, timeout_sec=0.05)
        verdict_pub.publish(convert.verdicts_to_detections(self.msgs, [verdict], now, "overhead_camera_optical_frame"))

    def test_plan_executes_to_succeeded_with_a_replacement_goal(self):
        statuses: dict[bytes, list[int]] = {}

        def on_status(msg: GoalStatusArray) -> None:
            for s in msg.status_list:
                hist = statuses.setdefault(bytes(s.goal_info.goal_id.uuid), [])
                if not hist or hist[-1] != s.status:
                    hist.append(s.status)

        qos = QoSProfile(depth=10, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.node.create_subscription(GoalStatusArray, f"{ACTION}/_action/status", on_status, qos)
        parts_pub = self.node.create_publisher(Detection2DArray, "/parts", 10)
        verdict_pub = self.node.create_publisher(Detection2DArray, "/verdicts", 10)
        self.assertTrue(self._spin_until(self._planner_active, 90.0), "trajectory_planner_node not active")
        self.assertTrue(
            self._spin_until(lambda: self.node.count_subscribers("/verdicts") > 0, 30.0), "planner not subscribed"
        )
        time.sleep(5.0)  # spawners: the controller must be active before the first goal

        self._report_defect(101, -0.45, parts_pub, verdict_pub)
        self.assertTrue(
            self._spin_until(lambda: any(GoalStatus.STATUS_EXECUTING in h for h in statuses.values()), 20.0),
            f"no goal executing; statuses {statuses}",
        )
        first = next(iter(statuses))
        # A second defect during the approach: the planner replans and replaces the goal in flight.
        self._report_defect(102, -0.55, parts_pub, verdict_pub)
        self.assertTrue(self._spin_until(lambda: len(statuses) >= 2, 10.0), f"no replacement goal; {statuses}")
        replacement = [g for g in statuses if g != first][0]
        self.assertIn(GoalStatus.STATUS_EXECUTING, statuses[first], "the first goal never moved the arm")
        self.assertTrue(
            self._spin_until(lambda: GoalStatus.STATUS_SUCCEEDED in statuses[replacement], 30.0),
            f"replacement goal did not succeed: {statuses[replacement]}",
        )
        # joint_trajectory_controller preempts the goal in flight when a new one arrives
        self._spin_until(lambda: statuses[first][-1] in (GoalStatus.STATUS_CANCELED, GoalStatus.STATUS_ABORTED), 5.0)
        self.assertIn(statuses[first][-1], (GoalStatus.STATUS_CANCELED, GoalStatus.STATUS_ABORTED), f"{statuses}")
        # The queue drains: every goal the planner sent ends, the last one SUCCEEDED.
        terminal = {GoalStatus.STATUS_SUCCEEDED, GoalStatus.STATUS_ABORTED, GoalStatus.STATUS_CANCELED}
        self.assertTrue(
            self._spin_until(lambda: all(h[-1] in terminal for h in statuses.values()), 60.0), f"{statuses}"
        )
        last = list(statuses)[-1]
        self.assertEqual(statuses[last][-1], GoalStatus.STATUS_SUCCEEDED, f"{statuses}")


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):
    def test_spawners_succeeded(self, proc_info):
        import launch_testing.asserts

        # two spawner processes (one per controller): both must have exited 0
        launch_testing.asserts.assertExitCodes(
            proc_info, process="spawner", allowable_exit_codes=[0], strict_proc_matching=False
        )
