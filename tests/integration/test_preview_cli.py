"""``python -m core preview``: the ``index`` command it suggests can be pasted into a shell as it is, and the
labels it shows are the ones indexing stores."""

from __future__ import annotations

import csv
import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from core.cli import build_parser, main

ODD_NAMES = ["label with space", "ünï 名", "**x**", "<b>bold</b>", "col\"q'", "-dash", "$HOME;rm"]


def _table(folder: Path) -> Path:
    folder.mkdir(parents=True)
    path = folder / "my table's *copy*.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", *ODD_NAMES])
        for i in range(12):
            writer.writerow([f"a long enough sentence number {i} about things", *[f"v{i % 2}"] * len(ODD_NAMES)])
    return path


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


def test_a_real_shell_gives_back_the_exact_names(tmp_path, capsys):
    bash = "/bin/bash"
    if not Path(bash).exists():
        pytest.skip("no bash")
    path = _table(tmp_path / "d")
    assert main(["preview", str(path)]) == 0
    command = _suggested(capsys.readouterr().out)
    assert command.startswith("python ")
    printer = f"{shlex.quote(sys.executable)} -c 'import json, sys; print(json.dumps(sys.argv[1:]))'"
    done = subprocess.run([bash, "-c", printer + command.removeprefix("python")], cwd=tmp_path,
                          capture_output=True, text=True, check=True, timeout=60)
    words = json.loads(done.stdout)
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
