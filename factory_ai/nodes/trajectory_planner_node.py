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

MoveIt (issue 11), with or without `planning_backend:=moveit`: the world objects of MoveIt's
monitored planning scene (`moveit_scene_topic`, full scene from `moveit_scene_service` on
activation) become obstacles of the planner's collision model, and pending parts are replanned
on the next scheduler tick (a part that can no longer be reached gets `cannot_reject`); the
cell's own fixtures are published once into MoveIt's scene on `/planning_scene`. With
`planning_backend:=moveit` every trajectory is also checked by MoveIt before it is sent
(replanned once with twice the collision margin, else `cannot_reject`), and the return to
`ready` after such an alarm is planned by MoveIt.
"""

from __future__ import annotations

import dataclasses
import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from rclpy.action import ActionClient
from rclpy.lifecycle import State, TransitionCallbackReturn
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

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
    "moveit_scene_topic": Param("/monitored_planning_scene", "move_group's monitored planning scene (moveit_msgs/PlanningScene): its world objects become obstacles"),
    "moveit_scene_service": Param("/get_planning_scene", "move_group's GetPlanningScene service: the full scene at activation"),
    "publish_cell_to_moveit": Param(True, "publish the cell's fixtures (conveyor, bin, camera post) into MoveIt's scene on /planning_scene at activation"),
    "sync_moveit_scene": Param(True, "keep the planner's obstacles in sync with MoveIt's planning scene (topic + service)"),
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
_SCENE_REQUEST_PERIOD_S = 1.0  # retry period of the GetPlanningScene call until move_group answers
# move_group's scene subscriber is reliable; transient-local keeps our fixtures for late joiners.
_SCENE_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)  # fmt: skip


class TrajectoryPlannerNode(CellNode):
    """Managed node around `cell.RejectScheduler` + `planning.RejectPlanner`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("trajectory_planner_node", PARAMS, **kwargs)
        self.p: dict[str, Any] = {}
        self.robot = self.planner = self.scheduler = self.validator = None
        self.cell = self.scene = self.moveit_msgs = None
        self.action_client = self.suction_client = self.scene_client = self._scene_pub = None
        self._scene_fetched = self._scene_request_pending = False
        self._scene_warned: set[str] = set()
        # MoveItPy calls that wait (scene refresh: a service round trip; planning to ready) run
        # on these workers; the scheduler tick picks up their results.
        self._moveit_pool: ThreadPoolExecutor | None = None
        self._refresh_future = self._ready_future = None
        self._plan_under_new_obstacles = None  # the plan in flight when MoveIt added obstacles
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
        self._create_moveit_scene_entities()
        self.get_logger().info(
            f"configured: controller '{self.p['controller_action']}', suction '{self.p['suction_service']}', "
            f"backend {self.p['planning_backend']}"
        )
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        """Start; publish the cell's fixtures into MoveIt's scene and ask move_group for its scene."""
        result = super().on_activate(state)  # enables the lifecycle publishers first
        if self.p["publish_cell_to_moveit"]:
            self._publish_cell_to_moveit()
        self._scene_fetched = self._scene_request_pending = False
        self._ready_future = None  # a return to ready planned before a deactivation is stale
        self._request_moveit_scene()
        return result

    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        """Stop: cancel the goal in flight and switch the vacuum off."""
        if self._goal_handle is not None:
            self._goal_handle.cancel_goal_async()
        self._switch_suction(False)
        return super().on_deactivate(state)

    def release(self) -> None:
        """Drop the planner, the robot model, the MoveIt backend and all bookkeeping."""
        if self._moveit_pool is not None:  # MoveItPy must not shut down under a running call
            self._moveit_pool.shutdown(wait=True, cancel_futures=True)
        if self.validator is not None:
            self.validator.release()
        self.robot = self.planner = self.scheduler = self.validator = None
        self.cell = self.scene = self.moveit_msgs = None
        self.action_client = self.suction_client = self.scene_client = self._scene_pub = None
        self._moveit_pool = self._refresh_future = self._ready_future = self._plan_under_new_obstacles = None
        self._scene_warned.clear()
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
        if self._ready_future is not None and self._ready_future.done():
            self._send_ready_plan()
        # Without a vacuum switch the commanded vacuum stands in for "held" (outcomes unverified).
        part_held = self.holding if self.holding is not None else self.vacuum_on
        active = self.scheduler.active  # before the tick: a release or failure clears it
        cmds = self.scheduler.tick(self.now_s(), self.joint_state, self.vacuum_on, bool(part_held))
        for alarm in cmds.alarms:
            self._alarm(alarm)
        traj = cmds.trajectory
        if traj is not None and self.validator is not None:
            traj = self._checked_by_moveit(traj)
        if traj is not None:
            self._send_goal(traj, self.scheduler.active)
        a = self.scheduler.active
        if a is not self._plan_under_new_obstacles:
            self._plan_under_new_obstacles = None  # replanned (or done) since the scene changed
        elif a is not None and a.track_id not in self.scheduler.pending:
            # Obstacles came after this plan was made and the replan refused its part
            # (cannot_reject, alarmed above): the arm must not carry on along it.
            self._plan_under_new_obstacles = None
            self._abandon_active_plan()
        if cmds.suction_on is not None:
            self._switch_suction(cmds.suction_on)
        for track in cmds.released:
            self._publish_outcome(track, PickResult.IN_BIN, active)
        for track in cmds.pick_failures:
            self._publish_outcome(track, PickResult.DROPPED if self._held_during_pick else PickResult.MISSED, active)

    def _send_goal(self, traj: Any, plan: Any = None) -> None:
        """Send a trajectory to the controller (replacing the goal in flight); `plan` = its RejectPlan."""
        what = f"part {plan.track_id}" if plan is not None else "the return to ready"
        if not self.action_client.server_is_ready():
            self.get_logger().error(
                f"action server '{self.p['controller_action']}' not available: motion for {what} dropped",
                throttle_duration_sec=2.0,
            )
            return
        self._goal_seq += 1
        self._n_goals += 1
        self._held_during_pick = bool(self.holding)
        seq = self._goal_seq
        goal = convert.follow_joint_trajectory_goal(self.msgs, traj, self.p["goal_time_tolerance_s"])
        self.action_client.send_goal_async(goal).add_done_callback(lambda f: self._on_goal_response(seq, f))
        if self.p["publish_markers"] and plan is not None:
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

    # -- MoveIt: validation (backend moveit) -----------------------------------------------

    def _checked_by_moveit(self, traj: Any) -> Any | None:
        """The trajectory to send for the active plan once MoveIt accepts it, or None (alarmed).

        A refused trajectory is replanned once with twice the collision margin; if MoveIt refuses
        that too (or the planner cannot), the part gets `cannot_reject`, the arm stops and MoveIt
        plans the return to ready.
        """
        plan = self.scheduler.active
        if self.validator.is_valid(traj, self._contact_window(plan, traj)):
            return traj
        retry = self._plan_with_more_margin(plan.track_id)
        if retry is not None and retry.trajectory is not None:
            if self.validator.is_valid(retry.trajectory, self._contact_window(retry, retry.trajectory)):
                self.scheduler.active = retry
                return retry.trajectory
        margin_mm = 2e3 * self.planner.config.collision_margin_m
        detail = f"MoveIt's collision check refused the motion, also replanned with a {margin_mm:.0f} mm margin"
        if retry is not None and retry.reason:
            detail += f" ({retry.reason})"
        self._alarm(Alarm(plan.track_id, self.now_s(), "cannot_reject", detail))
        self.scheduler.pending.pop(plan.track_id, None)
        self._abandon_active_plan()
        return None

    def _plan_with_more_margin(self, track_id: int) -> Any | None:
        """One RejectPlan for a pending part with collision_margin_m doubled (None if not pending)."""
        pending = self.scheduler.pending.get(track_id)
        if pending is None or self.joint_state is None:
            return None
        base = self.planner.config
        # PlannerConfig is frozen: plan this once under a copy, then restore the planner's own.
        self.planner.config = dataclasses.replace(base, collision_margin_m=2.0 * base.collision_margin_m)
        try:
            plans = self.planner.plan(self.joint_state, [pending.observation], self.now_s(), self.scheduler.config.latency_s)
        finally:
            self.planner.config = base
        return plans[0] if plans else None

    def _contact_window(self, plan: Any, traj: Any) -> tuple[float, float] | None:
        """Times from the trajectory start (s) during which the cup may touch the conveyor."""
        windows = self.planner.grasp_windows(plan.track_id) if plan is not None else None
        if windows is None:
            return None
        lo, hi = windows[1]
        return (lo - traj.start_stamp_s, hi - traj.start_stamp_s)

    def _abandon_active_plan(self) -> None:
        """Drop the plan in flight: stop the arm; with MoveIt, then return to ready on its plan."""
        self.scheduler.active = None
        self.scheduler.phase = "idle"
        self._request_replan()  # the other pending parts, from where the arm is now
        if self._goal_handle is not None:
            # joint_trajectory_controller holds position on a cancelled goal.
            self._goal_handle.cancel_goal_async()
            self._goal_handle = None
        if self.validator is not None and self._ready_future is None:
            self._ready_future = self._moveit_worker().submit(self.validator.plan_to_ready)

    def _send_ready_plan(self) -> None:
        """Send MoveIt's return to ready (tick), unless a part's plan has taken over meanwhile."""
        future, self._ready_future = self._ready_future, None
        try:
            ready = future.result()
        except Exception as exc:  # noqa: BLE001 - a failed MoveIt call must not stop the tick
            self.get_logger().error(f"MoveIt could not plan the return to ready: {type(exc).__name__}: {exc}")
            return
        if ready is None:
            self.get_logger().error("MoveIt found no plan back to ready: the arm stays where it stopped")
        elif self.scheduler.active is None:
            self._send_goal(ready)

    def _moveit_worker(self) -> ThreadPoolExecutor:
        if self._moveit_pool is None:
            self._moveit_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="moveit")
        return self._moveit_pool

    def _request_replan(self) -> None:
        """Replan the pending parts on the next scheduler tick (once the arm may be redirected)."""
        # RejectScheduler sets this flag itself on new parts and moved predictions; it has no
        # public call for "the world changed" yet.
        self.scheduler._need_replan = self.scheduler._need_replan or bool(self.scheduler.pending)  # noqa: SLF001

    # -- MoveIt: planning scene ---------------------------------------------------------------

    def _create_moveit_scene_entities(self) -> None:
        """Scene subscription, GetPlanningScene client and the /planning_scene publisher (on_configure)."""
        if not (self.p["sync_moveit_scene"] or self.p["publish_cell_to_moveit"]):
            return
        from factory_ai.nodes.planning_scene import moveit_rclpy_types

        try:
            self.moveit_msgs = moveit_rclpy_types()
            from moveit_msgs.srv import GetPlanningScene
        except ImportError as exc:
            self.get_logger().error(f"moveit_msgs is not installed ({exc}): no obstacles from MoveIt's planning scene")
            return
        mm = self.moveit_msgs
        if self.p["publish_cell_to_moveit"]:
            self._scene_pub = self.track(self.create_lifecycle_publisher(mm.PlanningScene.cls, "/planning_scene", _SCENE_QOS))
        if self.p["sync_moveit_scene"]:
            self.track(self.create_subscription(mm.PlanningScene.cls, self.p["moveit_scene_topic"], self._on_moveit_scene, DEPTH))
            self.scene_client = self.track(self.create_client(GetPlanningScene, self.p["moveit_scene_service"]))
            self.track(self.create_timer(_SCENE_REQUEST_PERIOD_S, self._request_moveit_scene))

    def _publish_cell_to_moveit(self) -> None:
        from factory_ai.nodes.planning_scene import planning_scene_diff

        if self._scene_pub is None:
            return
        fixtures = self._cell_fixtures()
        self._scene_pub.publish(planning_scene_diff(self.moveit_msgs, fixtures, self.cell.arm.base_frame, self.now_s()))
        self.get_logger().info(f"published {len(fixtures)} cell fixtures to MoveIt's scene on /planning_scene")

    @guarded("GetPlanningScene request")
    def _request_moveit_scene(self) -> None:
        """Ask move_group for its whole scene (timer, until it answers once per activation)."""
        if self.scene_client is None or self._scene_fetched or self._scene_request_pending:
            return
        if not self.scene_client.service_is_ready():
            self.get_logger().info(
                f"waiting for MoveIt's '{self.p['moveit_scene_service']}' service", throttle_duration_sec=30.0
            )
            return
        from factory_ai.nodes.planning_scene import get_planning_scene_request

        self._scene_request_pending = True
        future = self.scene_client.call_async(get_planning_scene_request(self.moveit_msgs))
        future.add_done_callback(self._on_scene_response)

    @guarded("GetPlanningScene response")
    def _on_scene_response(self, future: Any) -> None:
        self._scene_request_pending = False
        response = future.result()
        if response is None:
            self.get_logger().warning(f"no answer from '{self.p['moveit_scene_service']}'; asking again")
            return
        self._scene_fetched = True
        self._apply_moveit_scene(response.scene, "the scene from move_group")
        # move_group's scene subscriber is volatile: fixtures published before it was up are lost.
        have = {str(o.id) for o in response.scene.world.collision_objects}
        if self.p["publish_cell_to_moveit"] and not {o.name for o in self._cell_fixtures()} <= have:
            self._publish_cell_to_moveit()

    @guarded("planning scene")
    def _on_moveit_scene(self, msg: Any) -> None:
        self._apply_moveit_scene(msg, "the monitored scene")

    def _apply_moveit_scene(self, scene: Any, source: str) -> None:
        """Update the planner's obstacles from a moveit_msgs/PlanningScene; replan pending parts."""
        change = self.scene.apply_scene(scene)
        for why in change.skipped:
            if why not in self._scene_warned:  # each reason once: MoveIt repeats its scene often
                self._scene_warned.add(why)
                self.get_logger().warning(f"MoveIt object not modelled by the planner: {why}")
        if not change.changed:
            return
        applied = self.scene.sync_into(self.planner.collision)
        # RejectPlanner caches "the return to ready is clear" per end pose and never re-checks
        # it when obstacles change: forget it (until the planner invalidates it itself).
        seg_cache = getattr(self.planner, "_seg_cache", None)
        if seg_cache is not None:
            seg_cache.clear()
        self.get_logger().info(
            f"obstacles from {source}: +{list(applied.added)} -{list(applied.removed)}; replanning "
            f"{len(self.scheduler.pending)} pending part(s)"
        )
        if applied.added and self.scheduler.active is not None:
            self._plan_under_new_obstacles = self.scheduler.active
        self._request_replan()
        if self.validator is not None:
            self._refresh_validator_scene()

    def _refresh_validator_scene(self) -> None:
        """Let the MoveIt backend pull move_group's scene, off the executor thread (it waits)."""
        if self._refresh_future is not None and not self._refresh_future.done():
            return  # one refresh at a time; the one running sees the newest scene anyway
        self._refresh_future = self._moveit_worker().submit(self.validator.refresh_scene)

    def _cell_fixtures(self) -> list[Any]:
        from factory_ai.nodes.planning_scene import cell_fixture_obstacles

        return cell_fixture_obstacles(self.cell)

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
             "vacuum_switch": "none" if self.holding is None else str(self.holding),
             "moveit_obstacles": len(self.scene.obstacles_by_name()) if self.scene is not None else 0},
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
        from factory_ai.nodes.planning_scene import SceneObstacles, cell_fixture_obstacles, static_frames
        from factory_ai.planning import PlannerConfig, RejectPlanner
        from factory_ai.robot import RobotModel, load_joint_limits

        cell = load_cell_description(self.p["cell_file"] or None)
        urdf = self.p["urdf_path"] or cell.arm.urdf_path
        self.cell = cell
        self.robot = RobotModel.from_urdf(urdf, base_frame=cell.arm.base_frame, tip_frame=cell.arm.tip_frame)
        # MoveIt's world objects, in the base frame; our own fixtures coming back are skipped.
        self.scene = SceneObstacles(
            static_frames(urdf, cell.arm.base_frame), ignore_ids=[o.name for o in cell_fixture_obstacles(cell)]
        )
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
