"""launch_testing: cell.launch.py brings the four lifecycle nodes to 'active'; a malformed image
is logged by vision_node, which stays active. Needs a ROS 2 Jazzy install (skipped otherwise):

    colcon build --packages-select factory_ai && source install/setup.bash
    python3 -m pytest -m ros src/factory_ai/test/ros/test_cell_launch.py
"""

from __future__ import annotations

import tempfile
import time
import unittest
from pathlib import Path

import pytest

pytest.importorskip("rclpy", reason="needs a ROS 2 install")
pytest.importorskip("launch_testing", reason="needs a ROS 2 install")

import launch_testing  # noqa: E402
import launch_testing.asserts  # noqa: E402
import launch_testing.actions  # noqa: E402
import rclpy  # noqa: E402
import yaml  # noqa: E402
from ament_index_python.packages import get_package_share_directory  # noqa: E402
from launch import LaunchDescription  # noqa: E402
from launch.actions import IncludeLaunchDescription  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402
from lifecycle_msgs.msg import State  # noqa: E402
from lifecycle_msgs.srv import GetState  # noqa: E402
from rclpy.qos import qos_profile_sensor_data  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

NODES = ("vision_node", "defect_classifier_node", "trajectory_planner_node", "feedback_learner_node")
SHARE = Path(get_package_share_directory("factory_ai"))


def make_params_file() -> str:
    """The shipped nodes.yaml with the learner's database in a fresh temporary folder."""
    tmp = Path(tempfile.mkdtemp(prefix="factory_ai_launch_test_"))
    params = yaml.safe_load((SHARE / "config" / "nodes.yaml").read_text())
    params["feedback_learner_node"]["ros__parameters"]["db_path"] = str(tmp / "learner.sqlite")
    path = tmp / "nodes.yaml"
    path.write_text(yaml.safe_dump(params))
    return str(path)


@pytest.mark.ros
@pytest.mark.launch_test
def generate_test_description():
    cell = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(str(SHARE / "launch" / "cell.launch.py")),
        launch_arguments={"params_file": make_params_file(), "autostart": "true"}.items(),
    )
    return LaunchDescription([cell, launch_testing.actions.ReadyToTest()])


def wait_for_state(node, name: str, state_id: int, timeout_s: float) -> int:
    """Poll /<name>/get_state until it reports `state_id`; returns the last state seen."""
    client = node.create_client(GetState, f"/{name}/get_state")
    last = -1
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            if client.wait_for_service(timeout_sec=1.0):
                future = client.call_async(GetState.Request())
                rclpy.spin_until_future_complete(node, future, timeout_sec=2.0)
                if future.result() is not None:
                    last = future.result().current_state.id
                    if last == state_id:
                        return last
            time.sleep(0.2)
        return last
    finally:
        node.destroy_client(client)


class TestCellNodes(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        rclpy.init()
        cls.node = rclpy.create_node("cell_launch_probe")

    @classmethod
    def tearDownClass(cls):
        cls.node.destroy_node()
        rclpy.shutdown()

    def test_1_every_node_reaches_active(self):
        for name in NODES:
            state = wait_for_state(self.node, name, State.PRIMARY_STATE_ACTIVE, timeout_s=90.0)
            self.assertEqual(state, State.PRIMARY_STATE_ACTIVE, f"{name} ended in state {state}")

    def test_2_malformed_image_is_logged_and_the_node_keeps_running(self, proc_output):
        self.assertEqual(wait_for_state(self.node, "vision_node", State.PRIMARY_STATE_ACTIVE, 90.0), 3)
        pub = self.node.create_publisher(Image, "/camera/image_raw", qos_profile_sensor_data)
        bad = Image(height=480, width=640, encoding="rgb8", step=1920)
        bad.data = bytes(1000)  # far fewer than 480 x 1920 bytes
        bad.header.stamp = self.node.get_clock().now().to_msg()
        bad.header.frame_id = "overhead_camera_optical_frame"
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:  # best-effort QoS: send a few
            pub.publish(bad)
            rclpy.spin_once(self.node, timeout_sec=0.2)
        proc_output.assertWaitFor("bad image dropped", timeout=15, stream="stderr")
        odd = Image(height=2, width=2, encoding="yuv422", step=4, data=bytes(8))
        pub.publish(odd)
        proc_output.assertWaitFor("not supported", timeout=15, stream="stderr")
        state = wait_for_state(self.node, "vision_node", State.PRIMARY_STATE_ACTIVE, 10.0)
        self.assertEqual(state, State.PRIMARY_STATE_ACTIVE, "vision_node stopped after malformed images")
        self.node.destroy_publisher(pub)


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):
    def test_processes_exit_cleanly(self, proc_info):
        launch_testing.asserts.assertExitCodes(proc_info, allowable_exit_codes=[0, -2, -15])
