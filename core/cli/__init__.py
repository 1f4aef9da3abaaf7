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
    for module_name in ("teach_commands", "report_commands", "preview_commands"):
        try:
            module = __import__(f"core.cli.{module_name}", fromlist=["register"])
        except ModuleNotFoundError:
            continue
        module.register(commands)
    return parser


#: What an interrupted command leaves behind, by command (None: the rest, which write as they go).
INTERRUPTED = {
    "index": "what was embedded is kept; run the same command again to resume",
    "simulate": "the replay's throwaway concept was removed; run the command again to start over",
    None: "what was written is kept",
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; user errors print a one-line message and exit 2, never a traceback."""
    try:
        parser = build_parser()  # imports the command modules: seconds on a busy machine
        args = parser.parse_args(argv)
    except KeyboardInterrupt:
        print("interrupted before the command started: nothing was done", file=sys.stderr)
        return 130
    try:
        code = int(args.run(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except BrokenPipeError:
        # The reader went away (``teach next --json | head``): what was written is kept; stop quietly.
        _silence_stdout()
        return 0
    except FewshotError as exc:
        from core.text_safety import one_line

        # every line made terminal-safe: a message quoting a file's field (a classifier's embedder name) must not
        # recolour or clear the terminal (an attacker's classifier file did); its own line breaks stay
        print("error: " + "\n".join(one_line(line) for line in str(exc).split("\n")), file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        return _interrupted(args, str(exc))
    except Exception as exc:
        from core.os_errors import explain_storage

        if is_interrupt(exc):  # Ctrl-C inside a Lance read comes back as pyarrow's "External error: KeyboardInterrupt"
            return _interrupted(args, "")

        doing = " ".join(filter(None, [args.command, getattr(args, f"{args.command}_command", None)]))
        storage = explain_storage(exc, doing) or _explain_remote(exc, doing)
        if storage is None:
            raise
        print(f"error: {storage}", file=sys.stderr)
        return 2


def is_interrupt(exc: BaseException) -> bool:
    """A Ctrl-C, also one that Lance (Rust) caught inside a read or write and raised again as its own error."""
    return isinstance(exc, KeyboardInterrupt) or (
        type(exc).__module__.startswith(("pyarrow", "lance", "_lib")) and "KeyboardInterrupt" in str(exc))


def _interrupted(args: argparse.Namespace, message: str) -> int:
    kept = message or INTERRUPTED.get(args.command, INTERRUPTED[None])
    if args.command == "index" and getattr(args, "engine", None) == "ray":  # Ray commits whole chunks only
        kept = "finished chunks of 50,000 items are kept (a smaller run keeps nothing); run the same command again"
    print(f"interrupted: {kept}", file=sys.stderr)
    return 130


def _explain_remote(exc: BaseException, doing: str) -> FewshotError | None:
    """One line for a failure of the bucket holding the workspace (``core.os_errors.explain_remote``)."""
    from core.os_errors import explain_remote
    from core.storage import workspace_location

    try:
        where = workspace_location()
    except FewshotError:
        return None
    return explain_remote(exc, where, doing)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so Python's final flush does not report the broken pipe again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
