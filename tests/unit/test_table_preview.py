"""Table previews for the Index page: first rows of every format, and the guessed column roles."""

from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from app.index_defaults import concept_name_for, index_name_for, slug, unique
from core.errors import SourceError
from core.sources import parse_source
from core.table_preview import preview_table

PYPI_LIKE = (
    "id,text,split,pytest,flask,docs_plugin\n"
    + "".join(f"pkg-{i},Summary of package number {i} that does things,{'validation' if i % 5 == 0 else 'train'},"
              f"{int(i % 7 == 0)},{int(i % 11 == 0)},0\n" for i in range(60))
)


def test_a_gzipped_csv_like_the_shared_table_gets_every_role_guessed():
    preview = preview_table("pypi.csv.gz", gzip.compress(PYPI_LIKE.encode()))
    assert preview.columns == ["id", "text", "split", "pytest", "flask", "docs_plugin"]
    assert len(preview.rows) == 60 and preview.rows[0]["id"] == "pkg-0"
    assert preview.text_column == "text"
    assert preview.id_column == "id"
    assert preview.split_column == "split"
    assert preview.label_columns == ["pytest", "flask", "docs_plugin"]


def test_roles_are_guessed_from_values_when_names_say_nothing(tmp_path):
    lines = ["name\tsummary\tcategory\tfold"]
    lines += [f"n{i}\tA reasonably long summary for row {i}\t{['cat', 'dog'][i % 2]}\t{['train', 'test'][i % 3 == 0]}"
              for i in range(30)]
    data = ("\ufeff" + "\n".join(lines)).encode()  # a BOM, as Excel writes
    preview = preview_table("animals.tsv", data)
    assert preview.columns == ["name", "summary", "category", "fold"]
    assert preview.text_column == "summary"
    assert preview.id_column == "name"
    assert preview.split_column == "fold"
    assert preview.label_columns == ["category"]


def test_jsonl_parquet_and_utf16_tables_preview(tmp_path):
    jsonl = "\n".join(json.dumps({"text": f"review {i} of a film", "label": "pos" if i % 2 else "neg"})
                      for i in range(10))
    preview = preview_table("r.jsonl", jsonl.encode())
    assert preview.text_column == "text" and preview.label_columns == ["label"]
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"content": ["some words here"] * 4, "id": ["a", "b", "c", "d"]}), path)
    preview = preview_table(path.name, path)
    assert preview.text_column == "content" and preview.id_column == "id" and len(preview.rows) == 4
    preview = preview_table("u.csv", "text,label\nbonjour à tous,fr\nhello all,en\n".encode("utf-16"))
    assert preview.rows[0] == {"text": "bonjour à tous", "label": "fr"}


def test_a_utf32_table_is_refused_as_indexing_refuses_it(tmp_path):
    """A UTF-32 file starts with UTF-16's byte-order mark plus two zero bytes: the preview once took it for
    UTF-16 and showed garbled column names; it now says what indexing says."""
    data = "text,label\nbonjour,fr\n".encode("utf-32")
    with pytest.raises(SourceError) as previewed:
        preview_table("u.csv", data)
    path = tmp_path / "u.csv"
    path.write_bytes(data)
    with pytest.raises(SourceError) as indexed:
        parse_source(f"file:{path}")
    assert "NUL byte" in str(previewed.value) and str(previewed.value) == str(indexed.value)


def test_only_the_first_rows_are_read():
    big = "text\n" + "".join(f"row {i}\n" for i in range(100_000))
    assert len(preview_table("big.csv", big.encode(), n_rows=50).rows) == 50


def test_a_parquet_file_on_the_server_is_previewed_without_reading_it_whole(tmp_path):
    """Typing a path on the Index page must not pull a large Parquet file into memory: only its footer and first
    row group are read (Python allocations stay far below the file's size)."""
    import os
    import tracemalloc

    path = tmp_path / "big.parquet"
    texts = [os.urandom(600).hex() for _ in range(20_000)]  # incompressible: ~24 MB on disk
    pq.write_table(pa.table({"text": texts, "label": ["a", "b"] * 10_000}), path, row_group_size=1_000,
                   compression="none")
    assert path.stat().st_size > 20 * 2**20
    tracemalloc.start()
    try:
        preview = preview_table("big.parquet", path, n_rows=5)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [r["text"] for r in preview.rows] == texts[:5]
    assert peak < 4 * 2**20, f"{peak / 2**20:.1f} MB of Python memory for a 5-row preview"


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("latin.csv", "text\ncaf\xe9 cr\xe8me\n".encode("latin-1"), "not UTF-8"),
        ("notes.txt", b"text\nx\n", "cannot tell the format"),
        ("bad.jsonl", b'{"text": "a"}\n[1, 2]\n', "one object"),
        ("bad.parquet", b"not parquet at all", "cannot read bad.parquet"),
    ],
)
def test_unreadable_tables_say_what_to_do(name, data, message):
    with pytest.raises(SourceError, match=message):
        preview_table(name, data)


def test_default_index_names_fit_the_source_and_never_resume_another_index_by_surprise():
    assert index_name_for("demo", None, []) == "digits"
    assert index_name_for("demo", None, ["digits"]) == "digits-2"
    assert index_name_for("upload", "pypi_summaries.csv.gz", []) == "pypi_summaries"
    assert index_name_for("upload", "../../etc/my photos.zip", []) == "my-photos"
    assert index_name_for("folder", "/data/photos/", []) == "photos"
    assert index_name_for("hf", "frgfm/imagenette", []) == "imagenette"
    assert index_name_for("upload", "<script>.csv", []) == "script"
    assert index_name_for("table", "pypi6k.csv", ["pypi6k"]) == "pypi6k-2"  # a table on the server: its stem too
    assert index_name_for("table", None, []) == "index"
    assert slug("***", "fallback") == "fallback"
    assert unique("a", ["a", "a-2"]) == "a-3"


def test_default_concept_names_follow_the_ground_truth():
    assert concept_name_for("pypi", "flask", "1", []) == "flask"
    assert concept_name_for("digits", None, "3", []) == "digits-3"
    assert concept_name_for("pypi", "topic", "web apps", []) == "topic-web-apps"
    assert concept_name_for("pypi", None, None, ["pypi-concept"]) == "pypi-concept-2"


def test_without_a_ground_truth_the_name_follows_the_prompt():
    """An outside tester's concept started from "pytest plugins" was offered the name pypi-concept."""
    assert concept_name_for("pypi", None, None, [], "pytest plugins") == "pytest-plugins"
    assert concept_name_for("pypi", None, None, ["a-photo-of-a"], "A photo of a dog at a show") == "a-photo-of-a-2"
    assert concept_name_for("pypi", "flask", "1", [], "web things") == "flask"  # the ground truth comes first
    assert concept_name_for("pypi", None, None, [], "<b>*") == "b"
    assert concept_name_for("pypi", None, None, [], "数据") == "pypi-concept"  # nothing left: the index's


def test_the_preview_command_prints_the_roles_and_the_index_command(tmp_path, capsys):
    from core.cli import main

    path = tmp_path / "pypi.csv.gz"
    path.write_bytes(gzip.compress(PYPI_LIKE.encode()))
    assert main(["preview", str(path), "--rows", "2"]) == 0
    out = capsys.readouterr().out
    assert "label columns: 'pytest', 'flask', 'docs_plugin'" in out and "'pkg-1'" in out
    assert "--label-column pytest --label-column flask" in out and "--split-column split" in out
    assert main(["preview", str(tmp_path / "missing.csv")]) == 2


@pytest.mark.parametrize("suffix", [".csv.gz", ".csv.bz2", ".csv.xz", ".tsv.bz2", ".jsonl.xz"])
def test_compressed_tables_preview_as_indexing_reads_them(tmp_path, suffix):
    import bz2
    import lzma

    from core.source_table import TextTable

    compress = {".gz": gzip.compress, ".bz2": bz2.compress, ".xz": lzma.compress}[suffix[suffix.rindex("."):]]
    if ".jsonl" in suffix:
        plain = "".join(json.dumps({"text": f"review {i} of a film", "label": i % 2}) + "\n" for i in range(10))
    else:
        sep = "\t" if ".tsv" in suffix else ","
        plain = f"text{sep}label\n" + "".join(f"review {i} of a film{sep}{i % 2}\n" for i in range(10))
    path = tmp_path / f"t{suffix}"
    path.write_bytes(compress(plain.encode()))
    for data in (path, path.read_bytes()):  # a file on the server, an upload
        preview = preview_table(path.name, data)
        assert preview.columns == ["text", "label"] and preview.label_columns == ["label"]
        assert [row["label"] for row in preview.rows] == [r.label for r in TextTable(path)]


def test_the_preview_reads_the_header_as_indexing_does(tmp_path):
    from core.source_table import TextTable

    path = tmp_path / "t.csv"
    path.write_text('text, padded ,"a,b",\n' + "".join(f"sentence {i} of some length,{i % 2},x{i % 2},{i % 3}\n"
                                                          for i in range(8)))
    preview = preview_table(path.name, path)
    assert preview.columns == TextTable(path).columns == ["text", "padded", "a,b", ""]
    assert "" not in preview.label_columns  # indexing refuses --label-column ''
    assert preview.rows[1] == {"text": "sentence 1 of some length", "padded": "1", "a,b": "x1", "": "1"}


def test_only_an_unfinished_build_reads_as_interrupted():
    from types import SimpleNamespace

    from app.tables import CUT_SHORT, index_rows

    def info(name, status):
        return SimpleNamespace(name=name, n_items=0, counts={}, n_skipped=0, embedder="pixels:4", dim=16,
                               modality="image", status=status, created="")

    rows = index_rows([info("a", "building"), info("b", "building"), info("c", "cancelled"), info("d", "complete")],
                      {"a": 512}, running={"b"})
    assert [r["status"] for r in rows] == [CUT_SHORT, "building", "cancelled", "complete"]
    assert rows[0]["items"] == 512


@pytest.mark.parametrize(("data", "message"), [
    (b"id,text\na,hello\x00world\n", r"holds a NUL byte \(at byte 15\)"),
    (b"PK\x03\x04" + b"\x00" * 200, "looks like an Excel workbook"),
    (gzip.compress(b"id,text\na,hel\x00lo\n"), "holds a NUL byte"),
])
def test_preview_refuses_what_indexing_refuses(tmp_path, data, message):
    """A newcomer: a workbook renamed .csv, or a CSV with a NUL byte, previewed fine (with a command to paste)
    and only the build refused it."""
    name = "t.csv.gz" if data.startswith(b"\x1f\x8b") else "t.csv"
    with pytest.raises(SourceError, match=message):
        preview_table(name, data)
    (tmp_path / name).write_bytes(data)
    with pytest.raises(SourceError, match=message):
        preview_table(name, tmp_path / name)
    assert preview_table("u.csv", b"\xef\xbb\xbfid,text\na,fine\n").columns == ["id", "text"]  # a BOM is fine
