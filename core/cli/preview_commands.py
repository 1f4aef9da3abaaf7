"""``python -m core preview FILE``: a table's first rows and the columns the app would pick (text, labels, id,
split), so the ``index`` command's column options can be chosen from the command line as on the Index page."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import SourceError

if TYPE_CHECKING:
    from core.table_preview import TablePreview


def register(commands: argparse._SubParsersAction) -> None:
    preview = commands.add_parser("preview", help="show a table's first rows and the detected column roles")
    preview.add_argument("file", help="CSV, TSV, Parquet or JSONL (optionally .gz/.bz2/.xz)")
    preview.add_argument("--rows", type=int, default=5)
    preview.set_defaults(run=run_preview)


def run_preview(args: argparse.Namespace) -> int:
    from core.table_preview import preview_table

    path = Path(args.file).expanduser()
    if not path.is_file():
        raise SourceError(f"file not found: {path}")
    table = preview_table(path.name, path)  # reads the first rows only
    print(f"columns: {', '.join(table.columns)}")
    print(f"text column: {table.text_column or '(none found: pass --text-column)'}")
    print(f"label columns: {', '.join(table.label_columns) or '(none)'}")
    print(f"id column: {table.id_column or '(row number)'}")
    print(f"split column: {table.split_column or '(hash of the id)'}")
    for row in table.rows[: max(args.rows, 0)]:
        print(" | ".join(repr(row[c])[:60] for c in table.columns))
    print("index with: " + index_command(path.resolve(), table))
    return 0


def index_command(path: Path, table: TablePreview) -> str:
    """The ``index`` command for the detected roles, each value shell-quoted (``shlex.quote``), so it can be
    pasted into a POSIX shell as it is: column names with spaces, quotes, ``*`` or ``<`` and the file's
    path arrive in ``sys.argv`` exactly as written."""
    words = ["python", "-m", "core", "index", "--name", "NAME", "--source", f"file:{path}"]
    if table.text_column:
        words += _option("--text-column", table.text_column)
    for column in table.label_columns:
        words += _option("--label-column", column)
    if table.id_column:
        words += _option("--id-column", table.id_column)
    if table.split_column:
        words += _option("--split-column", table.split_column)
    words += ["--embedder", "st:minilm@onnx-int8"]
    return " ".join(shlex.quote(word) for word in words)


def _option(name: str, value: str) -> list[str]:
    """``--name value``; ``--name=value`` for a value starting with ``-``, which argparse would take for an option."""
    return [f"{name}={value}"] if value.startswith("-") else [name, value]
