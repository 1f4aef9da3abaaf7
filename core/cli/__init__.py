"""Command line: ``python -m core <command>``. Each command lives in its own module."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from core.errors import FewshotError


def build_parser() -> argparse.ArgumentParser:
    from core.cli import index_commands

    parser = argparse.ArgumentParser(prog="python -m core", description="Few-shot classifier trainer")
    commands = parser.add_subparsers(dest="command", required=True)
    index_commands.register(commands)
    for module_name in ("teach_commands", "preview_commands"):
        try:
            module = __import__(f"core.cli.{module_name}", fromlist=["register"])
        except ModuleNotFoundError:
            continue
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; user errors print a one-line message and exit 2, never a traceback."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except FewshotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: what was written is kept; run the same command again to resume", file=sys.stderr)
        return 130
