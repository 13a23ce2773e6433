"""twin_node: the MuJoCo digital twin as a ROS robot, so the whole graph runs without hardware.

Publishes `camera/image_raw` (rgb8, sensor-data QoS) with `camera/camera_info`, `joint_states`,
`/clock` (the twin is the time source: run it with use_sim_time false, the rest with true),
`inspection_labels` (downstream truth, delayed, keyed by the vision's track ids), the vacuum
switch on `suction/holding` (std_msgs/Bool) and `twin/part_events` (spawned, picked, in_bin,
escaped, ...); serves `control_msgs/action/FollowJointTrajectory` (a new goal preempts the one
in flight, like joint_trajectory_controller) and the suction `std_srvs/srv/SetBool`; broadcasts
the camera's static transform from the cell description.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any

import numpy as np
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.lifecycle import State, TransitionCallbackReturn
from rclpy.qos import qos_profile_sensor_data
from rclpy.task import Future

from factory_ai.nodes import convert
from factory_ai.nodes.common import DEPTH, CellNode, guarded, run
from factory_ai.nodes.params import Param
from factory_ai.types import InspectionLabel

PARAMS: dict[str, Param] = {
    "cell_file": Param("", "cell description YAML; empty = the package's config/cell.yaml"),
    "seed": Param(0, "seed of every random draw of the twin (parts, defects, camera noise, label noise)", "", 0, 2147483647),
    "belt_speed_mps": Param(-1.0, "belt speed; < 0 = the cell description's", "m/s", -1.0, 2.0),
    "defect_rate": Param(0.1, "share of spawned parts that are defective", "fraction", 0.0, 1.0),
    "real_time_factor": Param(1.0, "simulated seconds per wall-clock second", "", 0.05, 10.0),
    "step_period_s": Param(0.01, "wall-clock period of the simulation loop", "s", 0.001, 0.1),
    "max_step_s": Param(0.05, "most simulated time advanced per loop tick (the twin slows down rather than jump)", "s", 0.001, 0.5),
    "joint_state_rate_hz": Param(100.0, "rate of joint_states in simulated time", "Hz", 1.0, 1000.0),
    "camera_rate_hz": Param(-1.0, "camera frame rate in simulated time; < 0 = the cell description's", "Hz", -1.0, 120.0),
    "label_delay_s": Param(2.0, "delay of the downstream inspection label (SimConfig.label_delay_s)", "s", 0.0, 600.0),
    "label_flip_prob": Param(0.0, "probability a label is wrong (SimConfig.label_flip_prob)", "probability", 0.0, 0.5),
    "match_radius_m": Param(0.015, "largest distance between a tracked part and the true part it is taken for", "m", 0.001, 0.2),
    "controller_action": Param("/joint_trajectory_controller/follow_joint_trajectory", "FollowJointTrajectory action served"),
    "suction_service": Param("/suction/set", "std_srvs/SetBool service served (true = vacuum on)"),
    "suction_state_topic": Param("/suction/holding", "std_msgs/Bool published: the cup holds a part"),
    "settle_s": Param(0.05, "time after a trajectory's end before its goal succeeds", "s", 0.0, 2.0),
    "publish_camera_tf": Param(True, "broadcast base frame -> camera optical frame from the cell description"),
}

_SUCCESSFUL, _INVALID_GOAL, _INVALID_JOINTS = 0, -1, -2


class TwinNode(CellNode):
    """Managed node around `factory_ai.sim.CellSim`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("twin_node", PARAMS, **kwargs)
        self.p: dict[str, Any] = {}
        self.cell = self.sim = None
        self._wall_last = 0.0
        self._next_js_s = self._next_cam_s = 0.0
        self._goal: dict[str, Any] | None = None  # goal handle, done future, end time
        self._track_of_part: dict[int, int] = {}  # twin part id -> vision track id
        self._labelled: set[int] = set()  # part ids whose label went out
        self._n_events = 0
        self._holding: bool | None = None
        self._static_tf = None
        self._steps_behind = 0

    # -- lifecycle ----------------------------------------------------------------------------

    def on_configure(self, state: State) -> TransitionCallbackReturn:
        """Build and reset the simulation; create topics, action server, service."""
        self.p = self.read_parameters()
        try:
            self._build_sim()
        except Exception as exc:  # noqa: BLE001
            return self.configure_failed("cannot build the digital twin", exc)
        from control_msgs.action import FollowJointTrajectory
        from std_srvs.srv import SetBool

        m = self.msgs
        self.image_pub = self.track(self.create_lifecycle_publisher(m.Image.cls, "camera/image_raw", qos_profile_sensor_data))
        self.info_pub = self.track(
            self.create_lifecycle_publisher(m.CameraInfo.cls, "camera/camera_info", qos_profile_sensor_data)
        )
        self.js_pub = self.track(self.create_lifecycle_publisher(m.JointState.cls, "joint_states", DEPTH))
        self.clock_pub = self.track(self.create_lifecycle_publisher(m.Clock.cls, "/clock", DEPTH))
        self.label_pub = self.track(self.create_lifecycle_publisher(m.Detection2DArray.cls, "inspection_labels", DEPTH))
        self.event_pub = self.track(self.create_lifecycle_publisher(m.DiagnosticArray.cls, "twin/part_events", DEPTH))
        self.holding_pub = self.track(self.create_lifecycle_publisher(m.Bool.cls, self.p["suction_state_topic"], DEPTH))
        self.create_diagnostics_publisher()
        self.track(self.create_subscription(m.Detection2DArray.cls, "parts", self._on_parts, DEPTH))
        self.track(self.create_service(SetBool, self.p["suction_service"], self._on_suction))
        self.track(
            ActionServer(
                self,
                FollowJointTrajectory,
                self.p["controller_action"],
                execute_callback=self._execute,
                goal_callback=self._on_goal,
                handle_accepted_callback=self._on_accepted,
                cancel_callback=self._on_cancel,
            )
        )
        self.track(self.create_timer(self.p["step_period_s"], self._on_step_timer))
        self.track(self.create_timer(1.0, self._on_diagnostics_timer))
        if self.p["publish_camera_tf"]:
            self._broadcast_camera_tf()
        self.get_logger().info(f"configured: twin at t={self.sim.time_s:.3f} s, seed {self.p['seed']}")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        """Run the simulation from here (no catching up on the time spent inactive)."""
        self._wall_last = time.monotonic()
        return super().on_activate(state)

    def release(self) -> None:
        """Drop the simulation."""
        if self._goal is not None and not self._goal["done"].done():
            self._goal["done"].set_result(("aborted", _INVALID_GOAL, "twin cleaned up"))
        self._goal = None
        self.sim = None
        self._static_tf = None

    # -- the simulation loop ----------------------------------------------------------------------

    @guarded("simulation step")
    def _on_step_timer(self) -> None:
        wall = time.monotonic()
        dt = min((wall - self._wall_last) * self.p["real_time_factor"], self.p["max_step_s"])
        self._wall_last = wall
        if dt > 0.0:
            self.advance(dt)

    def advance(self, dt: float) -> None:
        """Step the twin by dt simulated seconds and publish what is due."""
        self.sim.step(dt)
        t = float(self.sim.time_s)
        self.clock_pub.publish(convert.clock_msg(self.msgs, t))
        if t >= self._next_js_s:
            self._next_js_s = t + 1.0 / self.p["joint_state_rate_hz"]
            self.js_pub.publish(convert.joint_state_msg(self.msgs, self.sim.joint_state()))
        if t >= self._next_cam_s:
            self._next_cam_s = t + 1.0 / self._camera_rate_hz()
            self._publish_camera()
        self._publish_suction_state()
        self._publish_events(t)
        self._publish_labels(t)
        self._check_goal(t)

    def _publish_camera(self) -> None:
        frame = self.sim.render_camera()
        cam = self.cell.camera
        K = frame.K if getattr(frame, "K", None) is not None else cam.K
        frame_id = getattr(frame, "frame_id", None) or cam.frame_id
        self.image_pub.publish(convert.image_msg(self.msgs, frame.rgb, "rgb8", frame.stamp_s, frame_id))
        h, w = frame.rgb.shape[:2]
        self.info_pub.publish(convert.camera_info_msg(self.msgs, w, h, K, cam.distortion, frame.stamp_s, frame_id))

    def _publish_suction_state(self) -> None:
        held = self.sim.suction().held_part_id is not None
        if held != self._holding:
            self._holding = held
            self.holding_pub.publish(self.msgs.Bool(data=held))

    def _publish_events(self, t: float) -> None:
        events = self.sim.events()  # the run's whole event list, oldest first
        new = events[self._n_events :]
        self._n_events = len(events)
        if new:
            self.event_pub.publish(convert.part_events_to_diagnostics(self.msgs, new, t))

    def _publish_labels(self, t: float) -> None:
        """The twin's end-of-line station (delayed, noisy per SimConfig), relabelled by track id."""
        due = []
        for lab in self.sim.labels():  # keyed by the twin's part id
            track = self._track_of_part.get(int(lab.track_id))
            if track is None or lab.track_id in self._labelled:
                continue  # already sent, or the vision never reported the part: no id to label
            self._labelled.add(lab.track_id)
            due.append(InspectionLabel(track, lab.stamp_s, lab.defective, lab.defect_type))
        if due:
            self.label_pub.publish(convert.labels_to_detections(self.msgs, due, t, self.cell.arm.base_frame))

    @guarded("parts")
    def _on_parts(self, msg: Any) -> None:
        """Learn which true part each vision track is, by position (for the labels)."""
        truths = [g for g in self.sim.ground_truth() if g.on_belt]
        if not truths:
            return
        now = float(self.sim.time_s)
        p_true = np.array([np.asarray(g.p_base_m)[:2] for g in truths])
        v_true = np.array([np.asarray(g.v_base_mps)[:2] for g in truths])
        for part in convert.detections_to_parts(msg):
            if part.track_id in self._track_of_part.values():
                continue
            p_then = p_true - v_true * (now - part.stamp_s)  # true positions back at the image stamp
            d = np.linalg.norm(p_then - part.p_base_m[:2], axis=1)
            i = int(np.argmin(d))
            if d[i] <= self.p["match_radius_m"]:
                self._track_of_part.setdefault(int(truths[i].part_id), part.track_id)

    # -- FollowJointTrajectory --------------------------------------------------------------------

    def _on_goal(self, goal: Any) -> GoalResponse:
        if not self.active:
            return GoalResponse.REJECT
        names = [str(n) for n in goal.trajectory.joint_names]
        if sorted(names) != sorted(self.sim.joint_state().names):
            self.get_logger().error(f"goal rejected: joints {names} are not the arm's")
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    def _on_accepted(self, goal_handle: Any) -> None:
        if self._goal is not None and not self._goal["done"].done():
            self._goal["done"].set_result(("aborted", _INVALID_GOAL, "preempted by a new goal"))
        goal_handle.execute()

    def _on_cancel(self, cancel_request: Any) -> CancelResponse:
        return CancelResponse.ACCEPT

    async def _execute(self, goal_handle: Any) -> Any:
        """Start the trajectory in the twin and finish when it has run (or was preempted)."""
        result = self.msgs.FollowJointTrajectory_Result
        now = float(self.sim.time_s)
        try:
            traj = convert.trajectory_from_msg(goal_handle.request.trajectory, self.sim.joint_state().names)
            start = traj.start_stamp_s if traj.start_stamp_s > 0.0 else now
            traj = _restamped(traj, start)
            self.sim.execute(traj)
        except ValueError as exc:  # TrajectoryError is a ValueError
            goal_handle.abort()
            return result(error_code=_INVALID_GOAL, error_string=str(exc))
        done = Future()
        self._goal = {"handle": goal_handle, "done": done, "end_s": start + traj.duration_s + self.p["settle_s"]}
        outcome, code, text = await done
        if outcome == "succeeded":
            goal_handle.succeed()
        elif outcome == "canceled":
            goal_handle.canceled()
        else:
            goal_handle.abort()
        return result(error_code=code, error_string=text)

    def _check_goal(self, t: float) -> None:
        goal = self._goal
        if goal is None or goal["done"].done():
            return
        if goal["handle"].is_cancel_requested:
            q = self.sim.joint_state().q_rad
            self.sim.execute(_hold(self.sim.joint_state().names, q, t))
            goal["done"].set_result(("canceled", _SUCCESSFUL, "canceled"))
        elif t >= goal["end_s"]:
            goal["done"].set_result(("succeeded", _SUCCESSFUL, ""))

    # -- suction ----------------------------------------------------------------------------------

    def _on_suction(self, request: Any, response: Any) -> Any:
        if not self.active or self.sim is None:
            response.success, response.message = False, "twin not active"
            return response
        self.sim.set_suction(bool(request.data))
        response.success = True
        response.message = f"vacuum {'on' if request.data else 'off'}"
        return response

    # -- misc ---------------------------------------------------------------------------------------

    def _on_diagnostics_timer(self) -> None:
        if not self.active or self.sim is None:
            return
        self.publish_status(
            "ok",
            f"sim time {self.sim.time_s:.2f} s",
            {"sim_time_s": round(float(self.sim.time_s), 3), "events": self._n_events,
             "tracks_matched": len(self._track_of_part), "labels_sent": len(self._labelled)},
        )  # fmt: skip

    def now_s(self) -> float:
        """The twin's clock is the simulation's (the node itself runs on wall time)."""
        return float(self.sim.time_s) if self.sim is not None else super().now_s()

    def _camera_rate_hz(self) -> float:
        rate = self.p["camera_rate_hz"]
        return rate if rate > 0.0 else self.cell.camera.frame_rate_hz

    def _broadcast_camera_tf(self) -> None:
        from tf2_ros import StaticTransformBroadcaster

        self._static_tf = StaticTransformBroadcaster(self)
        msg = convert.transform_msg(
            self.msgs, self.cell.camera.T_base_camera, 0.0, self.cell.arm.base_frame, self.cell.camera.frame_id
        )
        self._static_tf.sendTransform(msg)

    def _build_sim(self) -> None:
        if "DISPLAY" not in os.environ:  # headless ROS machine: MuJoCo's GLFW default has no display
            os.environ.setdefault("MUJOCO_GL", "egl")
        from factory_ai.config import load_cell_description
        from factory_ai.sim import CellSim, SimConfig

        self.cell = load_cell_description(self.p["cell_file"] or None)
        speed = self.p["belt_speed_mps"]
        config = SimConfig(
            belt_speed_mps=speed if speed >= 0.0 else None,
            defect_rate=float(self.p["defect_rate"]),
            label_delay_s=float(self.p["label_delay_s"]),
            label_flip_prob=float(self.p["label_flip_prob"]),
        )
        self.sim = CellSim(self.cell, config)
        self.sim.reset(self.p["seed"])
        self._next_js_s = self._next_cam_s = float(self.sim.time_s)


def _restamped(traj: Any, start_s: float) -> Any:
    return dataclasses.replace(traj, start_stamp_s=float(start_s))


def _hold(names: tuple[str, ...], q_rad: np.ndarray, now_s: float) -> Any:
    """A trajectory that holds the arm where it is (after a cancel)."""
    from factory_ai.types import JointTrajectory

    q = np.asarray(q_rad, dtype=float)[None, :]
    z = np.zeros_like(q)
    return JointTrajectory(tuple(names), np.array([0.05]), q, z, z, start_stamp_s=now_s)


def main(args: list[str] | None = None) -> None:
    """Entry point of `ros2 run factory_ai twin_node`."""
    run(TwinNode, args)


if __name__ == "__main__":
    main()
