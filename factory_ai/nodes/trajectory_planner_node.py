"""trajectory_planner_node: defect verdicts + tracked parts + joint states -> reject motions.

Subscribes `verdicts`, `parts` (vision_msgs/Detection2DArray), `joint_states` and the vacuum
switch (std_msgs/Bool, `suction_state_topic`). The cell's `RejectScheduler` (the same class the
simulated demo runs) replans on each new defect with `planning.RejectPlanner`; this node sends
its trajectories to the controller's `control_msgs/action/FollowJointTrajectory` server (a new
goal replaces the one in flight, as joint_trajectory_controller does), switches the vacuum
through a `std_srvs/srv/SetBool` service, and publishes the plan (`plan_markers`,
visualization_msgs/MarkerArray), pick outcomes (`pick_outcomes`, diagnostic_msgs/DiagnosticArray)
and alarms on `/diagnostics` (`cannot_reject`, `pick_failed_twice`, `uncertain_verdict`, with the
part id). Service and action calls are asynchronous: no callback waits.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from rclpy.action import ActionClient
from rclpy.lifecycle import State, TransitionCallbackReturn

from factory_ai.nodes import convert
from factory_ai.nodes.common import DEPTH, CellNode, guarded, run
from factory_ai.nodes.params import Param
from factory_ai.types import Alarm, PickOutcome, PickResult

PARAMS: dict[str, Param] = {
    "cell_file": Param("", "cell description YAML; empty = the package's config/cell.yaml"),
    "urdf_path": Param("", "robot URDF; empty = the one the cell description names"),
    "joint_limits_file": Param("", "joint_limits.yaml with acceleration/jerk limits; empty = the package's"),
    "planning_backend": Param("builtin", "'builtin' (our planner only) or 'moveit' (also validate with MoveIt's collision model)"),
    "moveit_config_dir": Param("", "MoveIt config of the arm (backend moveit); empty = the package's config/moveit"),
    "moveit_group": Param("arm", "MoveIt planning group of the arm (backend moveit)"),
    "moveit_scene_service": Param("/get_planning_scene", "move_group's GetPlanningScene service (backend moveit)"),
    "controller_action": Param("/joint_trajectory_controller/follow_joint_trajectory", "FollowJointTrajectory action of the arm controller"),
    "suction_service": Param("/suction/set", "std_srvs/SetBool service switching the vacuum (true = on)"),
    "suction_state_topic": Param("/suction/holding", "std_msgs/Bool from the vacuum switch: true while a part is held"),
    "latency_s": Param(0.05, "delay from image exposure to the controller starting a goal, planned for", "s", 0.0, 2.0),
    "goal_time_tolerance_s": Param(0.5, "goal_time_tolerance sent with each goal", "s", 0.0, 10.0),
    "reject_uncertain": Param(True, "reject parts whose verdict is uncertain too (always with an alarm)"),
    "max_pick_attempts": Param(2, "pick attempts per part before the pick_failed_twice alarm", "attempts", 1, 10),
    "grasp_check_delay_s": Param(0.15, "after the predicted grasp, the vacuum switch must report a held part", "s", 0.0, 2.0),
    "commit_before_grasp_s": Param(0.25, "no replanning this close to a grasp: the arm is committed", "s", 0.0, 5.0),
    "replan_shift_m": Param(0.002, "replan when a pending part's predicted position moves this much", "m", 0.0, 0.1),
    "camera_offset_x_m": Param(0.0, "learner correction: vision position offset along base x", "m", -0.05, 0.05),
    "camera_offset_y_m": Param(0.0, "learner correction: vision position offset along base y", "m", -0.05, 0.05),
    "latency_correction_s": Param(0.0, "learner correction: unmodelled latency added to latency_s", "s", -0.5, 0.5),
    "belt_speed_scale": Param(1.0, "learner correction: factor on the predicted belt speed", "", 0.5, 1.5),
    "time_budget_s": Param(0.015, "wall-clock budget of one planning call for the first part (PlannerConfig)", "s", 0.001, 5.0),
    "time_budget_per_extra_s": Param(0.008, "... plus this per further pending part (PlannerConfig)", "s", 0.0, 5.0),
    "executive_period_s": Param(0.01, "period of the scheduler tick (suction timing, replanning)", "s", 0.001, 0.1),
    "publish_markers": Param(True, "publish the planned cup path on 'plan_markers'"),
}

_CORRECTION_PARAMS = ("camera_offset_x_m", "camera_offset_y_m", "latency_correction_s", "belt_speed_scale")
_STATUS_SUCCEEDED = 4  # action_msgs/GoalStatus


class TrajectoryPlannerNode(CellNode):
    """Managed node around `cell.RejectScheduler` + `planning.RejectPlanner`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("trajectory_planner_node", PARAMS, **kwargs)
        self.p: dict[str, Any] = {}
        self.robot = self.planner = self.scheduler = self.validator = None
        self.action_client = self.suction_client = None
        self.joint_state = None
        self.parts: dict[int, Any] = {}
        self.vacuum_on = False
        self.holding: bool | None = None  # None: the vacuum switch was never heard from
        self._held_during_pick = False
        self._goal_handle = None
        self._goal_seq = 0
        self._n_goals = self._n_alarms = 0
        self.add_post_set_parameters_callback(self._on_parameters_set)

    # -- lifecycle ----------------------------------------------------------------------------

    def on_configure(self, state: State) -> TransitionCallbackReturn:
        """Load the robot model, limits and planner; create topics, action client, service client."""
        self.p = self.read_parameters()
        try:
            self._build_planner()
        except Exception as exc:  # noqa: BLE001
            return self.configure_failed("cannot build the planner", exc)
        from control_msgs.action import FollowJointTrajectory
        from std_srvs.srv import SetBool

        m = self.msgs
        self.action_client = self.track(ActionClient(self, FollowJointTrajectory, self.p["controller_action"]))
        self.suction_client = self.track(self.create_client(SetBool, self.p["suction_service"]))
        self.marker_pub = self.track(self.create_lifecycle_publisher(m.MarkerArray.cls, "plan_markers", DEPTH))
        self.outcome_pub = self.track(self.create_lifecycle_publisher(m.DiagnosticArray.cls, "pick_outcomes", DEPTH))
        self.create_diagnostics_publisher()
        self.track(self.create_subscription(m.Detection2DArray.cls, "verdicts", self._on_verdicts, DEPTH))
        self.track(self.create_subscription(m.Detection2DArray.cls, "parts", self._on_parts, DEPTH))
        self.track(self.create_subscription(m.JointState.cls, "joint_states", self._on_joint_state, DEPTH))
        self.track(self.create_subscription(m.Bool.cls, self.p["suction_state_topic"], self._on_holding, DEPTH))
        self.track(self.create_timer(self.p["executive_period_s"], self._on_tick))
        self.track(self.create_timer(1.0, self._on_diagnostics_timer))
        self.get_logger().info(
            f"configured: controller '{self.p['controller_action']}', suction '{self.p['suction_service']}', "
            f"backend {self.p['planning_backend']}"
        )
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        """Stop: cancel the goal in flight and switch the vacuum off."""
        if self._goal_handle is not None:
            self._goal_handle.cancel_goal_async()
        self._switch_suction(False)
        return super().on_deactivate(state)

    def release(self) -> None:
        """Drop the planner, the robot model, the MoveIt backend and all bookkeeping."""
        if self.validator is not None:
            self.validator.release()
        self.robot = self.planner = self.scheduler = self.validator = None
        self.action_client = self.suction_client = None
        self.parts.clear()
        self._goal_handle = None

    # -- inputs -------------------------------------------------------------------------------

    @guarded("joint_states")
    def _on_joint_state(self, msg: Any) -> None:
        self.joint_state = convert.joint_state_from_msg(msg, self.robot.joint_names)

    @guarded("parts")
    def _on_parts(self, msg: Any) -> None:
        for part in convert.detections_to_parts(msg):
            self.parts[part.track_id] = part
            self.scheduler.update_track(part)
        # Parts leave the camera before the pick window: keep the last sighting while it may matter.
        horizon = self.now_s() - 60.0
        for track in [t for t, p in self.parts.items() if p.stamp_s < horizon and t not in self.scheduler.pending]:
            del self.parts[track]

    @guarded("suction state")
    def _on_holding(self, msg: Any) -> None:
        self.holding = bool(msg.data)
        self._held_during_pick |= self.holding

    @guarded("verdicts")
    def _on_verdicts(self, msg: Any) -> None:
        for v in convert.detections_to_verdicts(msg):
            if not (v.reject or (v.uncertain and self.p["reject_uncertain"])):
                if v.uncertain:
                    self._alarm(Alarm(v.track_id, self.now_s(), "uncertain_verdict", f"p_defect={v.p_defect:.3f}"))
                continue
            part = self.parts.get(v.track_id)
            if part is None:
                self._alarm(Alarm(v.track_id, self.now_s(), "cannot_reject", "verdict for a part never seen in 'parts'"))
                continue
            if v.uncertain:
                self._alarm(Alarm(v.track_id, self.now_s(), "uncertain_verdict", f"p_defect={v.p_defect:.3f}"))
            self.scheduler.add(part, v)

    # -- the scheduler tick -------------------------------------------------------------------

    @guarded("scheduler tick")
    def _on_tick(self) -> None:
        if self.joint_state is None:
            return
        # Without a vacuum switch the commanded vacuum stands in for "held" (outcomes unverified).
        part_held = self.holding if self.holding is not None else self.vacuum_on
        active = self.scheduler.active  # before the tick: a release or failure clears it
        cmds = self.scheduler.tick(self.now_s(), self.joint_state, self.vacuum_on, bool(part_held))
        for alarm in cmds.alarms:
            self._alarm(alarm)
        if cmds.trajectory is not None:
            self._send_goal(cmds.trajectory)
        if cmds.suction_on is not None:
            self._switch_suction(cmds.suction_on)
        for track in cmds.released:
            self._publish_outcome(track, PickResult.IN_BIN, active)
        for track in cmds.pick_failures:
            self._publish_outcome(track, PickResult.DROPPED if self._held_during_pick else PickResult.MISSED, active)

    def _send_goal(self, traj: Any) -> None:
        plan = self.scheduler.active
        if self.validator is not None and not self.validator.is_valid(traj):
            self._alarm(Alarm(plan.track_id, self.now_s(), "cannot_reject", "MoveIt's collision check refused the motion"))
            self.scheduler.pending.pop(plan.track_id, None)
            self.scheduler.active = None
            self.scheduler.phase = "idle"
            return
        if not self.action_client.server_is_ready():
            self.get_logger().error(
                f"action server '{self.p['controller_action']}' not available: motion for part {plan.track_id} dropped",
                throttle_duration_sec=2.0,
            )
            return
        self._goal_seq += 1
        self._n_goals += 1
        self._held_during_pick = bool(self.holding)
        seq = self._goal_seq
        goal = convert.follow_joint_trajectory_goal(self.msgs, traj, self.p["goal_time_tolerance_s"])
        self.action_client.send_goal_async(goal).add_done_callback(lambda f: self._on_goal_response(seq, f))
        if self.p["publish_markers"]:
            path = {plan.track_id: self._cup_path(traj)}
            self.marker_pub.publish(convert.plan_markers(self.msgs, [plan], path, self.now_s()))

    @guarded("goal response")
    def _on_goal_response(self, seq: int, future: Any) -> None:
        handle = future.result()
        if not handle.accepted:
            self.get_logger().error(f"the controller rejected goal #{seq}")
            return
        if seq == self._goal_seq:
            self._goal_handle = handle
        handle.get_result_async().add_done_callback(lambda f: self._on_goal_result(seq, f))

    @guarded("goal result")
    def _on_goal_result(self, seq: int, future: Any) -> None:
        response = future.result()
        if seq != self._goal_seq:
            return  # replaced by a newer goal: the controller preempted it, as intended
        self._goal_handle = None
        if response.status != _STATUS_SUCCEEDED:
            r = response.result
            self.get_logger().error(f"goal #{seq} ended with status {response.status}: {r.error_code} {r.error_string}")

    def _switch_suction(self, on: bool) -> None:
        self.vacuum_on = on
        if self.suction_client is None or not self.suction_client.service_is_ready():
            self.get_logger().error(f"suction service '{self.p['suction_service']}' not available", throttle_duration_sec=2.0)
            return
        future = self.suction_client.call_async(self.msgs.SetBool_Request(data=on))
        future.add_done_callback(lambda f: self._on_suction_response(on, f))

    @guarded("suction response")
    def _on_suction_response(self, on: bool, future: Any) -> None:
        response = future.result()
        if response is None or not response.success:
            detail = response.message if response is not None else "no response"
            self.get_logger().error(f"suction {'on' if on else 'off'} failed: {detail}")

    # -- outputs ------------------------------------------------------------------------------

    def _publish_outcome(self, track: int, result: PickResult, plan: Any) -> None:
        grasp = float(plan.grasp_time_s) if plan is not None and plan.track_id == track else math.nan
        outcome = PickOutcome(track_id=int(track), stamp_s=self.now_s(), result=result, predicted_grasp_time_s=grasp)
        self.outcome_pub.publish(convert.pick_outcomes_to_diagnostics(self.msgs, [outcome], self.now_s()))
        if self.holding is None:
            self.get_logger().warning(
                f"no vacuum switch on '{self.p['suction_state_topic']}': pick outcomes assume the vacuum held",
                throttle_duration_sec=60.0,
            )

    def _alarm(self, alarm: Alarm) -> None:
        self._n_alarms += 1
        self.get_logger().error(f"ALARM part {alarm.track_id}: {alarm.kind}: {alarm.detail}")
        if self._diag_pub is not None:
            now = self.now_s()
            self._diag_pub.publish(
                convert.alarms_to_diagnostics(self.msgs, [alarm], now, self.get_fully_qualified_name())
            )

    def _cup_path(self, traj: Any, max_points: int = 40) -> np.ndarray:
        q = np.asarray(traj.q_rad)
        idx = np.unique(np.linspace(0, len(q) - 1, min(len(q), max_points)).round().astype(int))
        return np.array([self.robot.fk(q[i])[:3, 3] for i in idx])

    def _on_diagnostics_timer(self) -> None:
        if not self.active or self.scheduler is None:
            return
        ready = self.action_client.server_is_ready()
        self.publish_status(
            "ok" if ready else "warn",
            "ready" if ready else f"waiting for {self.p['controller_action']}",
            {"pending_rejects": len(self.scheduler.pending), "phase": self.scheduler.phase,
             "goals_sent": self._n_goals, "alarms": self._n_alarms,
             "vacuum_switch": "none" if self.holding is None else str(self.holding)},
        )  # fmt: skip

    # -- parameters and construction ----------------------------------------------------------

    def _on_parameters_set(self, parameters: list[Any]) -> None:
        changed = False
        for p in parameters:
            self.p[p.name] = p.value
            changed |= p.name in _CORRECTION_PARAMS
        if changed and self.planner is not None:
            self._apply_corrections()

    def _apply_corrections(self) -> None:
        c = self.planner.set_corrections(  # bounded (and logged when clamped) by the planner
            camera_offset_m=np.array([self.p["camera_offset_x_m"], self.p["camera_offset_y_m"], 0.0]),
            latency_s=float(self.p["latency_correction_s"]),
            belt_speed_scale=float(self.p["belt_speed_scale"]),
        )
        self.get_logger().info(
            f"corrections in force: camera offset {np.round(c.camera_offset_m, 4).tolist()} m, "
            f"latency {c.latency_s:+.4f} s, belt speed x{c.belt_speed_scale:.4f}"
        )

    def _build_planner(self) -> None:
        from factory_ai.cell.pipeline import PipelineConfig, RejectScheduler
        from factory_ai.config import load_cell_description
        from factory_ai.planning import PlannerConfig, RejectPlanner
        from factory_ai.robot import RobotModel, load_joint_limits

        cell = load_cell_description(self.p["cell_file"] or None)
        urdf = self.p["urdf_path"] or cell.arm.urdf_path
        self.robot = RobotModel.from_urdf(urdf, base_frame=cell.arm.base_frame, tip_frame=cell.arm.tip_frame)
        limits = load_joint_limits(self.robot, self.p["joint_limits_file"] or None)
        planner_config = PlannerConfig(
            time_budget_s=float(self.p["time_budget_s"]), time_budget_per_extra_s=float(self.p["time_budget_per_extra_s"])
        )
        self.planner = RejectPlanner(self.robot, cell, limits, planner_config)
        self._apply_corrections()
        config = PipelineConfig(
            max_pick_attempts=int(self.p["max_pick_attempts"]),
            reject_uncertain=bool(self.p["reject_uncertain"]),
            grasp_check_delay_s=float(self.p["grasp_check_delay_s"]),
            commit_before_grasp_s=float(self.p["commit_before_grasp_s"]),
            replan_shift_m=float(self.p["replan_shift_m"]),
            latency_s=float(self.p["latency_s"]),
        )
        self.scheduler = RejectScheduler(self.planner, config)
        backend = self.p["planning_backend"]
        if backend == "moveit":
            from factory_ai.nodes import moveit_backend  # issue 11: MoveIt collision validation

            self.validator = moveit_backend.TrajectoryValidator(self)  # reads the moveit_* parameters
        elif backend != "builtin":
            msg = f"planning_backend must be 'builtin' or 'moveit', got {backend!r}"
            raise ValueError(msg)


def main(args: list[str] | None = None) -> None:
    """Entry point of `ros2 run factory_ai trajectory_planner_node`."""
    run(TrajectoryPlannerNode, args)


if __name__ == "__main__":
    main()
