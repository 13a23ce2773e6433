"""Run records, metrics and the self-contained HTML report of a cell run."""

from __future__ import annotations

import base64
import html
import io
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class PartRecord:
    """What happened to one part, from the ground truth and the cell's own decisions."""

    part_id: int
    defective: bool
    defect_type: str
    track_id: int | None = None
    p_defect: float | None = None
    rejected_decision: bool = False
    in_bin: bool = False
    alarm: str | None = None
    left_cell_s: float | None = None  # escaped past the belt end or fell off


@dataclass
class RunRecorder:
    """Time series and events collected during a run (cell clock seconds)."""

    parts: dict[int, PartRecord] = field(default_factory=dict)
    pick_errors_mm: list[tuple[float, float]] = field(default_factory=list)  # (t_s, error)
    pick_attempts: list[tuple[float, bool]] = field(default_factory=list)  # (t_s, success)
    reject_cycles_s: list[float] = field(default_factory=list)
    thresholds: list[tuple[float, float]] = field(default_factory=list)  # (t_s, p threshold)
    perception_ms: list[float] = field(default_factory=list)
    replan_ms: list[float] = field(default_factory=list)
    in_bin_times_s: list[float] = field(default_factory=list)
    alarms: list[tuple[float, int, str]] = field(default_factory=list)
    examples: list[tuple[np.ndarray, np.ndarray | None, str]] = field(default_factory=list)
    snapshots: list[tuple[str, np.ndarray]] = field(default_factory=list)
    corrections: list[tuple[float, dict]] = field(default_factory=list)
    sim_time_s: float = 0.0
    wall_time_s: float = 0.0

    def metrics(self) -> dict:
        """The run's headline figures (see README: metrics.json)."""
        # Scored over parts whose fate is known (binned, escaped or fell); parts still on the belt
        # when the run stops are left out.
        recs = [r for r in self.parts.values() if r.left_cell_s is not None]
        defective = [r for r in recs if r.defective]
        good = [r for r in recs if not r.defective]
        rejected = sum(r.in_bin for r in defective)
        escaped = sum((not r.in_bin) and r.alarm is None for r in defective)
        false_rejects = sum(r.in_bin for r in good)
        attempts = len(self.pick_attempts)
        successes = sum(ok for _, ok in self.pick_attempts)
        errs = [e for _, e in self.pick_errors_mm]
        cycles = self.reject_cycles_s
        return {
            "parts": len(recs),
            "defective": len(defective),
            "rejected": int(rejected),
            "escaped": int(escaped),
            "alarms": len(self.alarms),
            "false_rejects": int(false_rejects),
            "false_reject_rate": false_rejects / max(len(good), 1),
            "pick_attempts": attempts,
            "pick_success_rate": successes / attempts if attempts else 1.0,
            "rejects_per_min": 60.0 / float(np.mean(cycles)) if cycles else 0.0,
            "mean_reject_cycle_s": float(np.mean(cycles)) if cycles else None,
            "sim_time_s": self.sim_time_s,
            "wall_time_s": self.wall_time_s,
            "sim_speed_x_realtime": self.sim_time_s / self.wall_time_s if self.wall_time_s > 0 else 0.0,
            "pick_error_mm_first_20": float(np.mean(errs[:20])) if errs else None,
            "pick_error_mm_last_20": float(np.mean(errs[-20:])) if errs else None,
            "pick_errors_mm": [round(e, 3) for e in errs],
            "perception_latency_ms_p95": float(np.percentile(self.perception_ms, 95)) if self.perception_ms else None,
            "replan_latency_ms_p95": float(np.percentile(self.replan_ms, 95)) if self.replan_ms else None,
        }


def write_json_atomic(path: Path, data: dict) -> None:
    """Write JSON so a crash never leaves a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _png_b64(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _img_b64(rgb: np.ndarray) -> str:
    import cv2

    ok, buf = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))
    return base64.b64encode(buf.tobytes()).decode("ascii") if ok else ""


def _figures(rec: RunRecorder) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = []
    fig, ax = plt.subplots(figsize=(6, 3))
    t = np.sort(np.array(rec.in_bin_times_s))
    ax.step(t / 60.0, np.arange(1, t.size + 1), where="post")
    ax.set(xlabel="sim time (min)", ylabel="parts in reject bin", title="Throughput")
    out.append(("Throughput over time", _png_b64(fig)))
    plt.close(fig)

    recs = list(rec.parts.values())
    tp = sum(r.defective and r.in_bin for r in recs)
    fn = sum(r.defective and not r.in_bin for r in recs)
    fp = sum((not r.defective) and r.in_bin for r in recs)
    tn = sum((not r.defective) and not r.in_bin for r in recs)
    fig, ax = plt.subplots(figsize=(3.6, 3))
    m = np.array([[tn, fp], [fn, tp]])
    ax.imshow(m, cmap="Blues")
    for (i, j), v in np.ndenumerate(m):
        ax.text(j, i, str(v), ha="center", va="center", fontsize=14)
    ax.set_xticks([0, 1], ["passed", "in bin"])
    ax.set_yticks([0, 1], ["good", "defective"])
    ax.set_title("Confusion counts (truth vs fate)")
    out.append(("Confusion counts", _png_b64(fig)))
    plt.close(fig)

    fig, ax1 = plt.subplots(figsize=(6, 3))
    if rec.pick_errors_mm:
        te, e = np.array(rec.pick_errors_mm).T
        ax1.plot(np.arange(1, e.size + 1), e, "o-", ms=3, label="pick error (mm)")
    ax1.set(xlabel="pick #", ylabel="cup-to-part error (mm)", title="Learning curves")
    if rec.thresholds:
        ax2 = ax1.twinx()
        tt, th = np.array(rec.thresholds).T
        n = max(len(rec.pick_errors_mm), 1)
        ax2.plot(np.linspace(1, n, th.size), th, "r-", label="decision threshold")
        ax2.set_ylabel("threshold (p_defect)", color="r")
    out.append(("Pick error and threshold over time", _png_b64(fig)))
    plt.close(fig)

    fig, axs = plt.subplots(1, 2, figsize=(8, 3))
    for ax, data, name in ((axs[0], rec.perception_ms, "perception"), (axs[1], rec.replan_ms, "replanning")):
        if data:
            ax.hist(data, bins=30)
        ax.set(xlabel="ms", ylabel="count", title=f"{name} latency")
    out.append(("Latency histograms", _png_b64(fig)))
    plt.close(fig)
    return out


def write_report(out_dir: Path, rec: RunRecorder, metrics: dict, title: str = "factory_ai cell run") -> Path:
    """Write `report.html`: self-contained (images inlined), opens offline."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:1000px;margin:auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px}"
        "figure{display:inline-block;margin:6px}img{image-rendering:pixelated}</style></head><body>",
        f"<h1>{html.escape(title)}</h1><h2>Metrics</h2><table>",
    ]
    for k, v in metrics.items():
        val = f"{v:.4g}" if isinstance(v, float) else html.escape(str(v))
        parts.append(f"<tr><th>{html.escape(k)}</th><td>{val}</td></tr>")
    parts.append("</table>")
    for name, b64 in _figures(rec):
        parts.append(f"<h2>{html.escape(name)}</h2><img src='data:image/png;base64,{b64}'>")
    if rec.examples:
        parts.append("<h2>Example rejected parts (crop, heatmap)</h2>")
        for crop, heat, caption in rec.examples[:12]:
            parts.append(f"<figure><img width=128 src='data:image/png;base64,{_img_b64(crop)}'>")
            if heat is not None:
                hm = (np.clip(heat, 0, 1) * 255).astype(np.uint8)
                import cv2

                color = cv2.cvtColor(cv2.applyColorMap(hm, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)
                parts.append(f"<img width=128 src='data:image/png;base64,{_img_b64(color)}'>")
            parts.append(f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    if rec.snapshots:
        parts.append("<h2>Camera snapshots</h2>")
        for caption, rgb in rec.snapshots[:6]:
            parts.append(
                f"<figure><img width=480 src='data:image/png;base64,{_img_b64(rgb)}'>"
                f"<figcaption>{html.escape(caption)}</figcaption></figure>"
            )
    if rec.alarms:
        parts.append("<h2>Alarms</h2><table><tr><th>t (s)</th><th>part</th><th>kind</th></tr>")
        for t, pid, kind in rec.alarms[:200]:
            parts.append(f"<tr><td>{t:.2f}</td><td>{pid}</td><td>{html.escape(kind)}</td></tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "report.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text("\n".join(parts), encoding="utf-8")
    tmp.replace(path)
    return path
