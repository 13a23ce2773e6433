"""Pure conversions between MoveIt's planning scene and the planner's collision-model obstacles.

Duck-typed like `convert`: builders take a message namespace `msgs` (`moveit_rosbags_types()`
for logs and tests, `moveit_rclpy_types()` in a node); readers only use attribute access, so they
accept rclpy and rosbags messages alike. Nothing here imports rclpy at module level.

MoveIt -> planner (`SceneObstacles`): the world's collision objects of `moveit_msgs/PlanningScene`
(full scenes and diffs), `PlanningSceneWorld` and `CollisionObject` messages (ADD, REMOVE,
APPEND, MOVE) become `planning.collision.Obstacle`s in the arm's base frame. Boxes, spheres and
cylinders are exact; cones become their bounding cylinder, prisms and meshes their bounding box
(a warning names the object); planes, octomaps and objects attached to the robot cannot be
represented and are reported as skipped (warning), never silently dropped. An object whose frame
is unknown is skipped the same way.

Planner -> MoveIt (`collision_objects_msg`, `planning_scene_diff`): the cell's own fixtures
(conveyor, bin, camera post, ...) as CollisionObjects in the base frame, to publish on
`/planning_scene` (is_diff) or send with `/apply_planning_scene` on activation.

Frames: MoveIt reports world objects in its planning frame (the URDF root). Our URDF's root
`world` sits where `base_link` is (the cell's floor frame is NOT the URDF's `world`), so the
default frame table comes from the URDF (`static_frames`), never from the cell description.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from factory_ai.geometry import T_inv
from factory_ai.nodes.moveit_msg_defs import MOVEIT_TYPE_NAMES, register_moveit_types
from factory_ai.planning.collision import Obstacle

log = logging.getLogger(__name__)

#: Prefix of the collision-model names of obstacles that come from MoveIt.
OBSTACLE_PREFIX = "moveit/"

# shape_msgs/SolidPrimitive type constants (Jazzy)
BOX, SPHERE, CYLINDER, CONE, PRISM = 1, 2, 3, 4, 5
# moveit_msgs/CollisionObject operations
ADD, REMOVE, APPEND, MOVE = 0, 1, 2, 3
WORLD_COMPONENTS = 8 | 16  # PlanningSceneComponents WORLD_OBJECT_NAMES | WORLD_OBJECT_GEOMETRY


# --------------------------------------------------------------------------------------------
# Message namespaces
# --------------------------------------------------------------------------------------------


class MoveItRosbagsTypes:
    """Message namespace over a rosbags Jazzy type store with the moveit_msgs definitions."""

    def __init__(self, typestore: Any) -> None:
        self.typestore = typestore
        self._cache: dict[str, Any] = {}

    def typename(self, short: str) -> str:
        return MOVEIT_TYPE_NAMES[short]

    def __getattr__(self, short: str) -> Any:
        if short.startswith("_") or short not in MOVEIT_TYPE_NAMES:
            msg = f"no message type {short!r} in the MoveIt message namespace"
            raise AttributeError(msg)
        if short not in self._cache:
            # convert's factory fills missing fields with ROS defaults (Quaternion w = 1).
            from factory_ai.nodes.convert import _RosbagsFactory

            self._cache[short] = _RosbagsFactory(self.typestore, MOVEIT_TYPE_NAMES[short])
        return self._cache[short]

    def serialize(self, msg: Any, short: str) -> bytes:
        """CDR bytes of a message (as a Jazzy publisher sends them)."""
        return bytes(self.typestore.serialize_cdr(msg, MOVEIT_TYPE_NAMES[short]))

    def deserialize(self, data: bytes, short: str) -> Any:
        return self.typestore.deserialize_cdr(data, MOVEIT_TYPE_NAMES[short])


def moveit_rosbags_types() -> MoveItRosbagsTypes:
    """Namespace of rosbags classes: ROS 2 Jazzy store + moveit_msgs and its dependencies."""
    from rosbags.typesys import Stores, get_typestore

    return MoveItRosbagsTypes(register_moveit_types(get_typestore(Stores.ROS2_JAZZY)))


def moveit_rclpy_types() -> Any:
    """Namespace of the generated rclpy classes (needs a ROS 2 install with moveit_msgs)."""
    from factory_ai.nodes.convert import RclpyTypes, rclpy_class

    return RclpyTypes({short: rclpy_class(full) for short, full in MOVEIT_TYPE_NAMES.items()})


# --------------------------------------------------------------------------------------------
# Small readers / builders
# --------------------------------------------------------------------------------------------


def _as_int(v: Any) -> int:
    """A byte/octet field as int (rclpy gives bytes of length 1, rosbags an int)."""
    if isinstance(v, (bytes, bytearray)):
        return int(v[0]) if len(v) else 0
    return int(v)


def pose_to_T(pose: Any) -> np.ndarray:
    """(4, 4) from geometry_msgs/Pose; an all-zero quaternion (unset) counts as identity."""
    o, p = pose.orientation, pose.position
    q = np.array([o.x, o.y, o.z, o.w], dtype=float)
    n = float(np.linalg.norm(q))
    T = np.eye(4)
    if n > 1e-9:
        T[:3, :3] = Rotation.from_quat(q / n).as_matrix()
    T[:3, 3] = (p.x, p.y, p.z)
    return T


def pose_msg(msgs: Any, T: np.ndarray) -> Any:
    """geometry_msgs/Pose from a (4, 4) transform."""
    q = Rotation.from_matrix(np.asarray(T)[:3, :3]).as_quat()
    t = np.asarray(T)[:3, 3]
    return msgs.Pose(
        position=msgs.Point(x=float(t[0]), y=float(t[1]), z=float(t[2])),
        orientation=msgs.Quaternion(x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3])),
    )


def _T_offset(xyz: np.ndarray) -> np.ndarray:
    T = np.eye(4)
    T[:3, 3] = xyz
    return T


def static_frames(urdf: Any, base_frame: str = "base_link") -> dict[str, np.ndarray]:
    """T_base_frame for every URDF link rigidly attached to the base (fixed joints only).

    Args:
        urdf: URDF path or XML text.
        base_frame: the frame obstacles are expressed in.
    """
    from factory_ai.robot.urdf import parse_urdf

    tree = parse_urdf(urdf)
    fixed = [j for j in tree.joints if j.type == "fixed"]
    out = {base_frame: np.eye(4)}
    changed = True
    while changed:
        changed = False
        for j in fixed:
            if j.parent in out and j.child not in out:
                out[j.child] = out[j.parent] @ j.T_parent_joint
                changed = True
            elif j.child in out and j.parent not in out:
                out[j.parent] = out[j.child] @ T_inv(j.T_parent_joint)
                changed = True
    return out


# --------------------------------------------------------------------------------------------
# MoveIt -> planner
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """One shape of a collision object, in the object's frame (collision-model conventions)."""

    shape: str  # "box" | "cylinder" | "sphere"
    T_obj_shape: np.ndarray
    dims: np.ndarray
    approximated: str = ""  # what it stands for when it is a bound ("cone", "mesh", "prism")


def _primitive_shape(prim: Any, T_obj_shape: np.ndarray, what: str) -> tuple[Shape | None, str]:
    kind = int(prim.type)
    d = np.asarray(prim.dimensions, dtype=float)
    need = {BOX: 3, SPHERE: 1, CYLINDER: 2, CONE: 2, PRISM: 1}
    if kind not in need:
        return None, f"{what}: unknown SolidPrimitive type {kind}"
    if d.size < need[kind] or not np.all(np.isfinite(d[: need[kind]])) or np.any(d[: need[kind]] <= 0):
        return None, f"{what}: SolidPrimitive type {kind} needs {need[kind]} positive dimensions, got {d.tolist()}"
    if kind == BOX:
        return Shape("box", T_obj_shape, d[:3].copy()), ""
    if kind == SPHERE:
        return Shape("sphere", T_obj_shape, d[:1].copy()), ""
    if kind in (CYLINDER, CONE):  # dimensions: [height, radius]; the model wants (radius, length)
        return Shape("cylinder", T_obj_shape, np.array([d[1], d[0]]), "cone" if kind == CONE else ""), ""
    pts = np.array([[p.x, p.y] for p in prim.polygon.points], dtype=float).reshape(-1, 2)
    if len(pts) < 3:
        return None, f"{what}: PRISM needs a polygon of >= 3 points, got {len(pts)}"
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    size = np.array([hi[0] - lo[0], hi[1] - lo[1], d[0]])
    if np.any(size <= 0):
        return None, f"{what}: PRISM polygon is degenerate"
    centre = np.array([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, 0.0])
    return Shape("box", T_obj_shape @ _T_offset(centre), size, "prism"), ""


def _mesh_shape(mesh: Any, T_obj_shape: np.ndarray, what: str) -> tuple[Shape | None, str]:
    v = np.array([[p.x, p.y, p.z] for p in mesh.vertices], dtype=float).reshape(-1, 3)
    if len(v) == 0 or not np.all(np.isfinite(v)):
        return None, f"{what}: mesh has no (finite) vertices"
    lo, hi = v.min(axis=0), v.max(axis=0)
    # A flat mesh still needs a thickness for a box; 1 mm stands for "a sheet".
    size = np.maximum(hi - lo, 1e-3)
    return Shape("box", T_obj_shape @ _T_offset((lo + hi) / 2), size, "mesh"), ""


def object_shapes(obj: Any) -> tuple[list[Shape], list[str]]:
    """The shapes of a moveit_msgs/CollisionObject in its own frame, and what was skipped.

    Shape poses are `pose` (the object's pose in the header frame, Humble+) composed with the
    per-shape pose. Missing per-shape poses count as identity.
    """
    shapes: list[Shape] = []
    skipped: list[str] = []
    oid = str(obj.id)
    for k, prim in enumerate(obj.primitives):
        T = pose_to_T(obj.primitive_poses[k]) if k < len(obj.primitive_poses) else np.eye(4)
        s, why = _primitive_shape(prim, T, f"object {oid!r} primitive {k}")
        (shapes.append(s) if s is not None else skipped.append(why))
    for k, mesh in enumerate(obj.meshes):
        T = pose_to_T(obj.mesh_poses[k]) if k < len(obj.mesh_poses) else np.eye(4)
        s, why = _mesh_shape(mesh, T, f"object {oid!r} mesh {k}")
        (shapes.append(s) if s is not None else skipped.append(why))
    for k in range(len(obj.planes)):
        skipped.append(f"object {oid!r} plane {k}: an unbounded plane has no collision-model shape")
    return shapes, skipped


@dataclass
class _WorldObject:
    frame_id: str
    T_frame_obj: np.ndarray
    shapes: list[Shape] = field(default_factory=list)


@dataclass(frozen=True)
class SceneChange:
    """What one message changed in the planner's obstacle set (collision-model names)."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed)


class SceneObstacles:
    """MoveIt's world collision objects, kept in sync from planning-scene messages.

    Feed it the full scene once (`/get_planning_scene` response or a non-diff message), then
    diffs (`/monitored_planning_scene`) or CollisionObject / PlanningSceneWorld messages; read
    `obstacles()` or push the changes into a collision model with `sync_into`.

    Args:
        frames: T_base_frame for the frames objects may be expressed in (see `static_frames`).
        resolve_frame: called for a frame not in `frames` (e.g. a tf2 lookup); None = unknown.
        ignore_ids: object ids never converted (the cell fixtures this node published itself,
            which the collision model already has).
        group: collision-model group of the obstacles ("runtime": no grasp allowance).
    """

    def __init__(
        self,
        frames: Mapping[str, np.ndarray],
        resolve_frame: Callable[[str], np.ndarray | None] | None = None,
        ignore_ids: Iterable[str] = (),
        group: str = "runtime",
    ) -> None:
        self.frames = {k: np.asarray(v, dtype=float) for k, v in frames.items()}
        self.resolve_frame = resolve_frame
        self.ignore_ids = set(ignore_ids)
        self.group = group
        self._objects: dict[str, _WorldObject] = {}
        self._applied: dict[str, Obstacle] = {}
        self.warned: set[str] = set()

    # -- input ----------------------------------------------------------------------------

    def apply_scene(self, scene: Any) -> SceneChange:
        """Apply a moveit_msgs/PlanningScene: full (replaces the world) or diff (per operation)."""
        before = self.obstacles_by_name()
        skipped: list[str] = []
        if not bool(scene.is_diff):
            self._objects.clear()
        for obj in scene.world.collision_objects:
            skipped += self._apply_object(obj, full=not bool(scene.is_diff))
        skipped += self._unrepresentable(scene.world)
        for att in scene.robot_state.attached_collision_objects:
            skipped.append(f"object {str(att.object.id)!r} is attached to link {str(att.link_name)!r}: not modelled")
        return self._change(before, skipped)

    def apply_world(self, world: Any) -> SceneChange:
        """Apply a moveit_msgs/PlanningSceneWorld (collision objects by their operation)."""
        before = self.obstacles_by_name()
        skipped: list[str] = []
        for obj in world.collision_objects:
            skipped += self._apply_object(obj, full=False)
        skipped += self._unrepresentable(world)
        return self._change(before, skipped)

    def apply_collision_object(self, obj: Any) -> SceneChange:
        """Apply one moveit_msgs/CollisionObject (ADD, REMOVE, APPEND or MOVE)."""
        before = self.obstacles_by_name()
        return self._change(before, self._apply_object(obj, full=False))

    def _unrepresentable(self, world: Any) -> list[str]:
        octo = world.octomap.octomap
        return ["octomap: voxel maps are not modelled by the planner"] if len(octo.data) else []

    def _apply_object(self, obj: Any, full: bool) -> list[str]:
        oid = str(obj.id)
        op = ADD if full else _as_int(obj.operation)
        if oid in self.ignore_ids:
            return []
        if op == REMOVE:
            if oid:
                self._objects.pop(oid, None)
            else:  # MoveIt: REMOVE with an empty id clears the world
                for key in [k for k in self._objects if k not in self.ignore_ids]:
                    del self._objects[key]
            return []
        frame = str(obj.header.frame_id)
        T_obj = pose_to_T(obj.pose)
        if op == MOVE:
            if oid in self._objects:
                self._objects[oid].frame_id = frame or self._objects[oid].frame_id
                self._objects[oid].T_frame_obj = T_obj
                return []
            return [f"object {oid!r}: MOVE of an unknown object"]
        shapes, skipped = object_shapes(obj)
        if op == APPEND and oid in self._objects:
            existing = self._objects[oid]
            # Appended shapes are given in the new message's frame and pose.
            try:
                T_rel = T_inv(self._T_base(existing.frame_id) @ existing.T_frame_obj) @ self._T_base(frame) @ T_obj
            except KeyError as exc:
                return [*skipped, f"object {oid!r}: APPEND skipped: {exc.args[0]}"]
            existing.shapes += [Shape(s.shape, T_rel @ s.T_obj_shape, s.dims, s.approximated) for s in shapes]
            return skipped
        if op not in (ADD, APPEND):
            return [*skipped, f"object {oid!r}: unknown operation {op}"]
        self._objects[oid] = _WorldObject(frame, T_obj, list(shapes))
        return skipped

    def _T_base(self, frame: str) -> np.ndarray:
        T = self.frames.get(frame)
        if T is None and self.resolve_frame is not None:
            T = self.resolve_frame(frame)
        if T is None:
            msg = f"frame {frame!r} is unknown; known: {sorted(self.frames)}"
            raise KeyError(msg)
        return np.asarray(T, dtype=float)

    # -- output ---------------------------------------------------------------------------

    def obstacles_by_name(self) -> dict[str, Obstacle]:
        """Collision-model obstacles (base frame) by name `moveit/<id>/<k>`."""
        out: dict[str, Obstacle] = {}
        for oid, o in sorted(self._objects.items()):
            try:
                T_base_obj = self._T_base(o.frame_id) @ o.T_frame_obj
            except KeyError as exc:
                self._warn(f"object {oid!r} skipped: {exc.args[0]}")
                continue
            for k, s in enumerate(o.shapes):
                name = f"{OBSTACLE_PREFIX}{oid}/{k}"
                if s.approximated:
                    self._warn(f"object {oid!r} shape {k}: {s.approximated} approximated by its bounding {s.shape}")
                out[name] = Obstacle(name, s.shape, T_base_obj @ s.T_obj_shape, s.dims.copy(), self.group)
        return out

    def obstacles(self) -> list[Obstacle]:
        return list(self.obstacles_by_name().values())

    def object_ids(self) -> list[str]:
        return sorted(self._objects)

    def _warn(self, text: str) -> None:
        if text not in self.warned:
            self.warned.add(text)
            log.warning("%s", text)

    def _change(self, before: Mapping[str, Obstacle], skipped: list[str]) -> SceneChange:
        after = self.obstacles_by_name()
        for why in skipped:
            self._warn(why)
        added = tuple(n for n, o in after.items() if n not in before or not _same(o, before[n]))
        removed = tuple(n for n in before if n not in after)
        return SceneChange(added, removed, tuple(skipped))

    def sync_into(self, model: Any) -> SceneChange:
        """Make a collision model's MoveIt obstacles equal to this scene's (duck-typed:
        `add_obstacle(name, shape, T_base_obj, dims, group)` and `remove_obstacle(name)`)."""
        want = self.obstacles_by_name()
        removed = [n for n in self._applied if n not in want]
        for name in removed:
            try:
                model.remove_obstacle(name)
            except KeyError:
                pass
            del self._applied[name]
        added = []
        for name, o in want.items():
            if name in self._applied and _same(o, self._applied[name]):
                continue
            model.add_obstacle(o.name, o.shape, o.T_base_obj, o.dims, o.group)
            self._applied[name] = o
            added.append(name)
        return SceneChange(tuple(added), tuple(removed))


def _same(a: Obstacle, b: Obstacle) -> bool:
    return (
        a.shape == b.shape
        and a.group == b.group
        and a.dims.shape == b.dims.shape
        and bool(np.allclose(a.dims, b.dims, atol=1e-9))
        and bool(np.allclose(a.T_base_obj, b.T_base_obj, atol=1e-9))
    )


def scene_obstacles(scene: Any, frames: Mapping[str, np.ndarray], ignore_ids: Iterable[str] = ()) -> list[Obstacle]:
    """The world obstacles of one (full) moveit_msgs/PlanningScene, in the base frame."""
    s = SceneObstacles(frames, ignore_ids=ignore_ids)
    s.apply_scene(scene)
    return s.obstacles()


# --------------------------------------------------------------------------------------------
# Planner -> MoveIt
# --------------------------------------------------------------------------------------------


def collision_object_msg(
    msgs: Any, obstacle: Obstacle, frame_id: str = "base_link", stamp_s: float = 0.0, operation: int = ADD
) -> Any:
    """moveit_msgs/CollisionObject for one collision-model obstacle (object id = its name).

    The object's pose is the obstacle's pose; the single primitive sits at the object's origin.
    """
    from factory_ai.nodes.convert import header_msg

    kind = {"box": BOX, "sphere": SPHERE, "cylinder": CYLINDER}
    if obstacle.shape not in kind:
        msg = f"obstacle {obstacle.name!r}: shape {obstacle.shape!r} has no SolidPrimitive"
        raise ValueError(msg)
    d = np.asarray(obstacle.dims, dtype=float)
    if obstacle.shape == "cylinder":  # model (radius, length) -> SolidPrimitive [height, radius]
        dims = np.array([d[1], d[0]])
    else:
        dims = d[:3] if obstacle.shape == "box" else d[:1]
    prim = msgs.SolidPrimitive(type=kind[obstacle.shape], dimensions=dims.astype(float))
    return msgs.CollisionObject(
        header=header_msg(msgs, stamp_s, frame_id),
        pose=pose_msg(msgs, obstacle.T_base_obj),
        id=obstacle.name,
        primitives=[prim],
        primitive_poses=[pose_msg(msgs, np.eye(4))],
        operation=operation,
    )


def planning_scene_diff(
    msgs: Any,
    obstacles: Iterable[Obstacle],
    frame_id: str = "base_link",
    stamp_s: float = 0.0,
    remove: Iterable[str] = (),
) -> Any:
    """A moveit_msgs/PlanningScene diff that adds `obstacles` and removes the ids in `remove`.

    Publish it on `/planning_scene` or send it in an `/apply_planning_scene` request.
    """
    from factory_ai.nodes.convert import header_msg

    objects = [collision_object_msg(msgs, o, frame_id, stamp_s) for o in obstacles]
    objects += [
        msgs.CollisionObject(header=header_msg(msgs, stamp_s, frame_id), id=str(oid), operation=REMOVE)
        for oid in remove
    ]
    return msgs.PlanningScene(
        world=msgs.PlanningSceneWorld(collision_objects=objects),
        robot_state=msgs.RobotState(is_diff=True),
        is_diff=True,
    )


def get_planning_scene_request(msgs: Any) -> Any:
    """moveit_msgs/srv/GetPlanningScene request for the world's object names and geometry."""
    return msgs.GetPlanningScene_Request(components=msgs.PlanningSceneComponents(components=WORLD_COMPONENTS))


def cell_fixture_obstacles(cell: Any) -> list[Obstacle]:
    """The cell's fixed geometry (conveyor, bin, fixtures) as the collision model sees it."""
    from factory_ai.planning.collision import cell_obstacles

    return cell_obstacles(cell)

