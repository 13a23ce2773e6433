"""Run the simulated pick-and-reject cell end to end and write metrics, report and MCAP log."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import logging
import shutil
from pathlib import Path

import numpy as np

HELP = "Run the simulated cell (twin + full pipeline) and write metrics.json, report.html, run.mcap."

SCENARIOS = ("default", "drift")
log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Demo options."""
    parser.add_argument("--parts", type=int, default=200, help="parts to see leave the cell (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the twin (default 0)")
    parser.add_argument("--defect-rate", type=float, default=None,
                        help="share of defective parts (default 0.10; 0.30 in the drift scenario, so its "
                        "first and last 20 picks are different picks)")
    parser.add_argument("--belt-speed", type=float, default=None, help="m/s (default: config/cell.yaml)")
    parser.add_argument("--scenario", choices=SCENARIOS, default="default",
                        help="drift: the twin's camera 5 mm off the calibrated pose and 40 ms unmodelled "
                        "frame latency; the learner must find and correct both")
    parser.add_argument("--out", type=Path, default=Path("runs/demo"), help="output directory")
    parser.add_argument("--weights", type=Path, default=None, help="classifier weights (default: shipped)")
    parser.add_argument("--inspection", choices=("auto", "model", "truth"), default="auto",
                        help="model: the defect classifier with its shipped (or --weights) model and the "
                        "feedback learner; truth: the twin's ground truth, a diagnostic upper bound that "
                        "isolates vision, planning and execution (process learning only); auto (default): model when "
                        "the classifier and its weights are installed, else truth (and says so)")
    parser.add_argument("--no-mcap", action="store_true", help="skip the MCAP log")
    parser.add_argument("--no-progress", action="store_true", help="no live progress bar")


def _perturbed_camera(cell, dx_m: float, dy_m: float):
    """The cell as the twin really is: camera displaced by (dx, dy) in the base frame."""
    T = cell.camera.T_base_camera.copy()
    T[:2, 3] += (dx_m, dy_m)
    return dataclasses.replace(cell, camera=dataclasses.replace(cell.camera, T_base_camera=T))


def _classifier_available(weights: Path | None) -> bool:
    """True when the classifier package and a model file (given or shipped) are installed."""
    import importlib.util

    if importlib.util.find_spec("factory_ai.inspection.classifier") is None and not hasattr(
        importlib.import_module("factory_ai.inspection"), "DefectClassifier"
    ):
        return False
    if weights is not None:
        return weights.is_file()
    shipped = Path(importlib.util.find_spec("factory_ai.inspection").origin).parent / "weights" / "model.pt"
    return shipped.is_file()


def build_run(args: argparse.Namespace):
    """Construct twin, pipeline and driver for the chosen scenario."""
    from factory_ai.cell.pipeline import CellPipeline, PipelineConfig
    from factory_ai.cell.simulated import RunConfig, SimulatedRun
    from factory_ai.config import load_cell_description
    from factory_ai.planning import RejectPlanner
    from factory_ai.robot import RobotModel, load_joint_limits
    from factory_ai.sim import CellSim, SimConfig
    from factory_ai.vision import PartTracker

    if args.defect_rate is None:
        args.defect_rate = 0.30 if args.scenario == "drift" else 0.10
    cell = load_cell_description()
    true_cell = cell
    frame_delay_s = 0.0
    if args.scenario == "drift":
        true_cell = _perturbed_camera(cell, 0.005, 0.0)
        frame_delay_s = 0.040
    # The belt starts empty: every scored part passes under the camera before the pick zone.
    sim_cfg = SimConfig(defect_rate=args.defect_rate, belt_speed_mps=args.belt_speed, label_delay_s=3.0,
                        prefill_belt=False)
    sim = CellSim(true_cell, sim_cfg)
    sim.reset(args.seed)

    robot = RobotModel.from_urdf(cell.arm.urdf_path, tip_frame=cell.arm.tip_frame)
    limits = load_joint_limits(robot)
    planner = RejectPlanner(robot, cell, limits)
    args.out.mkdir(parents=True, exist_ok=True)
    config = PipelineConfig()
    if args.inspection == "auto":
        args.inspection = "model" if _classifier_available(args.weights) else "truth"
        if args.inspection == "truth":
            log.warning("no defect classifier model is installed yet: inspecting with the twin's ground truth "
                        "(a diagnostic upper bound; only process corrections are learnt). Pass --weights FILE to use a model.")
    if args.inspection == "truth":
        from factory_ai.cell.simulated import GroundTruthInspector

        from factory_ai.learning.process import ProcessLearner

        learner = ProcessLearner()  # no classifier to tune: process corrections only
        pipeline = CellPipeline(PartTracker(cell), GroundTruthInspector(), planner, learner, config)
    else:
        from factory_ai.inspection import DefectClassifier
        from factory_ai.learning import FeedbackLearner

        classifier = DefectClassifier.load(args.weights)
        db = args.out / "learner.sqlite"
        for stale in args.out.glob("learner*"):  # a demo starts from the shipped model
            if stale.is_file():
                stale.unlink()
            elif stale.is_dir():
                shutil.rmtree(stale)
        learner = FeedbackLearner(db, initial_model=classifier)
        pipeline = CellPipeline(PartTracker(cell), learner.live_model, planner, learner, config)

    def tip_base_m(q_rad: np.ndarray) -> np.ndarray:
        return robot.fk(q_rad, cell.arm.tip_frame)[:3, 3]

    run_cfg = RunConfig(n_parts=args.parts, frame_delay_s=frame_delay_s)
    return cell, sim, pipeline, learner, SimulatedRun(sim, pipeline, tip_base_m, run_cfg)


def run(args: argparse.Namespace) -> int:
    """Run the demo and write its outputs."""
    from factory_ai.cell.report import write_json_atomic, write_report

    cell, sim, pipeline, learner, driver = build_run(args)
    mcap_log = None
    if not args.no_mcap:
        from factory_ai.commands.run_log import McapRunLog

        mcap_log = McapRunLog(args.out / "run.mcap", cell)
        driver.logger = mcap_log

    progress_cb, finish = _progress(args)
    try:
        metrics = driver.run(progress_cb)
    finally:
        finish()
        if mcap_log is not None:
            mcap_log.close()
    metrics["scenario"] = args.scenario
    metrics["seed"] = args.seed
    metrics["inspection"] = args.inspection
    if learner is not None:
        metrics["learner"] = learner.summary()
    write_json_atomic(args.out / "metrics.json", metrics)
    write_report(args.out, driver.recorder, {k: v for k, v in metrics.items() if not isinstance(v, (dict, list))},
                 title=f"factory_ai demo ({args.scenario}, seed {args.seed})")
    for k in ("parts", "defective", "rejected", "escaped", "alarms", "false_rejects", "pick_success_rate",
              "rejects_per_min", "sim_speed_x_realtime", "pick_error_mm_first_20", "pick_error_mm_last_20"):
        print(f"{k:>24}: {metrics.get(k)}")
    print(f"wrote {args.out / 'metrics.json'}, {args.out / 'report.html'}" + ("" if args.no_mcap else f", {args.out / 'run.mcap'}"))
    sim.close()
    if hasattr(learner, "close"):
        learner.close()
    return 0


def _progress(args: argparse.Namespace):
    if args.no_progress:
        return None, lambda: None
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("[bold]cell"), BarColumn(), TextColumn("{task.completed}/{task.total} parts"),
                   TextColumn("{task.fields[counts]}"), TimeElapsedColumn())
    task = bar.add_task("run", total=args.parts, counts="")
    bar.start()
    last = [0.0]

    def cb(rec, now_s: float) -> None:
        if now_s - last[0] < 1.0:
            return
        last[0] = now_s
        m = rec.metrics()
        left = sum(r.left_cell_s is not None for r in rec.parts.values())
        bar.update(task, completed=min(left, args.parts),
                   counts=f"t={now_s:.0f}s defective={m['defective']} rejected={m['rejected']} "
                   f"escaped={m['escaped']} alarms={m['alarms']} false={m['false_rejects']}")

    return cb, bar.stop
