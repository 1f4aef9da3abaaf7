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
    from core.text_safety import one_line

    path = Path(args.file).expanduser()
    if not path.is_file():
        raise SourceError(f"file not found: {one_line(path)}")
    table = preview_table(path.name, path)  # reads the first rows (and, for whole-number labels, those columns)
    for line in preview_lines(path.resolve(), table, args.rows):
        print(line)
    return 0


def preview_lines(path: Path, table: TablePreview, rows: int) -> list[str]:
    """What ``preview`` prints, one line each: every column name and cell from the file ``quoted`` (``repr``,
    bidi controls neutral, long ones cut), so a name holding a newline, a comma, an ANSI colour code or an
    RTL override can neither break a line nor hide or reorder what is shown; the command is ``index_command``."""
    from core.text_safety import quoted

    def names(columns: list[str | None], none: str) -> str:
        return ", ".join(quoted(c) for c in columns if c is not None) or none

    def cell(value: str | None) -> str:
        return "None" if value is None else quoted(value)

    lines = [
        f"columns: {names(table.columns, '(none)')}",
        f"text column: {names([table.text_column], '(none found: pass --text-column)')}",
        f"label columns: {names(table.label_columns, '(none)')}",
        f"id column: {names([table.id_column], '(row number)')}",
        f"split column: {names([table.split_column], '(hash of the id)')}",
    ]
    lines += [" | ".join(cell(row[c]) for c in table.columns) for row in table.rows[: max(rows, 0)]]
    if table.whole_number_columns and table.whole_numbers_from_rows is not None:
        lines.append(
            f"note: label column(s) {names(table.whole_number_columns, '')} are shown with whole numbers as integer "
            f"text ('1.0' as '1') as decided from the first {table.whole_numbers_from_rows:,} rows; indexing "
            "checks every row and keeps a column's text as written if a later cell is not a whole number"
        )
    lines.append("index with: " + index_command(path, table))
    return lines


def index_command(path: Path, table: TablePreview) -> str:
    """The ``index`` command for the detected roles, on one line, each word quoted for a POSIX shell
    (``shell_word``), so it can be pasted into bash as it is: column names with spaces, quotes, ``*``, ``<``,
    newlines, tabs, ANSI codes or bidi controls and the file's path arrive in ``sys.argv`` exactly as written."""
    words = ["python", "-m", "core", "index", "--name", "NAME", "--source", f"file:{path}"]
    if table.text_column is not None:
        words += _option("--text-column", table.text_column)
    for column in table.label_columns:
        words += _option("--label-column", column)
    if table.id_column is not None:
        words += _option("--id-column", table.id_column)
    if table.split_column is not None:
        words += _option("--split-column", table.split_column)
    words += ["--embedder", "st:minilm@onnx-int8"]
    return " ".join(shell_word(word) for word in words)


_NAMED_ESCAPES = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def shell_word(word: str) -> str:
    """``word`` quoted for bash (or zsh, ksh), readable and on one line.

    A word of printable characters only is ``shlex.quote``d. A word holding a control character (newline,
    tab, ESC), a bidi control or any other character ``str.isprintable`` refuses is written in ANSI-C quoting,
    ``$'...'``: ``\\n``, ``\\t``, ``\\r``, ``\\\\`` and ``\\'`` by name, every other such character as the
    ``\\xHH`` escapes of its UTF-8 bytes (U+202E as ``\\xe2\\x80\\xae``; a path's undecodable byte as itself).
    Bytes, not ``\\u202e``: bash turns ``\\u`` into the character only in a UTF-8 locale (under ``LC_ALL=C``
    it stays the six characters), while bytes arrive the same in every locale. Printable non-ASCII text
    (``ü``, ``名``) is kept as it is.
    """
    if word.isprintable():
        return shlex.quote(word)
    out = []
    for char in word:
        if char in _NAMED_ESCAPES:
            out.append(_NAMED_ESCAPES[char])
        elif char.isprintable():
            out.append(char)
        else:
            try:
                data = char.encode("utf-8", "surrogateescape")  # a path's undecodable byte: that byte
            except UnicodeEncodeError:
                data = char.encode("utf-8", "surrogatepass")
            out.append("".join(f"\\x{b:02x}" for b in data))
    return "$'" + "".join(out) + "'"


def _option(name: str, value: str) -> list[str]:
    """``--name value``; ``--name=value`` for a value starting with ``-``, which argparse would take for an option."""
    return [f"{name}={value}"] if value.startswith("-") else [name, value]
