"""`factory-ai bench kinematics` prints its figures and writes the JSON keys the issue names."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_bench_kinematics_writes_the_documented_json(tmp_path: Path) -> None:
    out = tmp_path / "kinematics.json"
    args = ["bench", "kinematics", "--n-ik", "300", "--n-single", "50", "--batch", "100", "--json", str(out)]
    run = subprocess.run(
        [sys.executable, "-m", "factory_ai.cli", *args], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert "FK + Jacobian" in run.stdout and "IK" in run.stdout
    figures = json.loads(out.read_text())
    for key in ("fk_jac_us", "batch_fk_ms", "ik_ms"):
        assert figures[key] > 0
    assert figures["ik_success_rate"] >= 0.99
    assert figures["ik_batch_success_rate"] >= 0.99
    assert figures["ik_batch_max_pos_err_mm"] <= 0.1
    assert figures["ik_unreachable_reported"] is True
