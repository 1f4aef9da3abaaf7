"""``python -m core preview FILE``: a table's first rows and the columns the app would pick (text, labels, id,
split), so the ``index`` command's column options can be chosen from the command line as on the Index page."""

from __future__ import annotations

import argparse
from pathlib import Path

from core.errors import SourceError


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
    options = [f"--text-column {table.text_column}"] if table.text_column else []
    options += [f"--label-column {c}" for c in table.label_columns]
    options += [f"--id-column {table.id_column}"] if table.id_column else []
    options += [f"--split-column {table.split_column}"] if table.split_column else []
    print("index with: python -m core index --name NAME --source file:" + str(path.resolve()) + " "
          + " ".join(options) + " --embedder st:minilm@onnx-int8")
    return 0
