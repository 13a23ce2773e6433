"""Write PNGs of the simulated cell: the overhead camera (colour, depth) and an overview."""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

import numpy as np

HELP = "Render the digital twin's overhead camera and an overview of the cell to PNG files."

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Output folder, seed, how long the line runs first, image sizes."""
    parser.add_argument("--out", type=Path, default=Path("runs/snapshot"), help="output folder (created)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulated line")
    parser.add_argument("--time", type=float, default=1.0, help="seconds the line runs before the pictures")
    parser.add_argument("--cell", type=Path, default=None, help="cell description YAML (default: shipped)")
    parser.add_argument("--overview-size", type=int, nargs=2, default=(1280, 800), metavar=("W", "H"),
                        help="overview image size in pixels")
    parser.add_argument("--no-showcase", action="store_true",
                        help="do not place labelled flawed parts under the camera (pure random line)")
    parser.add_argument("--clean", action="store_true", help="overhead image without camera realism (noise, drift)")


def _write_png(path: Path, img: np.ndarray) -> None:
    import cv2

    tmp = path.with_name(path.name + ".tmp.png")
    data = img[..., ::-1] if img.ndim == 3 else img
    if not cv2.imwrite(str(tmp), data):
        msg = f"cannot write {tmp}"
        raise OSError(msg)
    os.replace(tmp, path)


def _showcase(sim) -> None:
    """Put a few parts with clear flaws (and good ones) under the overhead camera."""
    from factory_ai.sim.parts import draw_part_appearance
    from factory_ai.types import DefectType

    cam = sim.cell.camera.T_base_camera[:3, 3]
    for truth in sim.ground_truth():  # make room in the camera's view
        if abs(truth.p_base_m[0] - cam[0]) < 0.26:
            sim.remove_part(truth.part_id)
    rng = np.random.default_rng(sim.seed + 1)
    layout = [
        ("washer", DefectType.CRACK, 0.9, (-0.17, 0.07)),
        ("bracket", DefectType.CHIP, 0.9, (-0.06, -0.06)),
        ("hex_nut", DefectType.HOLE, 0.8, (0.05, 0.08)),
        ("washer", DefectType.SCRATCH, 0.9, (0.16, -0.07)),
        ("hex_nut", DefectType.OK, 0.0, (-0.17, -0.08)),
        ("bracket", DefectType.CRACK, 0.6, (0.15, 0.07)),
        ("washer", DefectType.OK, 0.0, (0.04, -0.09)),
    ]
    for shape, dtype, sev, (dx, dy) in layout:
        app = draw_part_appearance(rng, shape, dtype, sev)
        sim.spawn_part(p_base_m=[cam[0] + dx, cam[1] + dy], yaw_rad=float(rng.uniform(-np.pi, np.pi)), appearance=app)
    # A few rejects already in the bin.
    T_base_bin = sim.T_base_world @ sim.cell.reject_bin.T_world_bin
    for k, shape in enumerate(("washer", "hex_nut", "bracket")):
        app = draw_part_appearance(rng, shape, DefectType.CRACK, 0.8)
        p = T_base_bin[:3, 3] + [0.04 * (k - 1), 0.03 * (k % 2), 0.05 + 0.03 * k]
        sim.spawn_part(p_base_m=p, yaw_rad=float(rng.uniform(-np.pi, np.pi)), appearance=app)


def _arm_over_bin_with_a_reject(sim) -> None:
    """Swing the arm over the reject bin and have the cup hold a cracked part there."""
    from factory_ai.sim.parts import draw_part_appearance
    from factory_ai.sim.scripted import cup_down_ik, min_jerk_trajectory
    from factory_ai.types import DefectType

    ready = np.asarray(sim.cell.arm.ready_q_rad, dtype=float)
    T_base_bin = sim.T_base_world @ sim.cell.reject_bin.T_world_bin
    over_bin = T_base_bin[:3, 3] + [0.0, 0.0, sim.cell.reject_bin.size_m[2] + 0.15]
    try:
        q_bin = cup_down_ik(sim, over_bin, ready + [-2.0, 0, 0, 0, 0, 0])
    except RuntimeError as exc:  # another cell layout: keep the arm at ready
        log.warning("snapshot: arm stays at ready (%s)", exc)
        return
    traj = min_jerk_trajectory(sim.joint_names, sim.joint_state().q_rad, q_bin, 2.0)
    sim.execute(traj)
    sim.step(traj.duration_s + 0.3)
    cup = sim.T_base_frame(sim.cell.arm.tip_frame)[:3, 3]
    app = draw_part_appearance(np.random.default_rng(sim.seed + 2), "bracket", DefectType.CRACK, 0.9)
    sim.spawn_part(p_base_m=cup - [0.0, 0.0, 0.0035], appearance=app, v_base_mps=np.zeros(3))
    sim.set_suction(True)


def run(args: argparse.Namespace) -> int:
    """Simulate the line for a moment and write overhead.png, overhead_depth.png, overview.png."""
    from factory_ai.config import load_cell_description
    from factory_ai.sim import CellSim, SimConfig
    from factory_ai.sim.dataset import label_parts

    cell = load_cell_description(args.cell)
    sim = CellSim(cell, SimConfig(overview_size_px=tuple(args.overview_size)))
    try:
        sim.reset(args.seed)
        sim.step(max(0.0, args.time))
        if not args.no_showcase:
            _arm_over_bin_with_a_reject(sim)
            _showcase(sim)
            sim.step(0.05)  # let the bin's parts land
        out: Path = args.out
        out.mkdir(parents=True, exist_ok=True)
        frame = sim.render_camera(realism=not args.clean)
        overview = sim.render_overview()
        _write_png(out / "overhead.png", frame.rgb)
        depth_mm = np.clip(np.nan_to_num(frame.depth_m) * 1000.0, 0, 65535).astype(np.uint16)
        _write_png(out / "overhead_depth.png", depth_mm)  # 16-bit, millimetres
        _write_png(out / "overview.png", overview.rgb)
        labels = [
            {
                "part_id": p.truth.part_id, "shape": p.truth.shape.value, "defect_type": p.truth.defect_type.value,
                "severity": round(p.truth.severity, 3), "center_px": np.round(p.center_px, 1).tolist(),
                "bbox_px": [round(v, 1) for v in p.bbox_px], "fully_in_view": p.fully_in_view,
                "defect_px": None if p.defect_px is None else np.round(p.defect_px, 1).tolist(),
            }
            for p in label_parts(cell, sim.ground_truth(), frame.K) if p.bbox_px[2] >= 0 and p.bbox_px[0] < cell.camera.width_px
            and p.bbox_px[3] >= 0 and p.bbox_px[1] < cell.camera.height_px
        ]  # fmt: skip
        tmp = out / "overhead_labels.json.tmp"
        tmp.write_text(json.dumps({"stamp_s": frame.stamp_s, "seed": args.seed, "parts": labels}, indent=1) + "\n")
        os.replace(tmp, out / "overhead_labels.json")
        for name in ("overhead.png", "overhead_depth.png", "overview.png", "overhead_labels.json"):
            print(out / name)
    finally:
        sim.close()
    return 0
