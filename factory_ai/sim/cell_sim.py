"""`CellSim`: the digital twin of the pick-and-reject cell (MuJoCo).

Physics/task split in the style of dm_control: the MuJoCo model (built once by `scene.py`)
holds the arm, conveyor, bin and a pool of part slots; `CellSim` runs the task around it:
the spawner, the 500 Hz servo references, the vacuum gripper, ground truth and events, and the
cameras. All randomness flows from the seed given to `reset`, through independent streams
(spawning, camera noise, labels, manual spawns), so rendering or not never changes the physics.
"""

from __future__ import annotations

import collections
import logging
from dataclasses import dataclass

from factory_ai.sim.gl_backend import ensure_headless_gl

ensure_headless_gl()  # before MuJoCo picks its OpenGL library
import mujoco  # noqa: E402
import numpy as np

from factory_ai import package_root
from factory_ai.config import CellDescription, load_cell_description
from factory_ai.geometry import T_inv
from factory_ai.sim.camera import OffscreenRenderer, RealismState
from factory_ai.sim.controller import ControllerLimits, TrajectoryController, read_acceleration_limits
from factory_ai.sim.parts import PartAppearance, draw_part_appearance, part_texture_rgb, shape_geometry
from factory_ai.sim.scene import (
    ARM_PREFIX,
    HIDDEN_GROUP,
    VISIBLE_GROUP,
    build_cell_spec,
    quat_wxyz_from_R,
    read_urdf_joint_limits,
    slot_layout,
)
from factory_ai.sim.spawner import PartSpawner, SpawnRequest
from factory_ai.sim.suction import suction_seal
from factory_ai.sim.types import (
    CameraFrame,
    PartEvent,
    PartEventKind,
    PartShape,
    PartTruth,
    PhysicsError,
    SimConfig,
    SuctionState,
)
from factory_ai.types import DefectType, InspectionLabel, JointState, JointTrajectory

log = logging.getLogger(__name__)

_STATUS_CODE = {"on_belt": 0, "loose": 1, "held": 2, "in_bin": 3, "escaped": 4, "fell_off": 5}
_HISTORY_KEEP_S = 600.0  # ground-truth pose log kept this long (sim time)
_CHECK_PERIOD_S = 0.02  # part status / events / spawner cadence (a part moves <= 1 cm)
_HISTORY_PERIOD_S = 0.04  # ground-truth pose log cadence (25 Hz)
_WAKE_RADIUS_M = 0.12  # a riding part this close to the wrist or cup switches to contact physics
_RECYCLE_AFTER_S = 1.5  # escaped / fallen parts leave the scene this long after the event


@dataclass
class _Part:
    part_id: int
    slot: int
    appearance: PartAppearance
    spawned_s: float
    status: str = "on_belt"
    terminal_s: float | None = None
    texture_dirty: bool = True
    riding: bool = False  # carried kinematically by the belt (no contacts, gravity compensated)
    calm_since_s: float | None = None
    label: InspectionLabel | None = None


def _quat_wxyz_to_R(q: np.ndarray) -> np.ndarray:
    """Rotation matrices (M, 3, 3) from unit quaternions (M, 4) in MuJoCo's w, x, y, z order."""
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    w, x, y, z = q.T
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
            np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
            np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
        ],
        axis=1,
    )


class CellSim:
    """The simulated cell: physics, spawner, arm controller, suction cup, cameras, ground truth.

    Args:
        cell: the cell description (default: the shipped `config/cell.yaml`).
        config: sim knobs (default `SimConfig()`).
    """

    def __init__(self, cell: CellDescription | None = None, config: SimConfig | None = None) -> None:
        self.cell = cell if cell is not None else load_cell_description()
        self.config = config if config is not None else SimConfig()
        if len(self.config.kp_nm_per_rad) != len(self.config.kd_nms_per_rad):
            msg = "SimConfig.kp_nm_per_rad and kd_nms_per_rad differ in length"
            raise ValueError(msg)
        speed = self.config.belt_speed_mps
        self._belt_speed = float(self.cell.conveyor.speed_mps if speed is None else speed)
        spec = build_cell_spec(self.cell, self.config, self._belt_speed)
        self.model = spec.compile()
        # Keep a diverged state for inspection instead of silently resetting it (PhysicsError).
        self.model.opt.disableflags |= int(mujoco.mjtDisableBit.mjDSBL_AUTORESET)
        self.data = mujoco.MjData(self.model)
        self._index_model()
        self.controller = TrajectoryController(self._controller_limits())
        self._renderer: OffscreenRenderer | None = None
        self._overview_renderer: OffscreenRenderer | None = None
        self.reset(0)

    # ----------------------------------------------------------------------------- setup

    def _controller_limits(self) -> ControllerLimits:
        urdf = read_urdf_joint_limits(self.cell.arm.urdf_path)
        yaml_path = self.cell.source.parent / "joint_limits.yaml"
        if not yaml_path.is_file():
            yaml_path = package_root() / "config" / "joint_limits.yaml"
        a_max = read_acceleration_limits(yaml_path, urdf.names)
        return ControllerLimits(urdf.names, urdf.q_min_rad, urdf.q_max_rad, urdf.v_max_radps, a_max)

    def _index_model(self) -> None:
        m = self.model
        urdf = read_urdf_joint_limits(self.cell.arm.urdf_path)
        self.joint_names: tuple[str, ...] = urdf.names
        n = len(urdf.names)
        if len(self.config.kp_nm_per_rad) != n or len(self.config.armature_kgm2) != n:
            msg = f"SimConfig gains/armature must have {n} entries (one per arm joint), got {len(self.config.kp_nm_per_rad)}"
            raise ValueError(msg)
        jids = [m.joint(ARM_PREFIX + j).id for j in urdf.names]
        self._arm_qadr = np.array([m.jnt_qposadr[j] for j in jids])
        self._arm_dadr = np.array([m.jnt_dofadr[j] for j in jids])
        self._act_ids = np.array([m.actuator("servo/" + j).id for j in urdf.names])
        if not np.array_equal(self._act_ids, np.arange(n)):
            msg = "servo actuators must be the model's first actuators"
            raise RuntimeError(msg)
        self._kp = np.array(self.config.kp_nm_per_rad)
        self._kd = np.array(self.config.kd_nms_per_rad)
        self._armature = np.array(self.config.armature_kgm2)
        self._cup_body = m.body(ARM_PREFIX + self.cell.arm.tip_frame).id
        self._belt_geom = m.geom("belt").id
        self._cam_id = m.camera(self.cell.camera.name).id
        self._overview_id = m.camera("overview").id
        self._light_diffuse0 = m.light_diffuse.copy()
        self.slots = slot_layout(self.config)
        self._slot_body = np.array([m.body(s.body_name).id for s in self.slots])
        self._slot_qadr = np.array([m.jnt_qposadr[m.body_jntadr[b]] for b in self._slot_body])
        self._slot_dadr = np.array([m.jnt_dofadr[m.body_jntadr[b]] for b in self._slot_body])
        self._slot_visual = np.array([m.geom(s.body_name + "/visual").id for s in self.slots])
        self._slot_eq = np.array([m.equality(s.weld_name).id for s in self.slots])
        self._slot_tex = np.array([m.texture(s.texture_name).id for s in self.slots])
        self._slot_top = np.array([shape_geometry(s.shape).thickness_m for s in self.slots])
        self._slot_radius = np.array([shape_geometry(s.shape).radius_m for s in self.slots])
        self._slot_coll = [
            np.array([g for g in range(m.body_geomadr[b], m.body_geomadr[b] + m.body_geomnum[b])
                      if m.geom_contype[g] or m.geom_conaffinity[g]])
            for b in self._slot_body
        ]
        self._coll_bits = [(m.geom_contype[g].copy(), m.geom_conaffinity[g].copy()) for g in self._slot_coll]
        # Arm bodies whose approach wakes a riding part: the wrist and the cup reach the belt.
        wake = ("wrist_1_link", "wrist_2_link", "wrist_3_link", self.cell.arm.tip_frame)
        self._wake_bodies = np.array([m.body(ARM_PREFIX + b).id for b in wake if m.body(ARM_PREFIX + b) is not None])
        self.T_world_base = self.cell.arm.T_world_base
        self.T_base_world = T_inv(self.T_world_base)
        self.T_world_belt = self.cell.conveyor.T_world_belt
        self.T_belt_world = T_inv(self.T_world_belt)
        self.T_bin_world = T_inv(self.cell.reject_bin.T_world_bin)
        self._R_belt_world_T = self.T_belt_world[:3, :3].T.copy()
        self._t_belt_world = self.T_belt_world[:3, 3].copy()
        self._R_bin_world_T = self.T_bin_world[:3, :3].T.copy()
        self._t_bin_world = self.T_bin_world[:3, 3].copy()
        conv, rb = self.cell.conveyor, self.cell.reject_bin
        self._bounds = (conv.length_m / 2.0, conv.width_m / 2.0, rb.size_m[0] / 2.0, rb.size_m[1] / 2.0, rb.size_m[2])
        self._cache: tuple | None = None
        self._yaw_world_base = float(np.arctan2(self.T_world_base[1, 0], self.T_world_base[0, 0]))
        self._steps_per_check = max(1, int(round(_CHECK_PERIOD_S / self.config.physics_dt_s)))
        self._checks_per_history = max(1, int(round(_HISTORY_PERIOD_S / _CHECK_PERIOD_S)))
        self._badqacc = int(mujoco.mjtWarning.mjWARN_BADQACC)

    # ----------------------------------------------------------------------------- episode

    def reset(self, seed: int) -> None:
        """Start a new episode: arm at `ready_q_rad`, belt (re)filled, all draws from `seed`."""
        m, d = self.model, self.data
        mujoco.mj_resetData(m, d)
        streams = np.random.SeedSequence(int(seed)).spawn(4)
        self._spawn_rng = np.random.default_rng(streams[0])
        self._camera_rng = np.random.default_rng(streams[1])
        self._label_rng = np.random.default_rng(streams[2])
        self._manual_rng = np.random.default_rng(streams[3])
        self.seed = int(seed)
        self.realism = RealismState(self.config.realism, self._camera_rng)
        q_ready = np.asarray(self.cell.arm.ready_q_rad, dtype=float)
        if q_ready.shape != (len(self.joint_names),):
            msg = f"cell.yaml arm.ready_q_rad has {q_ready.size} values, the arm has {len(self.joint_names)} joints"
            raise ValueError(msg)
        d.qpos[self._arm_qadr] = q_ready
        self.controller.hold(q_ready, 0.0)
        d.ctrl[: len(q_ready)] = self._kp * q_ready
        self.model.geom_surfacevel[self._belt_geom, 0] = self._belt_speed
        self._parts: dict[int, _Part] = {}
        self._cache = None
        self._free_slots: dict[PartShape, list[int]] = {}
        for s in self.slots:
            self._park(s.index)
            self._free_slots.setdefault(s.shape, []).append(s.index)
        self._events: list[PartEvent] = []
        self._history: collections.deque = collections.deque(maxlen=int(_HISTORY_KEEP_S / _HISTORY_PERIOD_S))
        self._next_id = 0
        self._vacuum = False
        self._held: int | None = None
        self._pending_s = 0.0
        self._n_steps = 0
        self._n_checks = 0
        self._badqacc_seen = 0
        self._warned_no_slot = False
        self._spawner = PartSpawner(self.config, self.cell.conveyor.length_m, self.cell.conveyor.width_m,
                                    self._spawn_rng)
        self._last_spawned: int | None = None
        self._spawn_due_travel_m = np.inf
        self._travel_m = 0.0
        mujoco.mj_forward(m, d)
        if self.config.spawn_enabled and self.config.prefill_belt:
            self._prefill()
        elif self.config.spawn_enabled:
            self._spawn_due_travel_m = 0.0
        mujoco.mj_forward(m, d)

    @property
    def time_s(self) -> float:
        """Sim clock (s since reset)."""
        return float(self.data.time)

    @property
    def belt_speed_mps(self) -> float:
        return self._belt_speed

    def set_belt_speed(self, speed_mps: float) -> None:
        """Change the belt speed (m/s, 0..2) from now on."""
        if not 0.0 <= speed_mps <= 2.0:
            msg = f"belt speed must be in [0, 2] m/s, got {speed_mps}"
            raise ValueError(msg)
        self._belt_speed = float(speed_mps)
        self.model.geom_surfacevel[self._belt_geom, 0] = self._belt_speed
        for part in self._parts.values():
            if part.riding:
                da = self._slot_dadr[part.slot]
                self.data.qvel[da: da + 3] = self.belt_velocity_world_mps

    @property
    def belt_velocity_world_mps(self) -> np.ndarray:
        return self._belt_speed * self.T_world_belt[:3, 0]

    # ----------------------------------------------------------------------------- stepping

    def step(self, dt_s: float) -> None:
        """Advance the sim by `dt_s` (whole physics steps; the remainder carries over).

        Raises:
            PhysicsError: the simulation diverged.
        """
        if not np.isfinite(dt_s) or dt_s < 0.0:
            msg = f"step dt_s must be finite and >= 0, got {dt_s}"
            raise ValueError(msg)
        dt = self.config.physics_dt_s
        self._pending_s += dt_s
        n = int(self._pending_s / dt + 1e-6)
        if n == 0:
            return
        self._pending_s = max(0.0, self._pending_s - n * dt)
        m, d = self.model, self.data
        # The servo samples its reference at the start of each 2 ms period (zero-order hold).
        times = d.time + dt * np.arange(n)
        q, qd, qdd = self.controller.reference(times)
        ctrl = self._kp * q + self._kd * qd + self._armature * qdd
        nu = ctrl.shape[1]
        per_check = self._steps_per_check
        for k in range(n):
            d.ctrl[:nu] = ctrl[k]
            mujoco.mj_step(m, d)
            self._n_steps += 1
            if self._vacuum and self._held is None:
                self._try_grip()
            if self._n_steps % per_check == 0:
                self._check_parts()
        self._check_physics()

    def _check_physics(self) -> None:
        d = self.data
        bad = int(d.warning[self._badqacc].number)
        if bad > self._badqacc_seen or not np.all(np.isfinite(d.qpos)) or not np.all(np.isfinite(d.qvel)):
            self._badqacc_seen = bad
            worst = int(np.argmax(np.abs(np.nan_to_num(d.qacc, nan=np.inf))))
            msg = (f"simulation diverged at t={d.time:.3f} s (unstable accelerations, worst dof {worst}); "
                   f"reset the sim")
            raise PhysicsError(msg)

    # ----------------------------------------------------------------------------- arm

    def execute(self, traj: JointTrajectory) -> None:
        """Replace the active trajectory, starting from the current commanded state.

        Raises:
            TrajectoryError: unknown/missing joints, or a limit exceeded.
        """
        self.controller.execute(traj, self.time_s)

    def joint_state(self) -> JointState:
        """Measured joint positions, velocities and accelerations (URDF order)."""
        d = self.data
        return JointState(
            names=self.joint_names,
            q_rad=d.qpos[self._arm_qadr].copy(),
            qd_radps=d.qvel[self._arm_dadr].copy(),
            qdd_radps2=d.qacc[self._arm_dadr].copy(),
            stamp_s=self.time_s,
        )

    def commanded_state(self) -> JointState:
        """The controller's reference right now (what the servo tracks)."""
        q, qd, qdd = self.controller.reference(self.time_s)
        return JointState(self.joint_names, q[0], qd[0], qdd[0], self.time_s)

    def T_world_frame(self, body: str) -> np.ndarray:
        """(4, 4) pose of an arm frame by URDF link name (e.g. 'suction_cup', 'tool0')."""
        mujoco.mj_kinematics(self.model, self.data)
        b = self.model.body(ARM_PREFIX + body).id
        T = np.eye(4)
        T[:3, :3] = self.data.xmat[b].reshape(3, 3)
        T[:3, 3] = self.data.xpos[b]
        return T

    def T_base_frame(self, body: str) -> np.ndarray:
        """(4, 4) pose of an arm frame in the base frame."""
        return self.T_base_world @ self.T_world_frame(body)

    # ----------------------------------------------------------------------------- suction

    def set_suction(self, on: bool) -> None:
        """Vacuum on (seals on a part once the cup lip sits on it) or off (drops what it holds)."""
        on = bool(on)
        if on and not self._vacuum:
            self._vacuum = True
            mujoco.mj_kinematics(self.model, self.data)
            self._try_grip()
        elif not on and self._vacuum:
            self._vacuum = False
            if self._held is not None:
                part = self._parts.get(self._held)
                self.data.eq_active[self._slot_eq[part.slot]] = 0
                part.status = "loose"
                self._emit(part, PartEventKind.DROPPED)
                self._held = None

    def suction(self) -> SuctionState:
        """Vacuum on/off and the id of the part held (None if nothing)."""
        return SuctionState(self._vacuum, self._held)

    def _try_grip(self) -> None:
        candidates = [p for p in self._parts.values() if p.status not in ("held",)]
        if not candidates:
            return
        d = self.data
        slots = np.array([p.slot for p in candidates])
        bodies = self._slot_body[slots]
        p_cup = d.xpos[self._cup_body]
        R_cup = d.xmat[self._cup_body].reshape(3, 3)
        R_parts = d.xmat[bodies].reshape(-1, 3, 3)
        ok, offset = suction_seal(p_cup, R_cup[:, 2], d.xpos[bodies], R_parts, self._slot_top[slots],
                                  self.config.suction)
        if not ok.any():
            return
        i = int(np.argmin(np.where(ok, offset, np.inf)))
        part = candidates[i]
        self._ride(part, False)
        # Weld the part where it is now, relative to the cup (no snap).
        T_w_cup = np.eye(4)
        T_w_cup[:3, :3], T_w_cup[:3, 3] = R_cup, p_cup
        T_w_part = np.eye(4)
        T_w_part[:3, :3], T_w_part[:3, 3] = R_parts[i], d.xpos[bodies[i]]
        T_cup_part = T_inv(T_w_cup) @ T_w_part
        eq = self._slot_eq[part.slot]
        self.model.eq_data[eq, 3:6] = T_cup_part[:3, 3]
        self.model.eq_data[eq, 6:10] = quat_wxyz_from_R(T_cup_part[:3, :3])
        d.eq_active[eq] = 1
        self._held = part.part_id
        part.status = "held"
        self._emit(part, PartEventKind.PICKED)

    # ----------------------------------------------------------------------------- parts

    def _emit(self, part: _Part, kind: PartEventKind) -> None:
        p_world = self.data.qpos[self._slot_qadr[part.slot]: self._slot_qadr[part.slot] + 3]
        p_base = self.T_base_world[:3, :3] @ p_world + self.T_base_world[:3, 3]
        self._events.append(PartEvent(self.time_s, part.part_id, kind, p_base))

    def _park(self, slot: int) -> None:
        m, d = self.model, self.data
        qa, da = self._slot_qadr[slot], self._slot_dadr[slot]
        d.qpos[qa: qa + 3] = self.slots[slot].park_xyz_m
        d.qpos[qa + 3: qa + 7] = (1.0, 0.0, 0.0, 0.0)
        d.qvel[da: da + 6] = 0.0
        d.eq_active[self._slot_eq[slot]] = 0
        m.body_gravcomp[self._slot_body[slot]] = 1.0
        m.geom_group[self._slot_visual[slot]] = HIDDEN_GROUP
        self._set_contacts(slot, True)

    def _set_contacts(self, slot: int, on: bool) -> None:
        geoms = self._slot_coll[slot]
        if on:
            self.model.geom_contype[geoms], self.model.geom_conaffinity[geoms] = self._coll_bits[slot]
        else:
            self.model.geom_contype[geoms] = 0
            self.model.geom_conaffinity[geoms] = 0

    def _ride(self, part: _Part, on: bool) -> None:
        """Switch a part between riding the belt kinematically and full contact physics."""
        if part.riding == on:
            return
        part.riding = on
        slot = part.slot
        self._set_contacts(slot, not on)
        self.model.body_gravcomp[self._slot_body[slot]] = 1.0 if on else 0.0
        if on:
            da = self._slot_dadr[slot]
            self.data.qvel[da: da + 3] = self.belt_velocity_world_mps
            self.data.qvel[da + 3: da + 6] = 0.0

    def _recycle(self, part: _Part) -> None:
        if self._held == part.part_id:
            self._held = None
        part.riding = False
        self._park(part.slot)
        self._free_slots[self.slots[part.slot].shape].append(part.slot)
        del self._parts[part.part_id]
        self._cache = None

    def _take_slot(self, shape: PartShape) -> int | None:
        free = self._free_slots.get(shape)
        if free is None:
            msg = f"shape {shape.value!r} has no slots (SimConfig.shapes={self.config.shapes})"
            raise ValueError(msg)
        if not free:
            # Reuse the oldest finished part of that shape (the bin's oldest first).
            done = [p for p in self._parts.values() if p.terminal_s is not None and self.slots[p.slot].shape == shape]
            if not done:
                return None
            done.sort(key=lambda p: (p.status != "in_bin", p.terminal_s))
            self._recycle(done[0])
        return free.pop(0)

    def _place(self, appearance: PartAppearance, T_world_part: np.ndarray, v_world_mps: np.ndarray) -> int | None:
        slot = self._take_slot(appearance.shape)
        if slot is None:
            if not self._warned_no_slot:
                log.warning("no free %s slot: spawn skipped (raise SimConfig.slots_per_shape)", appearance.shape.value)
                self._warned_no_slot = True
            return None
        m, d = self.model, self.data
        qa, da = self._slot_qadr[slot], self._slot_dadr[slot]
        d.qpos[qa: qa + 3] = T_world_part[:3, 3]
        d.qpos[qa + 3: qa + 7] = quat_wxyz_from_R(T_world_part[:3, :3])
        d.qvel[da: da + 3] = v_world_mps
        d.qvel[da + 3: da + 6] = 0.0
        m.body_gravcomp[self._slot_body[slot]] = 0.0
        m.geom_group[self._slot_visual[slot]] = VISIBLE_GROUP
        part = _Part(self._next_id, slot, appearance, self.time_s)
        self._next_id += 1
        self._parts[part.part_id] = part
        self._cache = None
        self._emit(part, PartEventKind.SPAWNED)
        return part.part_id

    def _T_world_on_belt(self, xy_belt_m: np.ndarray, yaw_rad: float) -> np.ndarray:
        c, s = np.cos(yaw_rad), np.sin(yaw_rad)
        T_belt_part = np.eye(4)
        T_belt_part[:3, :3] = [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]
        T_belt_part[:3, 3] = (xy_belt_m[0], xy_belt_m[1], 0.0001)
        return self.T_world_belt @ T_belt_part

    def _spawn_request(self, req: SpawnRequest) -> int | None:
        pid = self._place(req.appearance, self._T_world_on_belt(req.xy_belt_m, req.yaw_rad), self.belt_velocity_world_mps)
        if pid is not None:
            self._last_spawned = pid
            if self.config.kinematic_riding:
                self._ride(self._parts[pid], True)
        return pid

    def _prefill(self) -> None:
        """Parts along the whole belt, as if the line had been running."""
        L = self.cell.conveyor.length_m
        x = L / 2.0 - 0.12
        prev_xy = None
        while x >= self._spawner.entry_x_m:
            req = self._spawner.request(x, prev_xy)
            self._spawn_request(req)
            prev_xy = req.xy_belt_m
            x = req.xy_belt_m[0] - self._spawner.next_gap_m()
        # The next part enters when the belt has moved the last one a gap's length downstream.
        last_x = prev_xy[0] if prev_xy is not None else self._spawner.entry_x_m
        self._spawn_due_travel_m = max(0.0, (self._spawner.entry_x_m + self._spawner.next_gap_m()) - last_x)

    def _maybe_spawn(self) -> None:
        self._travel_m += self._belt_speed * _CHECK_PERIOD_S
        if self._travel_m < self._spawn_due_travel_m:
            return
        overshoot = self._travel_m - self._spawn_due_travel_m
        prev_xy = None
        last = self._parts.get(self._last_spawned) if self._last_spawned is not None else None
        if last is not None and last.status == "on_belt":
            T = self._T_world_part(np.array([last.slot]))[0]
            prev_xy = (self.T_belt_world @ T)[:2, 3]
        req = self._spawner.request(self._spawner.entry_x_m + overshoot, prev_xy)
        self._spawn_request(req)
        self._spawn_due_travel_m = self._travel_m + self._spawner.next_gap_m()

    def _T_world_part(self, slots: np.ndarray) -> np.ndarray:
        qa = self._slot_qadr[slots]
        qpos = self.data.qpos[qa[:, None] + np.arange(7)]
        T = np.tile(np.eye(4), (len(slots), 1, 1))
        T[:, :3, :3] = _quat_wxyz_to_R(qpos[:, 3:])
        T[:, :3, 3] = qpos[:, :3]
        return T

    def _active(self) -> tuple[list[_Part], np.ndarray, np.ndarray, np.ndarray]:
        """Parts in play with their slots, qpos indices (M, 3) and radii; cached until one changes."""
        if self._cache is None:
            parts = list(self._parts.values())
            slots = np.array([p.slot for p in parts], dtype=int)
            qidx = self._slot_qadr[slots][:, None] + np.arange(3)
            self._cache = (parts, slots, qidx, self._slot_radius[slots])
        return self._cache

    def _check_parts(self) -> None:
        self._n_checks += 1
        if self.config.spawn_enabled:
            self._maybe_spawn()
        if not self._parts:
            return
        parts, slots, qidx, radius = self._active()
        p_world = self.data.qpos[qidx]
        p_belt = p_world @ self._R_belt_world_T + self._t_belt_world
        p_bin = p_world @ self._R_bin_world_T + self._t_bin_world
        half_l, half_w, bin_x, bin_y, bin_h = self._bounds
        ax, ay = np.abs(p_belt[:, 0]), np.abs(p_belt[:, 1])
        on_belt = (ax <= half_l) & (ay <= half_w) & (np.abs(p_belt[:, 2]) < 0.006)
        past_end = (p_belt[:, 0] > half_l) & (ay < half_w + 0.05)
        in_bin = (np.abs(p_bin[:, 0]) < bin_x) & (np.abs(p_bin[:, 1]) < bin_y) & (p_bin[:, 2] < bin_h) & (p_bin[:, 2] > -0.05)
        over_bin = (np.abs(p_bin[:, 0]) < bin_x + 0.02) & (np.abs(p_bin[:, 1]) < bin_y + 0.02)
        below = (p_belt[:, 2] < -0.05) & ~over_bin  # falling into the bin is not falling off
        now = self.time_s
        if self.config.kinematic_riding:
            self._update_riding(parts, slots, radius, p_world, p_belt, on_belt, now)
        code = np.fromiter((_STATUS_CODE[p.status] for p in parts), np.int8, len(parts))
        live = code <= 1  # on_belt or loose (held and finished parts are handled elsewhere)
        event = live & (past_end | in_bin | below)
        flip = live & ~event & (on_belt != (code == 0))
        for i in np.flatnonzero(event | flip):
            part = parts[i]
            if past_end[i]:
                self._terminal(part, "escaped", PartEventKind.ESCAPED)
            elif in_bin[i]:
                self._terminal(part, "in_bin", PartEventKind.IN_BIN)
            elif below[i]:
                self._terminal(part, "fell_off", PartEventKind.FELL_OFF)
            else:
                part.status = "on_belt" if on_belt[i] else "loose"
        for i in np.flatnonzero(code >= 4):  # escaped / fell off: leave the scene after a while
            if now - parts[i].terminal_s > _RECYCLE_AFTER_S:
                self._recycle(parts[i])
        if self._n_checks % self._checks_per_history == 0:
            self._log_history()
        if not np.isfinite(p_world).all():
            self._check_physics()

    def _update_riding(self, parts: list[_Part], slots: np.ndarray, radius: np.ndarray, p_world: np.ndarray,
                       p_belt: np.ndarray, on_belt: np.ndarray, now: float) -> None:
        """Wake riding parts that something approaches; let calm ones ride again."""
        d = self.data
        riding = np.fromiter((p.riding for p in parts), bool, len(parts))
        # Near the arm (wrist, cup), near the belt end, or near a part in free physics.
        diff = p_world[:, None, :] - d.xpos[self._wake_bodies][None, :, :]
        # 12 cm: wrist links are 4.5 cm thick and move at most ~2.5 cm between two checks.
        disturbed = (np.einsum("ijk,ijk->ij", diff, diff) < _WAKE_RADIUS_M**2).any(axis=1)
        disturbed |= p_belt[:, 0] > self._bounds[0] - radius - 0.03
        free = ~riding
        if free.any():
            diff = p_world[:, None, :] - p_world[None, free, :]
            reach = radius[:, None] + radius[None, free] + 0.06
            close = np.einsum("ijk,ijk->ij", diff, diff) < reach * reach
            close[free, np.arange(free.sum())] = False  # a part does not disturb itself
            disturbed |= close.any(axis=1)
        wake = riding & disturbed
        if wake.any():
            for i in np.flatnonzero(wake):
                self._ride(parts[i], False)
                parts[i].calm_since_s = None
        # A free part resting flat on the belt at belt speed, undisturbed for 0.2 s, rides again.
        candidates = np.flatnonzero(free & ~disturbed & on_belt)
        if candidates.size == 0:
            return
        da = self._slot_dadr[slots[candidates]]
        v = d.qvel[da[:, None] + np.arange(6)]
        dv = v[:, :3] - self.belt_velocity_world_mps
        tilt_ok = d.xmat[self._slot_body[slots[candidates]], 8] > 0.9995
        calm = ((dv * dv).sum(axis=1) < 1e-4) & ((v[:, 3:] ** 2).sum(axis=1) < 2.5e-3) & tilt_ok
        for k, i in enumerate(candidates):
            part = parts[i]
            if part.status == "held" or not calm[k]:
                part.calm_since_s = None
            elif part.calm_since_s is None:
                part.calm_since_s = now
            elif now - part.calm_since_s >= 0.2:
                self._ride(part, True)

    def _terminal(self, part: _Part, status: str, kind: PartEventKind) -> None:
        part.status = status
        part.terminal_s = self.time_s
        self._emit(part, kind)
        if kind not in (PartEventKind.ESCAPED, PartEventKind.IN_BIN):
            return
        # End-of-line truth for the learner (late and possibly wrong, if configured): parts that
        # left the line are inspected downstream, rejected parts are checked at the bin.
        defective = part.appearance.defective
        if self._label_rng.random() < self.config.label_flip_prob:
            defective = not defective
        dtype = part.appearance.defect_type if defective == part.appearance.defective else (
            DefectType.ANOMALY if defective else DefectType.OK)
        part.label = InspectionLabel(part.part_id, self.time_s + self.config.label_delay_s, defective, dtype)

    def _log_history(self) -> None:
        parts, slots, _, _ = self._active()
        q = self.data.qpos[self._slot_qadr[slots][:, None] + np.arange(7)]
        pose = np.empty((len(parts), 4))
        pose[:, :3] = q[:, :3] @ self.T_base_world[:3, :3].T + self.T_base_world[:3, 3]
        w, x, y, z = q[:, 3], q[:, 4], q[:, 5], q[:, 6]
        # Heading of the part's x axis in the world, then in the base frame.
        pose[:, 3] = np.arctan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z)) - self._yaw_world_base
        ids = np.fromiter((p.part_id for p in parts), int, len(parts))
        self._history.append((self.time_s, ids, pose))

    def spawn_part(self, shape: PartShape | str = PartShape.WASHER, p_base_m: np.ndarray | list[float] | None = None,
                   yaw_rad: float = 0.0, defect_type: DefectType = DefectType.OK, severity: float = 0.5,
                   appearance: PartAppearance | None = None, v_base_mps: np.ndarray | None = None) -> int:
        """Put a specific part in the cell (for tests and controlled data sets).

        Args:
            shape: part shape (ignored if `appearance` is given).
            p_base_m: (2,) x, y on the belt surface, or (3,) a full position, in the base frame;
                None = the camera's view centre on the belt.
            yaw_rad: rotation about base z.
            defect_type, severity: the flaw to draw (ignored if `appearance` is given).
            appearance: an exact surface (e.g. `draw_part_appearance(...)` or `.without_defect()`).
            v_base_mps: (3,) initial velocity; default: belt velocity if placed on the belt, else 0.

        Returns:
            The new part id.
        """
        if appearance is None:
            appearance = draw_part_appearance(self._manual_rng, shape, defect_type, severity)
        if p_base_m is None:
            p_base_m = self.cell.camera.T_base_camera[:2, 3]
        p = np.asarray(p_base_m, dtype=float)
        T_base_belt = self.T_base_world @ self.T_world_belt
        if p.shape == (2,):
            z_belt_base = T_base_belt[2, 3]
            p = np.array([p[0], p[1], z_belt_base + 0.0001])
        elif p.shape != (3,):
            msg = f"spawn_part p_base_m must have 2 or 3 values, got shape {p.shape}"
            raise ValueError(msg)
        c, s = np.cos(yaw_rad), np.sin(yaw_rad)
        T_base_part = np.eye(4)
        T_base_part[:3, :3] = [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]
        T_base_part[:3, 3] = p
        T_world_part = self.T_world_base @ T_base_part
        p_belt = (self.T_belt_world @ T_world_part)[:3, 3]
        conv = self.cell.conveyor
        over_belt = abs(p_belt[0]) <= conv.length_m / 2 and abs(p_belt[1]) <= conv.width_m / 2 and abs(p_belt[2]) < 0.01
        if v_base_mps is None:
            v_world = self.belt_velocity_world_mps if over_belt else np.zeros(3)
        else:
            v_world = self.T_world_base[:3, :3] @ np.asarray(v_base_mps, dtype=float)
        pid = self._place(appearance, T_world_part, v_world)
        if pid is None:
            msg = f"no free slot for a {appearance.shape.value} (SimConfig.slots_per_shape={self.config.slots_per_shape})"
            raise RuntimeError(msg)
        if self.config.kinematic_riding and over_belt and v_base_mps is None:
            self._ride(self._parts[pid], True)
        mujoco.mj_kinematics(self.model, self.data)
        return pid

    def remove_part(self, part_id: int) -> None:
        """Take a part out of the cell (its slot becomes free)."""
        part = self._parts.get(part_id)
        if part is None:
            msg = f"no part with id {part_id} in the cell"
            raise KeyError(msg)
        if self._held == part_id:
            self.data.eq_active[self._slot_eq[part.slot]] = 0
        self._recycle(part)

    def clear_parts(self) -> None:
        """Remove every part (and stop the automatic spawner until `reset`)."""
        for pid in list(self._parts):
            self.remove_part(pid)
        self._spawn_due_travel_m = np.inf

    # ----------------------------------------------------------------------------- truth

    def ground_truth(self) -> list[PartTruth]:
        """Every part in the cell right now (base frame), in part id order."""
        parts = sorted(self._parts.values(), key=lambda p: p.part_id)
        if not parts:
            return []
        slots = np.array([p.slot for p in parts])
        T_world = self._T_world_part(slots)
        T_base = self.T_base_world @ T_world
        v_world = self.data.qvel[self._slot_dadr[slots][:, None] + np.arange(3)]
        v_base = v_world @ self.T_base_world[:3, :3].T
        out = []
        for i, p in enumerate(parts):
            geo = shape_geometry(p.appearance.shape)
            d = p.appearance.defect
            if d is not None:
                p_part = np.array([d.center_m[0], d.center_m[1], geo.thickness_m])
                p_def_base = T_base[i, :3, :3] @ p_part + T_base[i, :3, 3]
            else:
                p_part = p_def_base = None
            out.append(PartTruth(
                part_id=p.part_id, shape=p.appearance.shape, defective=d is not None,
                defect_type=p.appearance.defect_type, severity=0.0 if d is None else d.severity,
                defect_p_part_m=p_part, defect_p_base_m=p_def_base, T_world_part=T_world[i],
                p_base_m=T_base[i, :3, 3].copy(), yaw_rad=float(np.arctan2(T_base[i, 1, 0], T_base[i, 0, 0])),
                v_base_mps=v_base[i], on_belt=p.status == "on_belt", held=p.status == "held",
                status=p.status, radius_m=geo.radius_m, top_z_part_m=geo.thickness_m,
            ))  # fmt: skip
        return out

    def part_appearance(self, part_id: int) -> PartAppearance:
        """The exact surface of a part in the cell (e.g. to render it without its flaw)."""
        return self._parts[part_id].appearance

    def part_history(self, part_id: int) -> np.ndarray:
        """Logged pose of a part over time: (K, 5) t_s, x, y, z (base frame, m), yaw_rad; 25 Hz.

        Covers the last 10 minutes of sim time; raises KeyError for an id never seen.
        """
        rows = [(t, *pose[k]) for t, ids, pose in self._history for k in np.flatnonzero(ids == part_id)]
        if not rows and part_id not in self._parts:
            msg = f"no pose history for part {part_id}"
            raise KeyError(msg)
        return np.array(rows, dtype=float).reshape(-1, 5)

    def events(self, since_s: float | None = None) -> list[PartEvent]:
        """Part events since reset (or since `since_s`), in time order."""
        if since_s is None:
            return list(self._events)
        return [e for e in self._events if e.stamp_s >= since_s]

    def labels(self) -> list[InspectionLabel]:
        """End-of-line truth for parts that left the belt (escaped or in the bin), once their
        `label_delay_s` has passed; `track_id` holds the sim part id. Flipped with
        `label_flip_prob` (seeded)."""
        now = self.time_s
        labels = [p.label for p in self._parts.values() if p.label is not None and p.label.stamp_s <= now]
        return sorted(labels, key=lambda lab: lab.stamp_s)

    # ----------------------------------------------------------------------------- cameras

    @property
    def camera_K(self) -> np.ndarray:
        """(3, 3) intrinsics of the overhead camera image."""
        return self.cell.camera.K.copy()

    def _ensure_renderer(self, overview: bool = False) -> OffscreenRenderer:
        if self._renderer is None:
            self._renderer = OffscreenRenderer(self.model)
            log.info("rendering with %s", self._renderer.backend)
        if overview and self._overview_renderer is None:
            # People look at this one: multisampling and a finer shadow map.
            self._overview_renderer = OffscreenRenderer(self.model, samples=8, shadow_size=4096)
        dirty = [p for p in self._parts.values() if p.texture_dirty]
        for part in dirty:
            self._write_part_texture(part)
        # A renderer created later gets every texture written so far from MjrContext itself.
        renderers = [r for r in (self._renderer, self._overview_renderer) if r is not None]
        for part in dirty:
            for r in renderers:
                r.upload_texture(int(self._slot_tex[part.slot]))
        return self._overview_renderer if overview else self._renderer

    def _write_part_texture(self, part: _Part) -> None:
        tex_id = self._slot_tex[part.slot]
        m = self.model
        img = part_texture_rgb(part.appearance, self.config.texture_px)
        adr = m.tex_adr[tex_id]
        # MuJoCo's texture rows run from v = 0 upward; ours start at +y (top row first).
        m.tex_data[adr: adr + img.size] = img[::-1].reshape(-1)
        part.texture_dirty = False

    def render_camera(self, realism: bool = True) -> CameraFrame:
        """The overhead camera image (RGB + depth in metres) at the configured resolution.

        Args:
            realism: apply the configured lighting change, exposure drift, blur and noise.
        """
        renderer = self._ensure_renderer()
        cam = self.cell.camera
        mujoco.mj_kinematics(self.model, self.data)
        use = realism and self.config.realism.enabled
        if use:
            self.realism.advance(self.time_s)
            self.model.light_diffuse[:] = self._light_diffuse0 * self.realism.light_gain
        try:
            rgb, depth = renderer.render(self.data, self._cam_id, cam.width_px, cam.height_px,
                                         shadows=self.config.realism.shadows)
        finally:
            self.model.light_diffuse[:] = self._light_diffuse0
        if use:
            rgb = self.realism.apply(rgb)
        return CameraFrame(rgb, depth, self.time_s, cam.frame_id, cam.K.copy())

    def render_overview(self, width: int | None = None, height: int | None = None) -> CameraFrame:
        """A clean view of the whole cell (for people): RGB + depth."""
        renderer = self._ensure_renderer(overview=True)
        w = width or self.config.overview_size_px[0]
        h = height or self.config.overview_size_px[1]
        mujoco.mj_kinematics(self.model, self.data)
        rgb, depth = renderer.render(self.data, self._overview_id, w, h)
        fovy = np.radians(self.model.cam_fovy[self._overview_id])
        f = (h / 2.0) / np.tan(fovy / 2.0)
        K = np.array([[f, 0.0, (w - 1) / 2.0], [0.0, f, (h - 1) / 2.0], [0.0, 0.0, 1.0]])
        return CameraFrame(rgb, depth, self.time_s, "overview_camera_optical_frame", K)

    def close(self) -> None:
        """Release the renderer's GL context."""
        for r in (self._renderer, self._overview_renderer):
            if r is not None:
                r.close()
        self._renderer = self._overview_renderer = None

    def __enter__(self) -> CellSim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def default_sim(seed: int = 0, **config_overrides: object) -> CellSim:
    """A CellSim on the shipped cell, reset with `seed` (config fields as keyword overrides)."""
    sim = CellSim(load_cell_description(), SimConfig(**config_overrides))  # type: ignore[arg-type]
    sim.reset(seed)
    return sim


