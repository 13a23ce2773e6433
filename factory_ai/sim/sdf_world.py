"""Gazebo (gz sim, SDF 1.9) world of the cell, generated from `config/cell.yaml`.

The same cell description that builds the MuJoCo twin builds this world: floor and fixtures,
the conveyor (a belt link driven by gz's TrackController, frame and rails), the reject bin,
lights and the overhead camera sensor (publishing `camera/image_raw` and
`camera/camera_info` with frame `overhead_camera_optical_frame`, intrinsics from the YAML).
The arm is not in the world: `launch/sim_gazebo.launch.py` spawns it from robot_description.

This module must not import MuJoCo (ROS users run it without).

    python -m factory_ai.sim.sdf_world --out worlds/factory_cell.sdf
"""

from __future__ import annotations

import argparse
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from factory_ai.config import CellDescription, load_cell_description
from factory_ai.geometry import xyz_rpy_from_T

SDF_VERSION = "1.9"
WORLD_NAME = "factory_cell"
IMAGE_TOPIC = "camera/image_raw"
CAMERA_INFO_TOPIC = "camera/camera_info"  # gz-sensors derives it from the image topic
CONVEYOR_CMD_TOPIC = "/conveyor/cmd_vel"  # gz.msgs.Double, m/s

# R_optical_gz: gz cameras look along +x with z up; the ROS optical frame looks along +z, y down.
R_OPTICAL_GZCAM = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])

_COLORS = {
    "belt": (0.18, 0.19, 0.2, 1.0),
    "frame": (0.16, 0.3, 0.52, 1.0),
    "rail": (0.68, 0.7, 0.72, 1.0),
    "bin": (0.78, 0.16, 0.1, 1.0),
    "floor": (0.5, 0.5, 0.49, 1.0),
    "steel": (0.55, 0.57, 0.6, 1.0),
    "pedestal": (0.3, 0.32, 0.35, 1.0),
    "camera": (0.1, 0.1, 0.11, 1.0),
}


def _f(x: float) -> str:
    """Stable number formatting (the generated file is compared byte for byte in a test)."""
    s = f"{float(x):.6f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def _vec(v) -> str:
    return " ".join(_f(x) for x in v)


def _pose(T: np.ndarray) -> str:
    xyz, rpy = xyz_rpy_from_T(T)
    return _vec(np.concatenate([xyz, rpy]))


def _T(xyz=(0.0, 0.0, 0.0), R: np.ndarray | None = None) -> np.ndarray:
    T = np.eye(4)
    T[:3, 3] = xyz
    if R is not None:
        T[:3, :3] = R
    return T


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
    el = ET.SubElement(parent, tag, attrib)
    if text is not None:
        el.text = text
    return el


def _material(parent: ET.Element, color: str) -> None:
    rgba = _COLORS[color]
    m = _sub(parent, "material")
    _sub(m, "ambient", _vec(rgba))
    _sub(m, "diffuse", _vec(rgba))
    _sub(m, "specular", _vec((0.2, 0.2, 0.2, 1.0)))


def _box_link_geoms(link: ET.Element, name: str, size, T_link_geom: np.ndarray, color: str,
                    collide: bool = True) -> None:
    """A box visual (and collision) named `name` in a link."""
    for kind in ("collision", "visual") if collide else ("visual",):
        el = _sub(link, kind, name=f"{name}_{kind}")
        _sub(el, "pose", _pose(T_link_geom))
        geom = _sub(el, "geometry")
        box = _sub(geom, "box")
        _sub(box, "size", _vec(size))
        if kind == "visual":
            _material(el, color)


def _static_box_model(world: ET.Element, name: str, T_world: np.ndarray, size, color: str) -> None:
    model = _sub(world, "model", name=name)
    _sub(model, "static", "true")
    _sub(model, "pose", _pose(T_world))
    link = _sub(model, "link", name="link")
    _box_link_geoms(link, name, size, np.eye(4), color)


def _conveyor(world: ET.Element, cell: CellDescription) -> None:
    c = cell.conveyor
    T = c.T_world_belt
    L, W, H = c.length_m, c.width_m, c.frame_height_m
    belt_t = 0.008
    rail_w, rail_h = 0.03, c.rail_height_m
    # Frame, rails and legs: static.
    frame = _sub(world, "model", name="conveyor_frame")
    _sub(frame, "static", "true")
    _sub(frame, "pose", _pose(T))
    link = _sub(frame, "link", name="frame_link")
    frame_h = H - belt_t
    # Narrower than the rails' outer faces: coplanar faces flicker in renders.
    _box_link_geoms(link, "frame", (L, W + 2 * rail_w - 0.004, frame_h), _T((0, 0, -belt_t - frame_h / 2)), "frame")
    for side, label in ((1.0, "left"), (-1.0, "right")):
        _box_link_geoms(link, f"rail_{label}", (L + 0.08, rail_w, rail_h + 0.04),
                        _T((0, side * (W / 2 + rail_w / 2), rail_h / 2 - 0.02)), "rail")
    leg_h = T[2, 3] - H
    for ix in (-0.42, 0.0, 0.42):
        for iy in (-1.0, 1.0):
            _box_link_geoms(link, f"leg_{'m' if ix < 0 else 'p'}{abs(ix):.2f}_{'l' if iy > 0 else 'r'}".replace(".", "_"),
                            (0.05, 0.05, leg_h), _T((ix * L, iy * (W / 2 - 0.02), -T[2, 3] + leg_h / 2)), "frame")
    # The belt: a link fixed to the world whose surface moves (TrackController sets the
    # contact surface velocity along +x; command it on CONVEYOR_CMD_TOPIC in m/s).
    belt = _sub(world, "model", name="conveyor")
    _sub(belt, "pose", _pose(T))
    blink = _sub(belt, "link", name="belt_link")
    inertial = _sub(blink, "inertial")
    _sub(inertial, "mass", "50")
    inertia = _sub(inertial, "inertia")
    for k, v in (("ixx", 0.4), ("iyy", 16.7), ("izz", 17.0), ("ixy", 0.0), ("ixz", 0.0), ("iyz", 0.0)):
        _sub(inertia, k, _f(v))
    coll = _sub(blink, "collision", name="belt_collision")
    _sub(coll, "pose", _pose(_T((0, 0, -belt_t / 2))))
    _sub(_sub(_sub(coll, "geometry"), "box"), "size", _vec((L, W, belt_t)))
    friction = _sub(_sub(_sub(coll, "surface"), "friction"), "ode")
    _sub(friction, "mu", "0.9")
    _sub(friction, "mu2", "0.9")
    vis = _sub(blink, "visual", name="belt_visual")
    _sub(vis, "pose", _pose(_T((0, 0, -belt_t / 2))))
    _sub(_sub(_sub(vis, "geometry"), "box"), "size", _vec((L, W, belt_t)))
    _material(vis, "belt")
    joint = _sub(belt, "joint", name="belt_fixed", type="fixed")
    _sub(joint, "parent", "world")
    _sub(joint, "child", "belt_link")
    plugin = _sub(belt, "plugin", filename="gz-sim-track-controller-system", name="gz::sim::systems::TrackController")
    _sub(plugin, "link", "belt_link")
    _sub(plugin, "velocity_topic", CONVEYOR_CMD_TOPIC)
    _sub(plugin, "min_velocity", "0")
    _sub(plugin, "max_velocity", "0.5")


def _reject_bin(world: ET.Element, cell: CellDescription) -> None:
    b = cell.reject_bin
    sx, sy, h = b.size_m
    t = b.wall_thickness_m
    model = _sub(world, "model", name="reject_bin")
    _sub(model, "static", "true")
    _sub(model, "pose", _pose(b.T_world_bin))
    link = _sub(model, "link", name="link")
    _box_link_geoms(link, "floor", (sx + 2 * t, sy + 2 * t, t), _T((0, 0, t / 2)), "bin")
    _box_link_geoms(link, "wall_px", (t, sy + 2 * t, h), _T((sx / 2 + t / 2, 0, h / 2)), "bin")
    _box_link_geoms(link, "wall_nx", (t, sy + 2 * t, h), _T((-sx / 2 - t / 2, 0, h / 2)), "bin")
    _box_link_geoms(link, "wall_py", (sx, t, h), _T((0, sy / 2 + t / 2, h / 2)), "bin")
    _box_link_geoms(link, "wall_ny", (sx, t, h), _T((0, -sy / 2 - t / 2, h / 2)), "bin")


def _camera(world: ET.Element, cell: CellDescription) -> None:
    cam = cell.camera
    T_world_opt = cell.T_world_camera
    T_world_gz = T_world_opt.copy()
    T_world_gz[:3, :3] = T_world_opt[:3, :3] @ R_OPTICAL_GZCAM
    model = _sub(world, "model", name=cam.name)
    _sub(model, "static", "true")
    _sub(model, "pose", _pose(T_world_gz))
    link = _sub(model, "link", name="link")
    vis = _sub(link, "visual", name="housing")
    _sub(vis, "pose", _pose(_T((-0.045, 0, 0))))
    _sub(_sub(_sub(vis, "geometry"), "box"), "size", _vec((0.07, 0.09, 0.07)))
    _material(vis, "camera")
    sensor = _sub(link, "sensor", name="camera", type="camera")
    _sub(sensor, "always_on", "true")
    _sub(sensor, "update_rate", _f(cam.frame_rate_hz))
    _sub(sensor, "visualize", "true")
    _sub(sensor, "topic", IMAGE_TOPIC)
    # Image header frame (gz-sensors >= 7; earlier releases ignore it).
    _sub(sensor, "gz_frame_id", cam.frame_id)
    c = _sub(sensor, "camera", name=cam.name)
    K = cam.K
    _sub(c, "horizontal_fov", _f(2.0 * np.arctan2(cam.width_px / 2.0, K[0, 0])))
    image = _sub(c, "image")
    _sub(image, "width", str(cam.width_px))
    _sub(image, "height", str(cam.height_px))
    _sub(image, "format", "R8G8B8")
    clip = _sub(c, "clip")
    _sub(clip, "near", "0.05")
    _sub(clip, "far", "10")
    noise = _sub(c, "noise")
    _sub(noise, "type", "gaussian")
    _sub(noise, "mean", "0")
    _sub(noise, "stddev", "0.007")
    k1, k2, p1, p2, k3 = cam.distortion
    dist = _sub(c, "distortion")
    for key, val in (("k1", k1), ("k2", k2), ("k3", k3), ("p1", p1), ("p2", p2)):
        _sub(dist, key, _f(val))
    _sub(dist, "center", _vec((K[0, 2] / cam.width_px, K[1, 2] / cam.height_px)))
    lens = _sub(c, "lens")
    intr = _sub(lens, "intrinsics")
    for key, val in (("fx", K[0, 0]), ("fy", K[1, 1]), ("cx", K[0, 2]), ("cy", K[1, 2]), ("s", K[0, 1])):
        _sub(intr, key, _f(val))


def _lights(world: ET.Element, cell: CellDescription) -> None:
    key = _sub(world, "light", type="directional", name="key")
    _sub(key, "cast_shadows", "true")
    _sub(key, "pose", "0.5 -1 3 0 0 0")
    _sub(key, "diffuse", "0.8 0.8 0.78 1")
    _sub(key, "specular", "0.3 0.3 0.3 1")
    d = -np.array([0.25, -0.45, 1.0])
    _sub(key, "direction", _vec(d / np.linalg.norm(d)))
    fill = _sub(world, "light", type="directional", name="fill")
    _sub(fill, "cast_shadows", "false")
    _sub(fill, "pose", "-1 1.5 3 0 0 0")
    _sub(fill, "diffuse", "0.3 0.3 0.32 1")
    _sub(fill, "specular", "0.05 0.05 0.05 1")
    d = -np.array([-0.3, 0.5, 1.0])
    _sub(fill, "direction", _vec(d / np.linalg.norm(d)))
    cam = cell.T_world_camera[:3, 3]
    belt_z = cell.conveyor.T_world_belt[2, 3]
    lamp = _sub(world, "light", type="spot", name="inspection_lamp")
    _sub(lamp, "cast_shadows", "false")
    _sub(lamp, "pose", _vec((cam[0] + 0.12, cam[1] - 0.05, belt_z + 0.9, 0, 0, 0)))
    _sub(lamp, "diffuse", "0.6 0.6 0.6 1")
    _sub(lamp, "specular", "0.4 0.4 0.4 1")
    _sub(lamp, "direction", _vec(np.array([-0.12, 0.05, -0.9]) / np.linalg.norm([-0.12, 0.05, -0.9])))
    att = _sub(lamp, "attenuation")
    _sub(att, "range", "5")
    _sub(att, "constant", "1")
    _sub(att, "linear", "0")
    _sub(att, "quadratic", "0")
    spot = _sub(lamp, "spot")
    _sub(spot, "inner_angle", "0.6")
    _sub(spot, "outer_angle", "1.0")
    _sub(spot, "falloff", "1")


def world_sdf(cell: CellDescription) -> str:
    """The SDF text of the cell's Gazebo world (deterministic for a given cell description)."""
    sdf = ET.Element("sdf", version=SDF_VERSION)
    world = _sub(sdf, "world", name=WORLD_NAME)
    physics = _sub(world, "physics", name="2ms", type="ignored")
    _sub(physics, "max_step_size", "0.002")
    _sub(physics, "real_time_factor", "1.0")
    for filename, name in (
        ("gz-sim-physics-system", "gz::sim::systems::Physics"),
        ("gz-sim-user-commands-system", "gz::sim::systems::UserCommands"),
        ("gz-sim-scene-broadcaster-system", "gz::sim::systems::SceneBroadcaster"),
        ("gz-sim-contact-system", "gz::sim::systems::Contact"),
    ):
        _sub(world, "plugin", filename=filename, name=name)
    sensors = _sub(world, "plugin", filename="gz-sim-sensors-system", name="gz::sim::systems::Sensors")
    _sub(sensors, "render_engine", "ogre2")
    _sub(world, "gravity", "0 0 -9.81")
    scene = _sub(world, "scene")
    _sub(scene, "ambient", "0.35 0.35 0.35 1")
    _sub(scene, "background", "0.3 0.32 0.35 1")
    _sub(scene, "shadows", "true")
    _lights(world, cell)
    for f in cell.fixtures:
        color = {"floor": "floor", "pedestal": "pedestal"}.get(f.name, "steel")
        _static_box_model(world, f.name, f.T_world_fixture, f.size_m, color)
    _conveyor(world, cell)
    _reject_bin(world, cell)
    _camera(world, cell)
    ET.indent(sdf, space="  ")
    header = (
        '<?xml version="1.0"?>\n'
        "<!-- Generated by `python -m factory_ai.sim.sdf_world` from config/cell.yaml: do not edit;\n"
        "     change the cell description and regenerate (a test checks they agree). -->\n"
    )
    return header + ET.tostring(sdf, encoding="unicode") + "\n"


def default_world_path() -> Path:
    from factory_ai import package_root

    return package_root() / "worlds" / "factory_cell.sdf"


def write_world(cell: CellDescription, path: str | Path) -> Path:
    """Write the world SDF atomically; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(world_sdf(cell))
    os.replace(tmp, path)
    return path


def main(argv: list[str] | None = None) -> int:
    """Regenerate the world file from a cell description."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", type=Path, default=None, help="cell description (default: shipped)")
    parser.add_argument("--out", type=Path, default=None, help="output SDF (default: worlds/factory_cell.sdf)")
    args = parser.parse_args(argv)
    out = write_world(load_cell_description(args.cell), args.out or default_world_path())
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
