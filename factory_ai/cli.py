"""`factory-ai` command line: one subcommand per module in `factory_ai.commands`.

Subcommand modules are imported only when run, so `--help` stays fast and does not pull in
torch or MuJoCo. Each module defines `HELP`, `add_arguments(parser)` and `run(args) -> int`.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import sys

# name -> module; a command is offered only once its module exists in this install.
COMMANDS = {
    "demo": "factory_ai.commands.demo",
    "snapshot": "factory_ai.commands.snapshot",
    "train": "factory_ai.commands.train",
    "eval": "factory_ai.commands.eval",
    "bench": "factory_ai.commands.bench",
    "moveit-setup": "factory_ai.commands.moveit_setup",
}


def _available() -> dict[str, str]:
    return {name: mod for name, mod in COMMANDS.items() if importlib.util.find_spec(mod) is not None}


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """Parser with every available subcommand; only the chosen one's module is imported."""
    parser = argparse.ArgumentParser(
        prog="factory-ai",
        description="Adaptive pick-and-reject cell: simulated demo, training, evaluation, benchmarks.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = next((a for a in (argv or []) if not a.startswith("-")), None)
    for name, module_name in _available().items():
        if name == chosen:
            module = importlib.import_module(module_name)
            p = sub.add_parser(name, help=module.HELP, description=module.HELP)
            module.add_arguments(p)
            p.set_defaults(_run=module.run)
        else:
            sub.add_parser(name, help=_first_docline(module_name), add_help=False)
    return parser


def _first_docline(module_name: str) -> str:
    # Reading the docstring from source keeps `--help` free of heavy imports.
    spec = importlib.util.find_spec(module_name)
    if spec is None or spec.origin is None:
        return ""
    import ast

    with open(spec.origin, encoding="utf-8") as fh:
        doc = ast.get_docstring(ast.parse(fh.read())) or ""
    return doc.splitlines()[0] if doc else ""


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `factory-ai` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "_run", None):
        parser.print_help()
        return 0 if not args.command else 2
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
