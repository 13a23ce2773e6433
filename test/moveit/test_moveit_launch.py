"""`ros2 launch factory_ai moveit.launch.py` brings up a move_group that serves the factory_arm's
planning scene, with the cell's obstacles once they are applied.

Judged by what move_group answers on /get_planning_scene, not by exit codes (MoveIt may abort in
its teardown). Needs a MoveIt 2 install and this package built and sourced (ament index);
skipped otherwise.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

import numpy as np
import pytest

pytest.importorskip("moveit")
rclpy = pytest.importorskip("rclpy")
pytest.importorskip("moveit_msgs.srv")

from moveit_helpers import isolated_ros_env, joint_state_publisher  # noqa: E402

pytestmark = pytest.mark.moveit

JOINTS = ("shoulder_pan_joint", "shoulder_lift_joint", "elbow_joint", "wrist_1_joint", "wrist_2_joint", "wrist_3_joint")
START_TIMEOUT_S = 90.0


def _installed() -> bool:
    try:
        from ament_index_python.packages import get_package_share_directory

        get_package_share_directory("factory_ai")
    except Exception:  # noqa: BLE001 - not built/sourced: skip
        return False
    return shutil.which("ros2") is not None


@pytest.mark.skipif(not _installed(), reason="factory_ai is not built and sourced in a ROS 2 workspace")
def test_move_group_serves_the_factory_arm_scene_and_takes_the_cell_fixtures(cell, monkeypatch):
    from moveit_msgs.srv import ApplyPlanningScene, GetPlanningScene

    from factory_ai.nodes.planning_scene import (
        SceneObstacles,
        cell_fixture_obstacles,
        get_planning_scene_request,
        moveit_rclpy_types,
        planning_scene_diff,
        static_frames,
    )

    env = isolated_ros_env()
    for key in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE"):
        monkeypatch.setenv(key, env[key])
    with joint_state_publisher(JOINTS, cell.arm.ready_q_rad, env):
        launch = subprocess.Popen(
            ["ros2", "launch", "factory_ai", "moveit.launch.py", "use_rviz:=false"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )  # fmt: skip
        rclpy.init()
        node = rclpy.create_node("factory_ai_moveit_launch_test")
        try:
            msgs = moveit_rclpy_types()
            get = node.create_client(GetPlanningScene, "/get_planning_scene")
            apply = node.create_client(ApplyPlanningScene, "/apply_planning_scene")

            def call(client, request, timeout_s: float):
                future = client.call_async(request)
                rclpy.spin_until_future_complete(node, future, timeout_sec=timeout_s)
                assert future.done(), f"{client.srv_name} did not answer in {timeout_s} s"
                return future.result()

            deadline = time.monotonic() + START_TIMEOUT_S
            while not get.wait_for_service(timeout_sec=1.0):
                assert launch.poll() is None, launch.stdout.read()[-4000:]
                assert time.monotonic() < deadline, "move_group's /get_planning_scene never appeared"
            scene = call(get, get_planning_scene_request(msgs), 30.0).scene
            assert scene.robot_model_name == "factory_arm"

            fixtures = cell_fixture_obstacles(cell)
            assert apply.wait_for_service(timeout_sec=30.0)
            response = call(apply, msgs.ApplyPlanningScene_Request(scene=planning_scene_diff(msgs, fixtures)), 30.0)
            assert response.success
            scene = call(get, get_planning_scene_request(msgs), 30.0).scene
            back = SceneObstacles(static_frames(cell.arm.urdf_path))
            back.apply_scene(scene)
            got = {o.name.split("/")[1]: o for o in back.obstacles()}
            for o in fixtures:
                np.testing.assert_allclose(got[o.name].T_base_obj, o.T_base_obj, atol=1e-6)
        finally:
            node.destroy_node()
            rclpy.try_shutdown()
            if launch.poll() is None:
                os.killpg(launch.pid, signal.SIGINT)  # the launch process group we started
                try:
                    launch.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(launch.pid, signal.SIGKILL)
                    launch.wait(timeout=10)
