"""``python -m core preview``: the ``index`` command it suggests can be pasted into a shell as it is, and the
labels it shows are the ones indexing stores."""

from __future__ import annotations

import csv
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from core.cli import build_parser, main
from core.text_safety import BIDI_CONTROLS

ODD_NAMES = ["label with space", "ünï 名", "**x**", "<b>bold</b>", "col\"q'", "-dash", "$HOME;rm"]


def _write(path: Path, names: list[str], text: str, cell: str) -> Path:
    """A 12-row CSV at ``path``: a text column, then ``names`` (each row's cells: ``text`` and ``cell``
    formatted with the row number ``i``)."""
    path.parent.mkdir(parents=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", *names])
        for i in range(12):
            writer.writerow([text.format(i=i), *[cell.format(i=i % 2)] * len(names)])
    return path


def _table(folder: Path) -> Path:
    return _write(folder / "my table's *copy*.csv", ODD_NAMES, "a long enough sentence number {i} about things",
                  "v{i}")


needs_bash = pytest.mark.skipif(not Path("/bin/bash").exists(), reason="no bash")


def _argv_in_bash(command: str, cwd: Path, env: dict[str, str] | None = None) -> list[str]:
    """The words bash hands the suggested ``python ...`` command, with a printer of ``sys.argv`` as python."""
    printer = f"{shlex.quote(sys.executable)} -c 'import json, sys; print(json.dumps(sys.argv[1:]))'"
    done = subprocess.run(["/bin/bash", "-c", printer + command.removeprefix("python")], cwd=cwd, env=env,
                          capture_output=True, text=True, encoding="utf-8", check=True, timeout=60)
    return json.loads(done.stdout)


def _suggested(out: str) -> str:
    line = next(line for line in out.splitlines() if line.startswith("index with: "))
    return line.removeprefix("index with: ")


def test_the_suggested_index_command_is_shell_quoted(tmp_path, capsys):
    path = _table(tmp_path / "odd dir $x")
    assert main(["preview", str(path), "--rows", "1"]) == 0
    command = _suggested(capsys.readouterr().out)
    words = shlex.split(command)
    assert words[:4] == ["python", "-m", "core", "index"]
    args = build_parser().parse_args(words[3:])  # what the index command will be given
    assert args.source == f"file:{path.resolve()}"
    assert args.label_columns == ODD_NAMES
    assert args.text_column == "text"
    assert args.embedder == "st:minilm@onnx-int8" and args.name == "NAME"


@needs_bash
def test_a_real_shell_gives_back_the_exact_names(tmp_path, capsys):
    path = _table(tmp_path / "d")
    assert main(["preview", str(path)]) == 0
    command = _suggested(capsys.readouterr().out)
    assert command.startswith("python ")
    words = _argv_in_bash(command, tmp_path)
    assert words[words.index("--source") + 1] == f"file:{path.resolve()}"
    labels = [words[i + 1] for i, w in enumerate(words) if w == "--label-column"]
    labels += [w.removeprefix("--label-column=") for w in words if w.startswith("--label-column=")]
    assert sorted(labels) == sorted(ODD_NAMES)
    assert not (tmp_path / "b").exists() and not (tmp_path / "bold").exists()  # no redirection happened


def test_preview_prints_labels_as_stored(tmp_path, capsys):
    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps({"text": f"sentence number {i} of some length", "label": v}) + "\n"
                            for i, v in enumerate([1, 0, None, 1, 0, None])))
    assert main(["preview", str(path), "--rows", "3"]) == 0
    out = capsys.readouterr().out
    assert "| '1'" in out and "| '0'" in out and "| None" in out
    assert "'1.0'" not in out and "'0.0'" not in out


#: Names a header can hold that a terminal line must not show raw: a newline, a tab, an RTL override, an
#: ANSI colour code, quotes, a backslash (and one that looks like an escape), a non-breaking space.
CONTROL_NAMES = ["a\nb col", "t\tab", "c\u202ed", "e\x1b[31mf", "q'uo\"te", "back\\slash", "lit\\nx", "nb\u00a0sp",
                 "ünï 名\u202e"]
_RAW = re.compile(f"[\\x00-\\x1f\\x7f-\\x9f{BIDI_CONTROLS}]")


def _control_table(folder: Path) -> Path:
    return _write(folder / "t\u202egpj.csv", CONTROL_NAMES, "a long enough sentence\nnumber {i} about \u202ethings",
                  "v\t{i}\x1b")


def test_names_and_cells_are_printed_on_one_line_each_without_raw_controls(tmp_path, capsys):
    path = _control_table(tmp_path / "d")
    assert main(["preview", str(path), "--rows", "3"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert len(lines) == 5 + 3 + 1  # roles, three rows, the command: no name or cell broke a line
    assert not _RAW.search(out.replace("\n", ""))
    assert all(line.isprintable() for line in lines)
    columns = next(line for line in lines if line.startswith("columns: "))
    assert columns == "columns: " + ", ".join(repr(c) for c in ["text", *CONTROL_NAMES])


@needs_bash
@pytest.mark.parametrize("locale", ["C.UTF-8", "C"])
def test_a_real_shell_gives_back_names_with_controls_and_bidi_characters(tmp_path, capsys, locale):
    path = _control_table(tmp_path / "dir\nwith\tcontrols \u202e")
    assert main(["preview", str(path)]) == 0
    command = _suggested(capsys.readouterr().out)
    assert command.isprintable() and not _RAW.search(command)
    words = _argv_in_bash(command, tmp_path, {"PATH": "/usr/bin:/bin", "LC_ALL": locale, "PYTHONUTF8": "1"})
    assert words[words.index("--source") + 1] == f"file:{path.resolve()}"
    assert [words[i + 1] for i, w in enumerate(words) if w == "--label-column"] == CONTROL_NAMES
    assert words[words.index("--text-column") + 1] == "text"


@needs_bash
def test_shell_words_round_trip_through_bash():
    from core.cli.preview_commands import shell_word

    words = [*CONTROL_NAMES, *ODD_NAMES, "", "'", "\\", "\\'", "x\x1bab", "\x7f", "\u2066iso\u2069", "a\rb",
             "\u200f", "😀 ok", "$'x'", "\\x41"]
    script = "printf '%s\\0' " + " ".join(shell_word(w) for w in words)
    done = subprocess.run(["/bin/bash", "-c", script], capture_output=True, check=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"})
    assert done.stdout.decode("utf-8").split("\0")[:-1] == words
    assert all(shell_word(w).isprintable() for w in words)
    assert shell_word("plain") == "plain" and shell_word("a b") == "'a b'"  # printable words: shlex.quote


def test_an_empty_header_name_is_shown_as_indexing_names_it_and_the_command_works(tmp_path, capsys):
    from core.sources import parse_source

    path = tmp_path / "t.csv"
    path.write_text("text,lab,\n" + "".join(f"sentence number {i} long enough text,{i % 2},{i % 3}\n"
                                            for i in range(10)))
    assert main(["preview", str(path), "--rows", "1"]) == 0
    out = capsys.readouterr().out
    assert "columns: 'text', 'lab', ''\n" in out and "Unnamed" not in out
    args = build_parser().parse_args(shlex.split(_suggested(out))[3:])
    options = {k: v for k, v in {"text_column": args.text_column, "label_columns": args.label_columns,
                                 "id_column": args.id_column, "split_column": args.split_column}.items()
               if v is not None}
    source = parse_source(args.source, **options)  # what ``index`` does with the suggested options
    assert source.columns == ["text", "lab", ""] and source.label_columns == ["lab"]


def test_an_empty_name_in_a_role_is_written_so_the_shell_gives_it_back(tmp_path):
    from core.cli.preview_commands import index_command
    from core.table_preview import TablePreview

    table = TablePreview(columns=["", "t"], rows=[], text_column="t", id_column="", split_column="")
    words = shlex.split(index_command(tmp_path / "t.csv", table))
    args = build_parser().parse_args(words[3:])
    assert args.id_column == "" and args.split_column == "" and args.text_column == "t"


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("dup.csv", "text,lab,lab\n" + "".join(f"sentence {i} of some length,{i % 2},{i % 3}\n" for i in range(8))),
        ("pad.csv", "text,lab, lab \n" + "".join(f"sentence {i} of some length,{i % 2},{i % 3}\n" for i in range(8))),
        ("dup.tsv", "text\tlab\tlab\n" + "".join(f"sentence {i} of some length\t{i % 2}\t{i % 3}\n" for i in range(8))),
        ("empty.csv", "text,,\n" + "".join(f"sentence {i} of some length,{i % 2},{i % 3}\n" for i in range(8))),
    ],
)
def test_preview_refuses_the_duplicate_names_indexing_refuses(tmp_path, capsys, name, content):
    from core.errors import SourceError
    from core.source_table import TextTable

    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(SourceError) as indexing:
        TextTable(path)
    assert main(["preview", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"error: {indexing.value}\n"  # the same one-line refusal
    assert "duplicate column names" in captured.err


def test_preview_refuses_duplicate_parquet_columns_and_json_fields(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from core.errors import SourceError
    from core.source_table import TextTable
    from core.table_preview import preview_table

    path = tmp_path / "t.parquet"
    pq.write_table(pa.Table.from_arrays([pa.array(["a b c d e f g h"] * 3), pa.array([1, 2, 3]),
                                         pa.array([4, 5, 6])], names=["text", "x", "x"]), path)
    for source in (path, tmp_path / "t.jsonl"):
        if source.suffix == ".jsonl":
            source.write_text('{"text": "some text here", "x": 1, "x": 2}\n')
        with pytest.raises(SourceError, match="duplicate"):
            TextTable(source)
        with pytest.raises(SourceError, match="duplicate"):
            preview_table(source.name, source)


def test_preview_notes_whole_numbers_decided_from_the_first_rows_only(tmp_path, capsys, monkeypatch):
    from core import table_preview

    path = tmp_path / "t.csv"
    path.write_text("text,label\n" + "".join(f"sentence number {i} long enough,{i % 2}.0\n" for i in range(500)))
    assert main(["preview", str(path), "--rows", "2"]) == 0
    out = capsys.readouterr().out
    assert "| '0'" in out and "note:" not in out  # the whole file was checked: nothing to say
    monkeypatch.setattr(table_preview, "WHOLE_CHECK_ROWS", 300)  # past the preview's 200 rows, short of 500
    assert main(["preview", str(path), "--rows", "2"]) == 0
    out = capsys.readouterr().out
    assert "| '0'" in out
    note = next(line for line in out.splitlines() if line.startswith("note: "))
    assert "'label'" in note and "first 300 rows" in note and "indexing checks every row" in note
    monkeypatch.setattr(table_preview, "WHOLE_CHECK_ROWS", 500)  # exactly the file: decided over all of it
    assert main(["preview", str(path), "--rows", "2"]) == 0
    assert "note:" not in capsys.readouterr().out


def test_index_uses_the_split_column_preview_finds_like_the_app_unless_told_otherwise(tmp_path, capsys):
    """A demanding user: the app's Index form picks a table's split column by itself, the CLI split the same file at
    random, so one file gave two indexes measured on different items."""
    from core.store import Store

    path = tmp_path / "t.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "subset"])
        for i in range(30):
            writer.writerow([f"i{i}", f"a sentence long enough, number {i}", "test" if i % 3 == 0 else "train"])
    held_out = {f"i{i}" for i in range(0, 30, 3)}

    def validation(name: str) -> set[str]:
        view = Store().vectors(name)
        return {str(i) for i, s in zip(view.ids, view.split, strict=True) if s == "validation"}

    base = ["index", "--source", f"file:{path}", "--embedder", "st:minilm", "--text-column", "text"]
    assert main([*base, "--name", "found"]) == 0
    out = capsys.readouterr().out
    assert "split by the column 'subset'" in out and "--random-split splits at random instead" in out
    assert validation("found") == held_out
    assert main([*base, "--name", "hashed", "--random-split"]) == 0
    assert "split at random by id" in capsys.readouterr().out and validation("hashed") != held_out
    assert main([*base, "--name", "both", "--random-split", "--split-column", "subset"]) == 2
    assert "contradict" in capsys.readouterr().err
    other = tmp_path / "ab.csv"  # a column named split that holds no split names: the hash split, as before
    other.write_text("id,text,split\n" + "".join(f"j{i},a sentence long enough number {i},{'AB'[i % 2]}\n"
                                                  for i in range(30)))
    assert main(["index", "--source", f"file:{other}", "--embedder", "st:minilm", "--name", "ab"]) == 0
    assert "split at random by id" in capsys.readouterr().out and validation("ab")
