"""Run a benchmark and print its figures (optionally write them as JSON)."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from pathlib import Path

HELP = "Run a benchmark (kinematics, twin, perception, planning) and print its figures."

# name -> module with `add_arguments(parser)` and `run(args) -> dict`
BENCHES = {
    "kinematics": "factory_ai.bench.kinematics",
    "twin": "factory_ai.bench.twin",
    "perception": "factory_ai.bench.perception",
    "planning": "factory_ai.bench.planning",
}


def _available() -> dict[str, str]:
    return {n: m for n, m in BENCHES.items() if importlib.util.find_spec(m) is not None}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Benchmark name, plus the chosen benchmark's own options."""
    sub = parser.add_subparsers(dest="bench", metavar="BENCH", required=True)
    for name, module_name in _available().items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=module.__doc__.splitlines()[0] if module.__doc__ else "")
        p.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
        module.add_arguments(p)
        p.set_defaults(_bench=module.run)
    all_p = sub.add_parser("all", help="run every benchmark with default options")
    all_p.add_argument("--json-dir", type=Path, default=None, help="write <name>.json files here")


def _write(path: Path, figures: dict) -> None:
    from factory_ai.cell.report import write_json_atomic

    write_json_atomic(path, figures)


def run(args: argparse.Namespace) -> int:
    """Run one benchmark (or all) and write JSON where asked."""
    if args.bench == "all":
        for name, module_name in _available().items():
            module = importlib.import_module(module_name)
            p = argparse.ArgumentParser()
            module.add_arguments(p)
            figures = module.run(p.parse_args([]))
            if args.json_dir is not None:
                _write(args.json_dir / f"{name}.json", figures)
        return 0
    figures = args._bench(args)
    if args.json is not None:
        _write(args.json, figures)
        print(f"wrote {args.json}", file=sys.stderr)
    return 0
