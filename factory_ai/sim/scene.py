"""The cell as a MuJoCo model, assembled with MjSpec from `config/cell.yaml` and the URDF.

The arm is the URDF itself, attached (not re-described); the conveyor, reject bin, fixtures,
lights and cameras come from the cell description. Parts live in a fixed pool of slots (bodies
with free joints, one texture each) so the model compiles once and slots are reused as parts
come and go.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from factory_ai.sim.gl_backend import ensure_headless_gl

ensure_headless_gl()  # before MuJoCo picks its OpenGL library
import mujoco  # noqa: E402
import numpy as np
from scipy.spatial.transform import Rotation

from factory_ai.config import CellDescription
from factory_ai.sim.parts import part_mesh, shape_geometry
from factory_ai.sim.types import PartShape, SimConfig

log = logging.getLogger(__name__)

ARM_PREFIX = "arm/"
# Collision bits: scenery, parts, arm, belt. The belt and the scenery never test each other
# (they touch by construction), the arm does not self-collide (the planner's job).
BIT_SCENERY, BIT_PART, BIT_ARM, BIT_BELT = 1, 2, 4, 8
VISIBLE_GROUP, HIDDEN_GROUP, COLLISION_GROUP = 1, 5, 3
PARK_Z_M = -2.0  # parked part slots float (gravity compensated) under the floor


@dataclass(frozen=True)
class ArmJointLimits:
    """Per-joint limits read from the URDF (URDF joint order)."""

    names: tuple[str, ...]
    q_min_rad: np.ndarray
    q_max_rad: np.ndarray
    v_max_radps: np.ndarray
    effort_nm: np.ndarray


def read_urdf_joint_limits(urdf_path: str | Path) -> ArmJointLimits:
    """Movable joints of a URDF in file order, with position, velocity and effort limits."""
    root = ET.parse(str(urdf_path)).getroot()
    names, lo, hi, vel, eff = [], [], [], [], []
    for j in root.findall("joint"):
        kind = j.get("type")
        if kind not in ("revolute", "continuous", "prismatic"):
            continue
        lim = j.find("limit")
        get = (lambda k, d: float(lim.get(k, d))) if lim is not None else (lambda k, d: float(d))
        names.append(j.get("name"))
        cont = kind == "continuous"
        lo.append(-np.inf if cont else get("lower", 0.0))
        hi.append(np.inf if cont else get("upper", 0.0))
        vel.append(get("velocity", np.inf) or np.inf)
        eff.append(get("effort", np.inf) or np.inf)
    return ArmJointLimits(tuple(names), np.array(lo), np.array(hi), np.array(vel), np.array(eff))


def quat_wxyz_from_R(R: np.ndarray) -> np.ndarray:
    """MuJoCo quaternion (w, x, y, z) of a rotation matrix."""
    x, y, z, w = Rotation.from_matrix(R).as_quat()
    return np.array([w, x, y, z])


def R_world_mjcam_from_optical(R_world_optical: np.ndarray) -> np.ndarray:
    """MuJoCo camera axes (looks along -z, y up) from a ROS optical frame (z forward, y down)."""
    return R_world_optical @ np.diag([1.0, -1.0, -1.0])


def R_look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray = np.array([0.0, 0.0, 1.0])) -> np.ndarray:
    """MuJoCo camera rotation looking from `eye` to `target` (x right, y up, -z forward)."""
    fwd = target - eye
    fwd = fwd / np.linalg.norm(fwd)
    right = np.cross(fwd, up)
    right /= np.linalg.norm(right)
    cam_up = np.cross(right, fwd)
    return np.column_stack([right, cam_up, -fwd])


@dataclass(frozen=True)
class SlotInfo:
    """One reusable part body."""

    index: int
    shape: PartShape
    body_name: str
    texture_name: str
    material_name: str
    weld_name: str
    park_xyz_m: np.ndarray


def slot_layout(config: SimConfig) -> list[SlotInfo]:
    """The part slots the model holds, in body order."""
    slots = []
    for shape in config.shapes:
        for k in range(config.slots_per_shape):
            i = len(slots)
            name = f"part/{PartShape(shape).value}/{k}"
            park = np.array([-3.0 + 0.25 * (i % 24), 3.0 + 0.25 * (i // 24), PARK_Z_M])
            slots.append(SlotInfo(i, PartShape(shape), name, f"{name}/tex", f"{name}/mat",
                                  f"{name}/suction", park))
    return slots


# --------------------------------------------------------------------------------------------
# Textures for the scenery (procedural, seeded with a constant: the scenery never changes)


def _noise_texture(rng: np.random.Generator, size: int, rgb: tuple[float, float, float],
                   amp: float, blur: float) -> np.ndarray:
    import cv2

    n = rng.standard_normal((size, size)).astype(np.float32)
    if blur > 0:
        pad = int(3 * blur) + 1  # blur a wrapped copy so the texture tiles without seams
        n = cv2.GaussianBlur(np.pad(n, pad, mode="wrap"), (0, 0), blur)[pad:-pad, pad:-pad]
        n /= n.std() + 1e-6
    img = np.asarray(rgb, np.float32)[None, None, :] + amp * n[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


def _belt_texture(rng: np.random.Generator, size: int = 256) -> np.ndarray:
    """Dark rubber with a faint woven pattern (PVC conveyor belt)."""
    img = _noise_texture(rng, size, (46.0, 48.0, 50.0), 5.0, 0.8).astype(np.float32)
    weave = 3.0 * np.sin(np.arange(size) * 2.0 * np.pi / 8.0)
    img += weave[None, :, None]
    return np.clip(img, 0, 255).astype(np.uint8)


def _floor_texture(rng: np.random.Generator, size: int = 512) -> np.ndarray:
    """Polished concrete: grey, mottled."""
    a = _noise_texture(rng, size, (128.0, 128.0, 124.0), 9.0, 12.0).astype(np.float32)
    b = _noise_texture(rng, size, (0.0, 0.0, 0.0), 5.0, 1.0).astype(np.float32)
    return np.clip(a + b, 0, 255).astype(np.uint8)


def _add_texture(spec: mujoco.MjSpec, name: str, img: np.ndarray) -> None:
    h, w, c = img.shape
    spec.add_texture(
        name=name, type=mujoco.mjtTexture.mjTEXTURE_2D, width=w, height=h, nchannel=c,
        data=np.ascontiguousarray(img, np.uint8).ravel().tolist(),
    )  # fmt: skip


def _add_material(spec: mujoco.MjSpec, name: str, rgba, texture: str | None = None,
                  specular: float = 0.3, shininess: float = 0.3, texrepeat=(1.0, 1.0),
                  texuniform: bool = False, reflectance: float = 0.0) -> None:
    mat = spec.add_material(name=name, rgba=list(rgba), specular=specular, shininess=shininess,
                            texrepeat=list(texrepeat), texuniform=texuniform, reflectance=reflectance)
    if texture is not None:
        textures = ["" for _ in range(len(mat.textures))]
        textures[int(mujoco.mjtTextureRole.mjTEXROLE_RGB)] = texture
        mat.textures = textures


def _box(body, name: str, size_full, pos, material: str, *, collide: bool = True, quat=None):
    g = body.add_geom(
        name=name, type=mujoco.mjtGeom.mjGEOM_BOX, size=list(np.asarray(size_full) / 2.0),
        pos=list(pos), material=material,
        contype=BIT_SCENERY if collide else 0,
        conaffinity=(BIT_PART | BIT_ARM) if collide else 0, group=VISIBLE_GROUP,
    )  # fmt: skip
    if quat is not None:
        g.quat = list(quat)
    return g


# --------------------------------------------------------------------------------------------
# Scene assembly


def _attach_arm(spec: mujoco.MjSpec, cell: CellDescription, config: SimConfig,
                limits: ArmJointLimits) -> None:
    arm = mujoco.MjSpec.from_file(str(cell.arm.urdf_path))
    for g in arm.geoms:
        if g.contype or g.conaffinity:  # collision geometry: keep it out of the images
            g.contype, g.conaffinity, g.group = BIT_ARM, BIT_SCENERY | BIT_PART | BIT_BELT, COLLISION_GROUP
        else:
            g.group = VISIBLE_GROUP
    by_name = {j.name: j for j in arm.joints}
    for i, name in enumerate(limits.names):
        if name not in by_name:
            msg = f"URDF joint {name!r} not found by MuJoCo's URDF importer"
            raise ValueError(msg)
        by_name[name].armature = float(config.armature_kgm2[i])
    for b in arm.bodies:
        if b.name != "world":
            b.gravcomp = 1.0  # the servo's gravity feed-forward (as real arm controllers do)
    T = cell.arm.T_world_base
    frame = spec.worldbody.add_frame(pos=list(T[:3, 3]), quat=list(quat_wxyz_from_R(T[:3, :3])))
    spec.attach(arm, frame=frame, prefix=ARM_PREFIX)
    for i, name in enumerate(limits.names):
        kp, kd = float(config.kp_nm_per_rad[i]), float(config.kd_nms_per_rad[i])
        effort = float(limits.effort_nm[i]) if np.isfinite(limits.effort_nm[i]) else 1e4
        # PD with feed-forward in one affine actuator: force = ctrl - kp q - kd qd, where the
        # controller sends ctrl = kp q_ref + kd qd_ref + armature qdd_ref (servo at the physics rate).
        spec.add_actuator(
            name=f"servo/{name}", target=ARM_PREFIX + name, trntype=mujoco.mjtTrn.mjTRN_JOINT,
            gaintype=mujoco.mjtGain.mjGAIN_FIXED, gainprm=[1.0] + [0.0] * 9,
            biastype=mujoco.mjtBias.mjBIAS_AFFINE, biasprm=[0.0, -kp, -kd] + [0.0] * 7,
            ctrllimited=False, forcelimited=True, forcerange=[-effort, effort],
        )  # fmt: skip


def _add_conveyor(spec: mujoco.MjSpec, cell: CellDescription, belt_speed_mps: float) -> None:
    c = cell.conveyor
    T = c.T_world_belt
    body = spec.worldbody.add_body(name="conveyor", pos=list(T[:3, 3]), quat=list(quat_wxyz_from_R(T[:3, :3])))
    L, W, H = c.length_m, c.width_m, c.frame_height_m
    belt_t = 0.008
    # The belt: a static box whose surface moves (MuJoCo geom surface velocity). Contact friction
    # carries the parts; they leave it at its downstream end and fall.
    belt = body.add_geom(
        name="belt", type=mujoco.mjtGeom.mjGEOM_BOX, size=[L / 2.0, W / 2.0, belt_t / 2.0],
        pos=[0.0, 0.0, -belt_t / 2.0], material="belt", contype=BIT_BELT,
        conaffinity=BIT_PART | BIT_ARM, friction=[0.9, 0.005, 0.0001], group=VISIBLE_GROUP,
    )  # fmt: skip
    # Compile with a non-zero speed so MuJoCo enables surface velocities; the sim sets the real one.
    belt.surfacevel = [belt_speed_mps if belt_speed_mps > 0 else 1e-6, 0.0, 0.0, 0.0, 0.0, 0.0]
    rail_w, rail_h = 0.03, c.rail_height_m
    frame_h = H - belt_t
    # 4 mm narrower than the rails' outer faces: coplanar faces flicker (z-fighting) in renders.
    _box(body, "conveyor/frame", (L, W + 2 * rail_w - 0.004, frame_h), (0, 0, -belt_t - frame_h / 2), "frame")
    for side in (-1.0, 1.0):
        y = side * (W / 2.0 + rail_w / 2.0)
        _box(body, f"conveyor/rail_{'l' if side > 0 else 'r'}", (L + 0.08, rail_w, rail_h + 0.04),
             (0, y, rail_h / 2.0 - 0.02), "rail")
    # End rollers (visual) and legs down to the floor.
    for end in (-1.0, 1.0):
        body.add_geom(
            name=f"conveyor/roller_{'out' if end > 0 else 'in'}", type=mujoco.mjtGeom.mjGEOM_CYLINDER,
            size=[belt_t * 2.0, W / 2.0], pos=[end * L / 2.0, 0.0, -2.0 * belt_t],
            quat=[np.cos(np.pi / 4), np.sin(np.pi / 4), 0.0, 0.0], material="roller",
            contype=0, conaffinity=0, group=VISIBLE_GROUP,
        )  # fmt: skip
    z_floor = -T[2, 3]
    leg_h = T[2, 3] - H
    for ix in (-0.42, 0.0, 0.42):
        for iy in (-1.0, 1.0):
            x = ix * L
            y = iy * (W / 2.0 - 0.02)
            _box(body, f"conveyor/leg_{ix:+.2f}_{iy:+.0f}", (0.05, 0.05, leg_h),
                 (x, y, z_floor + leg_h / 2.0), "frame")
    # A motor box at the drive end, and a guard plate under the belt's discharge.
    _box(body, "conveyor/motor", (0.16, 0.12, 0.12), (L / 2.0 - 0.15, -(W / 2.0 + 0.11), -0.11), "motor")


def _add_bin(spec: mujoco.MjSpec, cell: CellDescription) -> None:
    b = cell.reject_bin
    T = b.T_world_bin
    body = spec.worldbody.add_body(name="reject_bin", pos=list(T[:3, 3]), quat=list(quat_wxyz_from_R(T[:3, :3])))
    sx, sy, h = b.size_m
    t = b.wall_thickness_m
    _box(body, "bin/floor", (sx + 2 * t, sy + 2 * t, t), (0, 0, t / 2.0), "bin")
    _box(body, "bin/wall_px", (t, sy + 2 * t, h), (sx / 2.0 + t / 2.0, 0, h / 2.0), "bin")
    _box(body, "bin/wall_nx", (t, sy + 2 * t, h), (-sx / 2.0 - t / 2.0, 0, h / 2.0), "bin")
    _box(body, "bin/wall_py", (sx, t, h), (0, sy / 2.0 + t / 2.0, h / 2.0), "bin")
    _box(body, "bin/wall_ny", (sx, t, h), (0, -sy / 2.0 - t / 2.0, h / 2.0), "bin")
    # A yellow/black band on the rim: reject bins are marked.
    for k, (size, pos) in enumerate(
        [((t + 0.004, sy + 2 * t + 0.004, 0.03), (sx / 2 + t / 2, 0, h - 0.014)),
         ((t + 0.004, sy + 2 * t + 0.004, 0.03), (-sx / 2 - t / 2, 0, h - 0.014)),
         ((sx - 0.002, t + 0.004, 0.03), (0, sy / 2 + t / 2, h - 0.0145)),
         ((sx - 0.002, t + 0.004, 0.03), (0, -sy / 2 - t / 2, h - 0.0145))]
    ):  # fmt: skip
        _box(body, f"bin/rim_{k}", size, pos, "hazard", collide=False)


def _add_fixtures(spec: mujoco.MjSpec, cell: CellDescription) -> None:
    for f in cell.fixtures:
        T = f.T_world_fixture
        material = {"floor": "floor", "pedestal": "pedestal"}.get(f.name, "steel_paint")
        _box(spec.worldbody, f"fixture/{f.name}", f.size_m, T[:3, 3], material,
             quat=quat_wxyz_from_R(T[:3, :3]))
    # Yellow floor markings around the arm's working area (visual only).
    cx, cy, half = 0.15, 0.1, 1.0
    for k, (size, pos) in enumerate(
        [((2 * half, 0.05, 0.002), (cx, cy - half, 0.001)), ((2 * half, 0.05, 0.002), (cx, cy + half, 0.001)),
         ((0.05, 2 * half, 0.002), (cx - half, cy, 0.001)), ((0.05, 2 * half, 0.002), (cx + half, cy, 0.001))]
    ):  # fmt: skip
        _box(spec.worldbody, f"floor_mark_{k}", size, pos, "hazard_yellow", collide=False)


def _add_cameras(spec: mujoco.MjSpec, cell: CellDescription) -> None:
    cam = cell.camera
    T_world_cam = cell.T_world_camera
    R = R_world_mjcam_from_optical(T_world_cam[:3, :3])
    fovy_deg = float(np.degrees(2.0 * np.arctan2(cam.height_px / 2.0, cam.K[1, 1])))
    K = cam.K
    if (abs(K[0, 2] - (cam.width_px - 1) / 2.0) > 0.5 or abs(K[1, 2] - (cam.height_px - 1) / 2.0) > 0.5
            or abs(K[0, 0] - K[1, 1]) > 1e-6 * K[1, 1]):
        # MuJoCo renders a centred pinhole with square pixels from fovy (fy); say so.
        log.warning("camera %s: the twin renders with a centred principal point and fx = fy = %.1f; "
                    "cell.yaml has fx=%.1f cx=%.1f cy=%.1f", cam.name, K[1, 1], K[0, 0], K[0, 2], K[1, 2])
    c = spec.worldbody.add_camera(name=cam.name, pos=list(T_world_cam[:3, 3]), quat=list(quat_wxyz_from_R(R)))
    c.fovy = fovy_deg
    # Camera housing just behind the optical centre (the camera never sees it).
    back = T_world_cam[:3, :3] @ np.array([0.0, 0.0, -0.045]) + T_world_cam[:3, 3]
    _box(spec.worldbody, "camera_housing", (0.07, 0.09, 0.07), back, "camera_body", collide=False,
         quat=quat_wxyz_from_R(T_world_cam[:3, :3]))
    eye = np.array([1.25, -1.2, 1.55])
    target = np.array([-0.1, 0.22, 0.72])
    ov = spec.worldbody.add_camera(name="overview", pos=list(eye), quat=list(quat_wxyz_from_R(R_look_at(eye, target))))
    ov.fovy = 50.0


def _add_lights(spec: mujoco.MjSpec, cell: CellDescription) -> None:
    belt = cell.conveyor.T_world_belt[:3, 3]
    # Hall lighting: a key light with shadows from above-front, a fill light, and a lamp over the
    # belt's inspection zone (next to the camera).
    spec.worldbody.add_light(
        name="key", type=mujoco.mjtLightType.mjLIGHT_DIRECTIONAL, pos=[0.5, -1.0, 3.0],
        dir=list(-np.array([0.25, -0.45, 1.0]) / np.linalg.norm([0.25, -0.45, 1.0])),
        diffuse=[0.42, 0.42, 0.40], specular=[0.2, 0.2, 0.2], castshadow=True,
    )  # fmt: skip
    spec.worldbody.add_light(
        name="fill", type=mujoco.mjtLightType.mjLIGHT_DIRECTIONAL, pos=[-1.0, 1.5, 3.0],
        dir=list(-np.array([-0.3, 0.5, 1.0]) / np.linalg.norm([-0.3, 0.5, 1.0])),
        diffuse=[0.16, 0.16, 0.18], specular=[0.05, 0.05, 0.05], castshadow=False,
    )  # fmt: skip
    cam = cell.T_world_camera[:3, 3]
    spec.worldbody.add_light(
        name="inspection_lamp", type=mujoco.mjtLightType.mjLIGHT_SPOT,
        pos=[cam[0] + 0.12, cam[1] - 0.05, belt[2] + 0.9], dir=[-0.12, 0.05, -0.9],
        diffuse=[0.32, 0.32, 0.32], specular=[0.3, 0.3, 0.3], cutoff=60.0, exponent=2.0,
        castshadow=False, attenuation=[1.0, 0.0, 0.0],
    )  # fmt: skip


def _add_part_slots(spec: mujoco.MjSpec, config: SimConfig, slots: list[SlotInfo], cup_body: str) -> None:
    for shape in dict.fromkeys(s.shape for s in slots):
        verts, faces, uv = part_mesh(shape)
        spec.add_mesh(
            name=f"mesh/{shape.value}", uservert=verts.ravel().tolist(), userface=faces.ravel().tolist(),
            usertexcoord=uv.ravel().tolist(),
        )  # fmt: skip
    for slot in slots:
        geo = shape_geometry(slot.shape)
        # Placeholder image; the sim rasterizes each part's own texture when it renders.
        tex = np.full((config.texture_px, config.texture_px, 3), 150, np.uint8)
        _add_texture(spec, slot.texture_name, tex)
        # Brushed steel: moderate specular highlight; texture carries the colour.
        _add_material(spec, slot.material_name, (1, 1, 1, 1), texture=slot.texture_name,
                      specular=0.55, shininess=0.55)
        body = spec.worldbody.add_body(name=slot.body_name, pos=list(slot.park_xyz_m))
        body.add_freejoint(name=slot.body_name + "/free")
        body.mass = geo.mass_kg
        body.inertia = list(geo.inertia_kgm2)
        body.ipos = [0.0, 0.0, geo.thickness_m / 2.0]
        body.explicitinertial = True
        body.gravcomp = 1.0  # parked: floats still; the sim sets 0 while the part is in play
        body.add_geom(
            name=slot.body_name + "/visual", type=mujoco.mjtGeom.mjGEOM_MESH, meshname=f"mesh/{slot.shape.value}",
            material=slot.material_name, contype=0, conaffinity=0, group=5,
        )  # fmt: skip
        for k, (kind, size, pos) in enumerate(geo.collision):
            body.add_geom(
                name=f"{slot.body_name}/collision{k}",
                type=mujoco.mjtGeom.mjGEOM_CYLINDER if kind == "cylinder" else mujoco.mjtGeom.mjGEOM_BOX,
                size=list(size) + [0.0] * (3 - len(size)), pos=list(pos),
                contype=BIT_PART, conaffinity=BIT_SCENERY | BIT_PART | BIT_ARM | BIT_BELT,
                friction=[0.6, 0.005, 0.0001], group=COLLISION_GROUP, rgba=[0.5, 0.5, 0.5, 1],
            )  # fmt: skip
        eq = spec.add_equality(
            name=slot.weld_name, type=mujoco.mjtEq.mjEQ_WELD, objtype=mujoco.mjtObj.mjOBJ_BODY,
            name1=cup_body, name2=slot.body_name, active=False,
        )  # fmt: skip
        # anchor (3), relpose pos (3) + quat (4), torquescale, and the last field as the MJCF
        # parser sets it for welds; the sim writes relpose when the cup seals.
        eq.data = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0]
        eq.solref = [0.01, 1.0]


def build_cell_spec(cell: CellDescription, config: SimConfig, belt_speed_mps: float) -> mujoco.MjSpec:
    """The whole cell as an MjSpec (compile it with `.compile()`)."""
    spec = mujoco.MjSpec()
    spec.modelname = "factory_cell"
    spec.option.timestep = config.physics_dt_s
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    spec.option.cone = mujoco.mjtCone.mjCONE_PYRAMIDAL
    width = max(cell.camera.width_px, config.overview_size_px[0], 640)
    height = max(cell.camera.height_px, config.overview_size_px[1], 480)
    spec.visual.global_.offwidth = int(width)
    spec.visual.global_.offheight = int(height)
    # The overhead camera renders without multisampling (its optics blur instead) and with a
    # 1024 shadow map: on a CPU renderer (llvmpipe) these two dominate the frame time. The
    # overview renderer raises both for people (see CellSim.render_overview).
    spec.visual.quality.shadowsize = 1024
    spec.visual.quality.offsamples = 0
    if config.sleep:
        spec.option.enableflags |= int(mujoco.mjtEnableBit.mjENBL_SLEEP)
    spec.visual.headlight.ambient = [0.16, 0.16, 0.16]
    spec.visual.headlight.diffuse = [0.12, 0.12, 0.12]
    spec.visual.headlight.specular = [0.05, 0.05, 0.05]
    # Parked slots are metres away; fix the extent so clip planes suit a 0.7 m camera distance.
    spec.stat.extent = 2.5
    spec.stat.center = [0.0, 0.2, 0.6]
    spec.visual.map.znear = 0.01  # x extent: 2.5 cm
    spec.visual.map.zfar = 6.0

    rng = np.random.default_rng(12345)  # scenery textures: constant
    spec.add_texture(
        name="sky", type=mujoco.mjtTexture.mjTEXTURE_SKYBOX, builtin=mujoco.mjtBuiltin.mjBUILTIN_GRADIENT,
        rgb1=[0.42, 0.45, 0.5], rgb2=[0.12, 0.13, 0.15], width=64, height=64,
    )  # fmt: skip
    _add_texture(spec, "belt_tex", _belt_texture(rng))
    _add_texture(spec, "floor_tex", _floor_texture(rng))
    _add_material(spec, "belt", (1, 1, 1, 1), "belt_tex", specular=0.08, shininess=0.1,
                  texrepeat=(8.0, 8.0), texuniform=True)
    _add_material(spec, "floor", (1, 1, 1, 1), "floor_tex", specular=0.15, shininess=0.2,
                  texrepeat=(1.0, 1.0), texuniform=True)
    _add_material(spec, "frame", (0.16, 0.3, 0.52, 1), specular=0.3, shininess=0.4)
    _add_material(spec, "rail", (0.68, 0.7, 0.72, 1), specular=0.5, shininess=0.5)
    _add_material(spec, "roller", (0.6, 0.62, 0.65, 1), specular=0.5, shininess=0.5)
    _add_material(spec, "motor", (0.2, 0.22, 0.24, 1), specular=0.3, shininess=0.3)
    _add_material(spec, "bin", (0.78, 0.16, 0.1, 1), specular=0.15, shininess=0.2)
    _add_material(spec, "hazard", (0.95, 0.78, 0.1, 1), specular=0.1, shininess=0.1)
    _add_material(spec, "hazard_yellow", (0.92, 0.76, 0.08, 1), specular=0.1, shininess=0.1)
    _add_material(spec, "steel_paint", (0.55, 0.57, 0.6, 1), specular=0.3, shininess=0.3)
    _add_material(spec, "pedestal", (0.3, 0.32, 0.35, 1), specular=0.3, shininess=0.3)
    _add_material(spec, "camera_body", (0.1, 0.1, 0.11, 1), specular=0.4, shininess=0.5)

    limits = read_urdf_joint_limits(cell.arm.urdf_path)
    _attach_arm(spec, cell, config, limits)
    _add_conveyor(spec, cell, belt_speed_mps)
    _add_bin(spec, cell)
    _add_fixtures(spec, cell)
    _add_cameras(spec, cell)
    _add_lights(spec, cell)
    _add_part_slots(spec, config, slot_layout(config), ARM_PREFIX + cell.arm.tip_frame)
    return spec
