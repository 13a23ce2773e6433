"""The planner node's MoveIt backend (`planning_backend:=moveit`), through moveit_py's MoveItPy.

Two jobs, both outside the time-critical intercept loop:

- `validate(traj)`: every intercept trajectory is checked against MoveIt's full collision model
  (`PlanningScene.is_path_valid` on a `RobotTrajectory` built from ours) before it is executed;
  around the grasp the cup may touch the conveyor objects (as in our own collision model).
- `plan_to(...)`: motions that are not time-critical (back to `ready`, recovery after an alarm)
  are planned by MoveIt's pipelines, Pilz PTP first, OMPL RRTConnect as the fallback, and come
  back as our `JointTrajectory` (the node executes them like any other trajectory).

`moveit` and `rclpy` are imported lazily, only here (the core never sees them). Notes from a
MoveIt 2.12 (Jazzy) build: MoveItPy does not finish starting without a live `/joint_states`
publisher in another process (its constructor holds the interpreter, so a publisher in a thread
of this process does not count); `is_path_valid` needs its fourth argument (a list); Pilz needs a
kinematics solver (the generated config uses KDL); the process may abort in MoveIt's teardown
after a successful run.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from factory_ai.types import JointTrajectory

log = logging.getLogger(__name__)

DEFAULT_NODE_NAME = "factory_ai_moveit"
PLAN_REQUESTS = ("pilz_ptp", "ompl_rrtc")  # parameter namespaces in config/moveit/moveit_py.yaml


@dataclass(frozen=True)
class PathCheck:
    """Verdict of MoveIt on one trajectory."""

    valid: bool
    n_points: int
    detail: str = ""


def default_config_dir() -> Path:
    """The package's generated MoveIt config (`config/moveit`)."""
    from factory_ai import package_root

    return package_root() / "config" / "moveit"


def robot_trajectory_msg(msgs: Any, traj: JointTrajectory, indices: Sequence[int] | None = None) -> Any:
    """moveit_msgs/RobotTrajectory of (some points of) our trajectory; times stay as planned.

    Args:
        msgs: message namespace with RobotTrajectory, JointTrajectory(Point), Header, Duration.
        traj: the trajectory.
        indices: the points to keep (increasing); None = all.
    """
    from factory_ai.nodes.convert import trajectory_msg

    if indices is not None:
        idx = np.asarray(indices, dtype=int)
        traj = JointTrajectory(
            traj.joint_names, traj.t_s[idx], traj.q_rad[idx], traj.qd_radps[idx], traj.qdd_radps2[idx], traj.start_stamp_s
        )
    return msgs.RobotTrajectory(joint_trajectory=trajectory_msg(msgs, traj))


def split_grasp_window(t_s: np.ndarray, grasp_window_s: tuple[float, float] | None) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the points outside and inside the grasp window (times from the start, s)."""
    t = np.asarray(t_s, dtype=float)
    if grasp_window_s is None:
        return np.arange(t.size), np.zeros(0, dtype=int)
    inside = (t >= grasp_window_s[0]) & (t <= grasp_window_s[1])
    return np.flatnonzero(~inside), np.flatnonzero(inside)


class MoveItBackend:
    """One MoveItPy instance: scene, validation and planning for one planning group.

    Args:
        params: every ROS parameter MoveItPy needs (`moveit_config.moveit_py_params`).
        group: the planning group (the SRDF's chain group).
        node_name: name of MoveItPy's own rclcpp node.
        grasp_links: links allowed to touch `touch_objects` inside a grasp window.
        touch_objects: MoveIt object ids the cup may touch while grasping (the conveyor's).
    """

    def __init__(
        self,
        params: dict[str, Any],
        group: str = "arm",
        node_name: str = DEFAULT_NODE_NAME,
        grasp_links: Iterable[str] = ("suction_cup_body",),
        touch_objects: Iterable[str] = (),
    ) -> None:
        from moveit.planning import MoveItPy

        from factory_ai.nodes.planning_scene import moveit_rclpy_types

        self.group = group
        self.grasp_links = tuple(grasp_links)
        self.touch_objects = tuple(touch_objects)
        self.msgs = moveit_rclpy_types()
        # provide_planning_service=False: move_group (if any) owns /get_planning_scene.
        self.moveit = MoveItPy(node_name=node_name, config_dict=params, provide_planning_service=False)
        self.psm = self.moveit.get_planning_scene_monitor()
        self.robot_model = self.moveit.get_robot_model()
        self.component = self.moveit.get_planning_component(group)
        self.joint_names = tuple(self.robot_model.get_joint_model_group(group).active_joint_model_names)

    @classmethod
    def from_config_dir(cls, urdf_path: Path | str, config_dir: Path | str | None = None, **kwargs: Any) -> MoveItBackend:
        """Backend from a folder written by `factory-ai moveit-setup` (default: the package's)."""
        from factory_ai.moveit_config import moveit_py_params

        params = moveit_py_params(Path(config_dir) if config_dir else default_config_dir(), Path(urdf_path))
        return cls(params, **kwargs)

    # -- scene --------------------------------------------------------------------------------

    def refresh_scene(self, service: str = "/get_planning_scene") -> bool:
        """Copy move_group's whole planning scene into ours (when a move_group runs)."""
        return bool(self.psm.request_planning_scene_state(service))

    def apply_collision_objects(self, objects: Iterable[Any]) -> None:
        """Apply moveit_msgs/CollisionObject messages (rclpy) to MoveItPy's own scene."""
        with self.psm.read_write() as scene:
            for obj in objects:
                scene.apply_collision_object(obj)
            scene.current_state.update()

    def current_q(self) -> np.ndarray:
        """The group's joint positions in the monitored state (rad)."""
        with self.psm.read_only() as scene:
            return np.asarray(scene.current_state.get_joint_group_positions(self.group), dtype=float)

    # -- validation ---------------------------------------------------------------------------

    def _path_valid(self, scene: Any, traj: JointTrajectory, indices: np.ndarray) -> bool:
        from moveit.core.robot_trajectory import RobotTrajectory

        rt = RobotTrajectory(self.robot_model)
        rt.set_robot_trajectory_msg(scene.current_state, robot_trajectory_msg(self.msgs, traj, indices))
        rt.joint_model_group_name = self.group
        # The fourth argument (invalid indices) is required by the Jazzy binding.
        return bool(scene.is_path_valid(rt, self.group, False, []))

    def validate(self, traj: JointTrajectory, grasp_window_s: tuple[float, float] | None = None) -> PathCheck:
        """Check every point of `traj` against MoveIt's scene (collisions and feasibility).

        Args:
            traj: our trajectory (its joint names must be the group's, any order).
            grasp_window_s: (t0, t1) times from the trajectory start during which the grasp
                links may touch the conveyor objects; None = strict everywhere.
        """
        missing = sorted(set(self.joint_names) - set(traj.joint_names))
        if missing:
            return PathCheck(False, len(traj.t_s), f"trajectory lacks group joints {missing}")
        outside, inside = split_grasp_window(traj.t_s, grasp_window_s)
        with self.psm.read_only() as scene:
            if outside.size and not self._path_valid(scene, traj, outside):
                return PathCheck(False, len(traj.t_s), "a point outside the grasp window is in collision or infeasible")
            if inside.size:
                relaxed = copy.copy(scene)  # clone: the monitored scene stays untouched
                acm = relaxed.allowed_collision_matrix
                for link in self.grasp_links:
                    for obj in self.touch_objects:
                        acm.set_entry(link, obj, True)
                relaxed.allowed_collision_matrix = acm
                if not self._path_valid(relaxed, traj, inside):
                    return PathCheck(False, len(traj.t_s), "a point of the grasp window is in collision")
        return PathCheck(True, len(traj.t_s))

    # -- planning -----------------------------------------------------------------------------

    def plan_to(
        self,
        named: str | None = None,
        q_rad: Sequence[float] | None = None,
        requests: Sequence[str] = PLAN_REQUESTS,
    ) -> JointTrajectory | None:
        """Plan from the current state to a named SRDF state or a joint goal (group order).

        Tries each plan-request parameter set in turn (Pilz PTP, then OMPL); None if all fail.
        """
        from moveit.planning import PlanRequestParameters

        from factory_ai.nodes.convert import trajectory_from_msg

        if (named is None) == (q_rad is None):
            msg = "plan_to needs exactly one of named= or q_rad="
            raise ValueError(msg)
        self.component.set_start_state_to_current_state()
        if named is not None:
            self.component.set_goal_state(configuration_name=named)
        else:
            q = np.asarray(q_rad, dtype=float)
            if q.shape != (len(self.joint_names),):
                msg = f"q_rad needs {len(self.joint_names)} values for {list(self.joint_names)}, got {q.shape}"
                raise ValueError(msg)
            with self.psm.read_only() as scene:
                goal = copy.copy(scene.current_state)
            goal.set_joint_group_positions(self.group, q)
            goal.update()
            self.component.set_goal_state(robot_state=goal)
        for ns in requests:
            result = self.component.plan(single_plan_parameters=PlanRequestParameters(self.moveit, ns))
            if result:
                msg = result.trajectory.get_robot_trajectory_msg()
                return trajectory_from_msg(msg.joint_trajectory, self.joint_names)
            log.warning("MoveIt plan with %r failed (error code %s)", ns, getattr(result.error_code, "val", "?"))
        return None

    def shutdown(self) -> None:
        self.moveit.shutdown()


class TrajectoryValidator:
    """What `trajectory_planner_node` holds with `planning_backend:=moveit`.

    Reads the node's parameters `cell_file`, `urdf_path` and (optional) `moveit_config_dir`,
    `moveit_group`, `moveit_scene_service`; the conveyor objects the cup may touch are the cell's.

    Args:
        node: the planner node (for its parameters dict `p` and its logger).
    """

    def __init__(self, node: Any) -> None:
        from factory_ai.config import load_cell_description
        from factory_ai.nodes.planning_scene import cell_fixture_obstacles
        from factory_ai.planning.collision import CONVEYOR_GROUP

        p = dict(getattr(node, "p", {}) or {})
        cell = load_cell_description(p.get("cell_file") or None)
        urdf = p.get("urdf_path") or cell.arm.urdf_path
        touch = [o.name for o in cell_fixture_obstacles(cell) if o.group == CONVEYOR_GROUP]
        self.node = node
        self.scene_service = p.get("moveit_scene_service", "/get_planning_scene")
        self.backend = MoveItBackend.from_config_dir(
            urdf, p.get("moveit_config_dir") or None, group=p.get("moveit_group", "arm"), touch_objects=touch
        )
        self.last = PathCheck(True, 0)

    def refresh_scene(self) -> bool:
        """Pull move_group's scene (call when the node's obstacle sync saw a change)."""
        return self.backend.refresh_scene(self.scene_service) if self.scene_service else False

    def is_valid(self, traj: JointTrajectory, grasp_window_s: tuple[float, float] | None = None) -> bool:
        self.last = self.backend.validate(traj, grasp_window_s)
        if not self.last.valid:
            self.node.get_logger().warning(f"MoveIt refused a trajectory: {self.last.detail}")
        return self.last.valid

    def plan_to_ready(self) -> JointTrajectory | None:
        return self.backend.plan_to(named="ready")

    def plan_to(self, q_rad: Sequence[float]) -> JointTrajectory | None:
        return self.backend.plan_to(q_rad=q_rad)

    def release(self) -> None:
        self.backend.shutdown()
