"""Bad input gets a clear error and nothing partial is written.

The unit tests check each decoder and reader on its own (``tests/unit/test_images.py``,
``test_sources.py``, ``test_classifier.py``); here the same kinds of bad input go through the paths a
person uses (the ``index`` command, ``build_index``, uploads, ``predict``) and every case checks the
message names the problem and what to do, and that no index, file or folder is left behind.
"""

from __future__ import annotations

import io
import os
import pickle
import stat
import struct
import subprocess
import sys
import threading
import zipfile
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core import source_table
from core.cli import main
from core.errors import ClassifierFileError, EmbedderMismatch, SourceError
from core.export import predict
from core.indexing import build_index
from core.sources import parse_source
from core.store import Store
from core.uploads import extract_zip_upload, save_table_upload, uploads_dir
from tests.reliability.conftest import record

REPO = Path(__file__).resolve().parents[2]


def _index_cli(capsys, source: str, *extra: str) -> str:
    """Run ``python -m core index`` in-process; it must fail as a user error (exit 2, no traceback)."""
    code = main(["index", "--name", "bad", "--source", source, "--embedder", "st:minilm", *extra])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and err.startswith("error: ")
    assert Store().list_indexes() == []  # nothing partial: no index was registered
    record("bad_inputs_tried")
    return err


# ----- text tables ---------------------------------------------------------------------------------
def _bytes(text: str, encoding: str) -> bytes:
    return text.encode(encoding)


TABLE_CASES = {
    # name: (file name, content, extra CLI args, substrings the message must hold)
    "latin-1 csv": ("l1.csv", _bytes("id,text\n1,café crème\n", "latin-1"), [], ["not UTF-8", "Save it as UTF-8"]),
    "windows-1252 jsonl": ("w.jsonl", _bytes('{"text": "naïve “quotes”"}\n', "cp1252"), [],
                           ["not UTF-8", "iconv"]),
    "shift-jis tsv": ("s.tsv", _bytes("id\ttext\n1\t日本語のテキスト\n", "shift_jis"), [], ["not UTF-8", "UTF-8"]),
    "text column missing": ("a.csv", b"id,body\n1,hello\n", ["--text-column", "text_"],
                            ["column 'text_' (for the text) is not in", "available columns: 'id', 'body'"]),
    "no text column to detect": ("b.csv", b"id,body\n1,hello\n", [],
                                 ["no text column found", "choose one of the available columns"]),
    "label column missing": ("c.csv", b"id,text\n1,hello\n", ["--label-column", "klass"],
                             ["column 'klass' (for the label) is not in"]),
    "duplicate columns": ("d.csv", b"id,text,text\n1,a,b\n", [], ["duplicate column names: 'text'", "rename them"]),
    "duplicate json fields": ("d.jsonl", b'{"text": "a", "text": "b"}\n', [], ["duplicate field names"]),
    "header only": ("h.csv", b"id,text\n", [], ["has a header but no rows"]),
    "zero bytes": ("z.csv", b"", [], ["is empty"]),
    "not json lines": ("n.jsonl", b'{"text": "a"}\nnot json\n', [], ["line 2", "expected JSON Lines"]),
    "json scalar rows": ("s.jsonl", b'"just a string"\n', [], ["not a JSON object"]),
    "garbage parquet": ("g.parquet", b"PAR1 this is not parquet", [], ["not a readable Parquet file"]),
    "unknown format": ("x.xlsx", b"PK\x03\x04", [], ["cannot tell the format", "expected one of"]),
}


@pytest.mark.parametrize("case", list(TABLE_CASES))
def test_bad_tables_are_refused_with_a_message(case, tmp_path, capsys):
    name, content, extra, expected = TABLE_CASES[case]
    path = tmp_path / name
    path.write_bytes(content)
    err = _index_cli(capsys, f"file:{path}", *extra)
    for text in expected:
        assert text in err, err


def test_missing_file_is_named(tmp_path, capsys):
    assert f"file not found: {tmp_path / 'nope.csv'}" in _index_cli(capsys, f"file:{tmp_path / 'nope.csv'}")


def test_utf16_without_a_byte_order_mark_is_named(tmp_path, capsys):
    path = tmp_path / "u16.csv"
    path.write_bytes("id,text\n1,hello\n".encode("utf-16-le"))
    assert "UTF-16" in _index_cli(capsys, f"file:{path}") or "not UTF-8" in _index_cli(capsys, f"file:{path}")


class _HashEmbedder:
    """A deterministic text embedder (8-d hashed bytes): indexing without a model."""

    spec, kind, checkpoint, dim, batch_size, device = "fake:8", "fake", "hash", 8, 32, "cpu"
    modalities = frozenset({"text"})

    def embed_texts(self, texts):
        out = np.stack([np.frombuffer(zlib.crc32(t.encode()).to_bytes(4, "big") * 2, np.uint8) for t in texts])
        out = out.astype(np.float32) + 1
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def test_a_malformed_row_deep_in_a_table_leaves_no_partial_index(tmp_path, monkeypatch):
    monkeypatch.setattr(source_table, "CHUNK_ROWS", 100)
    lines = ["id,text", *(f"{i},text number {i}" for i in range(300)), '300,"an unterminated quote', "301,tail"]
    path = tmp_path / "deep.csv"
    path.write_text("\n".join(lines))
    store = Store()
    with pytest.raises(SourceError, match='cannot read deep.csv as CSV.*EOF inside string starting at row 301'):
        build_index("deep", parse_source(f"file:{path}"), _HashEmbedder(), store=store, flush_every=50)
    assert store.list_indexes() == [] and not {"items_deep", "skipped_deep"} & store.table_names()
    record("bad_inputs_tried")


# ----- images ------------------------------------------------------------------------------------------
def _png_header(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def _encoded(mode: str, fmt: str) -> bytes:
    size = (20, 14)
    if mode in ("I;16", "I", "F"):
        data = np.linspace(0, 4000 if mode != "F" else 1, size[0] * size[1]).reshape(size[1], size[0])
        img = Image.fromarray(data.astype({"I;16": np.uint16, "I": np.int32, "F": np.float32}[mode]))
        img = img if mode != "I;16" else img.convert("I;16")
    else:
        img = Image.new(mode, size)
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


GOOD_IMAGES = {  # every PIL mode a file can hold, in the formats that hold it
    "1.png": ("1", "PNG"), "l.png": ("L", "PNG"), "la.png": ("LA", "PNG"), "p.png": ("P", "PNG"),
    "rgb.jpg": ("RGB", "JPEG"), "rgba.png": ("RGBA", "PNG"), "cmyk.jpg": ("CMYK", "JPEG"),
    "cmyk.tif": ("CMYK", "TIFF"), "ycbcr.tif": ("YCbCr", "TIFF"), "lab.tif": ("LAB", "TIFF"),
    "i16.png": ("I;16", "PNG"), "i32.tif": ("I", "TIFF"), "f32.tif": ("F", "TIFF"), "1.tif": ("1", "TIFF"),
    "p.gif": ("P", "GIF"), "rgb.bmp": ("RGB", "BMP"), "rgba.webp": ("RGBA", "WEBP"),
}


def test_a_folder_of_good_and_broken_images_indexes_the_good_and_names_the_broken(tmp_path, capsys):
    root = tmp_path / "imgs"
    (root / "good").mkdir(parents=True)
    (root / "bad").mkdir()
    for name, (mode, fmt) in GOOD_IMAGES.items():
        (root / "good" / name).write_bytes(_encoded(mode, fmt))
    noise = Image.fromarray((np.random.default_rng(0).random((14, 20, 3)) * 255).astype(np.uint8))
    png, jpeg = io.BytesIO(), io.BytesIO()
    noise.save(png, format="PNG")
    noise.save(jpeg, format="JPEG")
    png, jpeg = png.getvalue(), jpeg.getvalue()
    bad = {
        "empty.jpg": (b"", "empty file"),
        "truncated.png": (png[: len(png) * 3 // 4], "truncated image"),
        "truncated.jpg": (jpeg[: len(jpeg) * 3 // 4], "truncated image"),
        "garbage.jpg": (os.urandom(300), "not an image file"),
        "text.png": (b"hello, I am a text file\n", "not an image file"),
        "bomb.png": (_png_header(20_000, 20_000), "image too large"),
    }
    for name, (data, _) in bad.items():
        (root / "bad" / name).write_bytes(data)
    code = main(["index", "--name", "imgs", "--source", f"folder:{root}", "--embedder", "pixels"])
    assert code == 0, capsys.readouterr().err
    store = Store()
    info = store.get_index("imgs")
    assert info.n_items == len(GOOD_IMAGES) and info.n_skipped == len(bad)
    reasons = {row["id"]: row["reason"] for row in store.skipped("imgs")}
    for name, (_, reason) in bad.items():
        assert reason in reasons[f"bad/{name}"], reasons
    assert set(store.vectors("imgs").ids) == {f"good/{n}" for n in GOOD_IMAGES}
    record("bad_inputs_tried", len(bad) + len(GOOD_IMAGES))


# ----- uploads -----------------------------------------------------------------------------------------
def _zip(path: Path, members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED, modes: dict | None = None) -> Path:
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = compression
            if modes and name in modes:
                info.external_attr = modes[name] << 16
            archive.writestr(info, data)
    return path


def _uploads_left() -> list[str]:
    return sorted(str(p.relative_to(uploads_dir("photos"))) for p in uploads_dir("photos").rglob("*"))


ZIP_CASES = {
    "../ path (zip slip)": ({"ok.png": b"x", "../../evil.png": b"x"}, None, "path outside its folder"),
    "absolute path": ({"/tmp/evil.png": b"x"}, None, "path outside its folder"),
    "windows drive path": ({"C:/evil.png": b"x"}, None, "path outside its folder"),
    "backslash ../ path": ({"..\\evil.png": b"x"}, None, "path outside its folder"),
    "symlink member": ({"link.png": b"/etc/passwd"}, {"link.png": stat.S_IFLNK | 0o777}, "symbolic link"),
    "fifo member": ({"pipe.png": b""}, {"pipe.png": stat.S_IFIFO | 0o644}, "not a regular file"),
}


@pytest.mark.parametrize("case", list(ZIP_CASES))
def test_unsafe_zips_are_refused_whole(case, tmp_path):
    members, modes, message = ZIP_CASES[case]
    path = _zip(tmp_path / "photos.zip", members, modes=modes)
    with pytest.raises(SourceError, match=message):
        extract_zip_upload("photos", "photos.zip", path)
    assert _uploads_left() == []
    assert not (tmp_path.parent / "evil.png").exists() and not Path("/tmp/evil.png").exists()
    record("bad_inputs_tried")


def test_zip_bomb_by_compression_ratio(tmp_path):
    path = _zip(tmp_path / "bomb.zip", {"zeros.png": b"\0" * (60 * 2**20)})
    assert path.stat().st_size < 2**20
    with pytest.raises(SourceError, match=r"looks like a zip bomb \(compression ratio \d+:1"):
        extract_zip_upload("photos", "bomb.zip", path)
    assert _uploads_left() == []
    record("bad_inputs_tried")


@pytest.mark.parametrize("suffix", [".jsonl.gz", ".json.bz2", ".csv.xz"])
def test_compressed_table_bomb_is_refused_as_it_is_read(tmp_path, suffix):
    """A few hundred KB of .gz/.bz2/.xz holding one 60 MB line: refused before it is held in memory, in the
    preview (the upload's bytes), as a source (a path) and as an upload, which leaves nothing behind."""
    import bz2
    import gzip
    import lzma

    from core.table_preview import preview_table
    from core.uploads import table_source_from_upload

    pack = {".gz": gzip.compress, ".bz2": bz2.compress, ".xz": lzma.compress}[suffix[suffix.rindex("."):]]
    huge = b"a" * (60 * 2**20)
    body = (b'[{"text": "' + huge + b'"}]' if ".json." in suffix else
            b'{"text": "' + huge + b'"}\n' if ".jsonl." in suffix else b"text\n" + huge + b"\n")
    data = pack(body)
    del huge, body
    assert len(data) < 2**20
    path = tmp_path / f"bomb{suffix}"
    path.write_bytes(data)
    with pytest.raises(SourceError, match="decompression bomb"):
        preview_table(path.name, data)
    with pytest.raises(SourceError, match=f"bomb{suffix}.*decompression bomb"):
        parse_source(f"file:{path}").count()
    with pytest.raises(SourceError, match="decompression bomb"):
        table_source_from_upload("photos", path.name, data)
    assert _uploads_left() == []
    record("bad_inputs_tried")


def test_zip_expanding_past_the_limit(tmp_path, monkeypatch):
    monkeypatch.setenv("FEWSHOT_MAX_EXTRACTED_MB", "1")
    path = _zip(tmp_path / "big.zip", {f"{i}.png": os.urandom(400_000) for i in range(3)}, zipfile.ZIP_STORED)
    with pytest.raises(SourceError, match="expands to 1 MB, over the limit of 1 MB"):
        extract_zip_upload("photos", "big.zip", path)
    assert _uploads_left() == []
    record("bad_inputs_tried")


def test_zip_whose_headers_understate_its_size(tmp_path, monkeypatch):
    """A bomb that lies in its directory: the real bytes are counted and checked as they come."""
    monkeypatch.setenv("FEWSHOT_MAX_EXTRACTED_MB", "1")
    path = _zip(tmp_path / "liar.zip", {"a.png": b"\0" * (3 * 2**20)})
    data = bytearray(path.read_bytes())
    central = data.rindex(b"PK\x01\x02")
    data[central + 24 : central + 28] = struct.pack("<I", 1000)  # claims 1,000 bytes uncompressed
    path.write_bytes(bytes(data))
    with pytest.raises(SourceError, match="liar.zip"):
        extract_zip_upload("photos", "liar.zip", path)
    assert _uploads_left() == []
    record("bad_inputs_tried")


def test_not_a_zip(tmp_path):
    path = tmp_path / "photos.zip"
    path.write_bytes(b"these are not the bytes of a zip")
    with pytest.raises(SourceError, match="is not a readable zip file"):
        extract_zip_upload("photos", "photos.zip", path)
    record("bad_inputs_tried")


def test_uploads_past_the_configured_limit_are_refused_and_not_written(tmp_path, monkeypatch):
    monkeypatch.setenv("FEWSHOT_MAX_UPLOAD_MB", "1")
    data = b"id,text\n" + b"1,hello\n" * 200_000  # 1.5 MB
    with pytest.raises(SourceError, match=r"'big.csv' is 1.5 MB, over the upload limit of 1 MB.*FEWSHOT_MAX_UPLOAD_MB"):
        save_table_upload("photos", "big.csv", data)
    archive = _zip(tmp_path / "big.zip", {"a.png": os.urandom(int(1.5 * 2**20))}, zipfile.ZIP_STORED)
    with pytest.raises(SourceError, match="over the upload limit of 1 MB"):
        extract_zip_upload("photos", "big.zip", archive)
    assert _uploads_left() == []
    monkeypatch.setenv("FEWSHOT_MAX_UPLOAD_MB", "2")
    assert save_table_upload("photos", "big.csv", data).read_bytes() == data  # under a raised limit: kept
    record("bad_inputs_tried", 2)


def test_a_good_zip_replaces_a_previous_upload_whole(tmp_path):
    first = extract_zip_upload("photos", "photos.zip", _zip(tmp_path / "a.zip", {"a/1.png": _encoded("RGB", "PNG")}))
    second = extract_zip_upload("photos", "photos.zip", _zip(tmp_path / "b.zip", {"b/2.png": _encoded("L", "PNG")}))
    assert first == second
    assert sorted(p.relative_to(second).as_posix() for p in second.rglob("*.png")) == ["b/2.png"]
    assert _uploads_left() == ["photos", "photos/b", "photos/b/2.png"]


def test_upload_names_that_clean_alike_keep_their_own_files_and_suffixes(tmp_path):
    """'photos 1.zip' and 'photos_1.zip' both became photos_1/, so the second upload replaced the first one's
    images under an index that still pointed at them; a name of only non-ASCII letters lost its '.csv'."""
    spaced = extract_zip_upload("photos", "photos 1.zip", _zip(tmp_path / "a.zip", {"a/1.png": _encoded("RGB", "PNG")}))
    plain = extract_zip_upload("photos", "photos_1.zip", _zip(tmp_path / "b.zip", {"b/2.png": _encoded("L", "PNG")}))
    assert spaced != plain and plain.name == "photos_1" and spaced.name.startswith("photos_1-")
    assert [p.name for p in spaced.rglob("*.png")] == ["1.png"] and [p.name for p in plain.rglob("*.png")] == ["2.png"]
    again = extract_zip_upload("photos", "photos 1.zip", _zip(tmp_path / "c.zip", {"c/3.png": _encoded("L", "PNG")}))
    assert again == spaced  # the same name's next upload replaces its own folder, as before
    tables = [save_table_upload("photos", name, b"id,text\nr1,a text\n") for name in ("a b.csv", "a_b.csv", "数据.csv")]
    assert len(set(tables)) == 3 and all(p.suffix == ".csv" and p.parent == uploads_dir("photos") for p in tables)
    assert save_table_upload("photos", "数据.csv", b"id,text\nr2,b\n") == tables[2]


def test_long_upload_names_are_stored_shortened(tmp_path):
    """An attacker: a 240-letter upload name (legal on the user's disk) was an OSError traceback with server
    paths: the temporary file beside it went past the file system's 255-byte name limit."""
    long_table, other = "t" * 240 + ".csv", "t" * 239 + "u.csv"
    first = save_table_upload("photos", long_table, b"id,text\nr1,a text\n")
    assert len(first.name) <= 120 and first.suffix == ".csv" and first.read_bytes() == b"id,text\nr1,a text\n"
    assert save_table_upload("photos", long_table, b"id,text\nr2,b\n") == first  # the same name: the same file
    assert save_table_upload("photos", other, b"id,text\nr3,c\n") != first  # another long name: its own
    folder = extract_zip_upload("photos", "z" * 240 + ".zip",
                                _zip(tmp_path / "a.zip", {"a/1.png": _encoded("RGB", "PNG")}))
    assert len(folder.name) <= 120 and [p.name for p in folder.rglob("*.png")] == ["1.png"]
    record("bad_inputs_tried", 2)


# ----- Hugging Face ------------------------------------------------------------------------------------
class _NotFoundHub(BaseHTTPRequestHandler):
    def _answer(self):
        body = b'{"error": "Repository not found"}'
        self.send_response(404)
        self.send_header("X-Error-Code", "RepoNotFound")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = do_POST = _answer

    def log_message(self, *args):
        pass


def _index_hf_in_child(endpoint: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_ENDPOINT": endpoint, "HF_HUB_OFFLINE": "0", "HF_DATASETS_OFFLINE": "0",
           "HF_HOME": str(tmp_path / "hf-home"), "FEWSHOT_HOME": str(tmp_path / "child-ws")}
    return subprocess.run(
        [sys.executable, "-m", "core", "index", "--name", "x", "--source", "hf:nobody/no-such-dataset",
         "--embedder", "pixels"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )


def test_hugging_face_id_that_does_not_exist(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotFoundHub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        done = _index_hf_in_child(f"http://127.0.0.1:{server.server_address[1]}", tmp_path)
    finally:
        server.shutdown()
    assert done.returncode == 2, done.stderr
    assert "dataset 'nobody/no-such-dataset' was not found on the Hugging Face hub" in done.stderr
    assert "check the id" in done.stderr and "Traceback" not in done.stderr
    record("bad_inputs_tried")


def test_hugging_face_hub_that_cannot_be_reached(tmp_path):
    done = _index_hf_in_child("http://127.0.0.1:9", tmp_path)  # nothing listens on port 9
    assert done.returncode == 2, done.stderr
    assert "could not reach the Hugging Face hub to load 'nobody/no-such-dataset'" in done.stderr
    assert "folder:PATH" in done.stderr and "Traceback" not in done.stderr
    record("bad_inputs_tried")


# ----- classifier files --------------------------------------------------------------------------------
def test_classifier_files_that_are_not_ours_or_not_for_this_index(digits_store, tmp_path):
    from safetensors.numpy import save_file

    from core.classifier import LinearHead, save_classifier

    cases: dict[str, tuple[Path, type, str]] = {}
    pickled = tmp_path / "model.safetensors"
    pickled.write_bytes(pickle.dumps({"w": [1.0] * 256}))
    cases["pickle"] = (pickled, ClassifierFileError, "looks like a pickle or PyTorch file")
    foreign = tmp_path / "foreign.safetensors"
    save_file({"weight": np.zeros((2, 2), np.float32)}, str(foreign))
    cases["foreign safetensors"] = (foreign, ClassifierFileError, "not a classifier saved by this app")
    text = tmp_path / "notes.safetensors"
    text.write_text("not a classifier")
    cases["text file"] = (text, ClassifierFileError, "not a readable safetensors classifier file")
    damaged = tmp_path / "damaged.safetensors"  # header length 50,000,000: its first byte is a pickle's 0x80
    damaged.write_bytes((50_000_000).to_bytes(8, "little") + b"{}")
    cases["damaged header"] = (damaged, ClassifierFileError, "not a readable safetensors classifier file")
    good = tmp_path / "good.safetensors"
    save_classifier(good, LinearHead.init_from_vector(np.ones(256), 256), {"embedder": "pixels:16"})
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(good.read_bytes()[:-100])
    cases["truncated"] = (truncated, ClassifierFileError, "not a readable safetensors classifier file")
    other_dim = tmp_path / "dim64.safetensors"
    save_classifier(other_dim, LinearHead.init_from_vector(np.ones(64), 64), {"embedder": "pixels:8"})
    cases["other dimension"] = (other_dim, EmbedderMismatch,
                                "trained on 64-dimensional embeddings but this index has 256")
    other_embedder = tmp_path / "clip.safetensors"
    save_classifier(other_embedder, LinearHead.init_from_vector(np.ones(256), 256), {"embedder": "clip:other"})
    cases["other embedder"] = (other_embedder, EmbedderMismatch, "trained with embedder 'clip:other'")
    for name, (path, error, message) in cases.items():
        out = tmp_path / f"{name}.csv"
        with pytest.raises(error, match=message):
            predict(path, "digits", store=digits_store, out=out)
        assert not out.exists(), name
        record("bad_inputs_tried")
    assert len(predict(good, "digits", store=digits_store)) > 0


def test_a_classifier_files_embedder_cannot_drive_the_terminal(digits_store, tmp_path, capsys):
    """An attacker's classifier file: its embedder field (an ANSI clear-screen and a command substitution) was
    echoed raw in predict's advice, which clears the screen and offers ``$(rm -rf ~)`` to paste."""
    from core.classifier import LinearHead, save_classifier
    from core.cli import main

    crafted = tmp_path / "crafted.safetensors"
    save_classifier(crafted, LinearHead.init_from_vector(np.ones(256), 256), {"embedder": "\x1b[2J$(rm -rf ~)"})
    assert main(["predict", "--classifier", str(crafted), "--index", "digits", "--out", str(tmp_path / "p.csv")]) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and "--embedder '\\x1b[2J$(rm -rf ~)'" in err, err
    record("bad_inputs_tried")


def test_skipped_items_are_listed_terminal_safe(workspace_dir, tmp_path, capsys):
    from core.cli import main

    folder = tmp_path / "imgs" / "cls"
    folder.mkdir(parents=True)
    (folder / "ok.png").write_bytes(_encoded("RGB", "PNG"))
    (folder / "bad\x1b[31mred\u202e.png").write_bytes(b"not an image")
    assert main(["index", "--name", "imgs", "--source", f"folder:{folder.parent}", "--embedder", "pixels:8"]) == 0
    out = capsys.readouterr().out
    assert "skipped" in out and "\x1b" not in out and "\u202e" not in out and "bad\\x1b[31mred" in out, out
    record("bad_inputs_tried")


def test_a_zip_named_like_an_uploaded_table_leaves_the_table_alone(tmp_path):
    """A re-tester: data.csv uploaded, then data.csv.zip for the same index: the zip was extracted into the folder
    data.csv and the table moved to a hidden .data.csv.old-<pid> that was never removed."""
    table = save_table_upload("photos", "data.csv", b"id,text\nr1,a text\n")
    folder = extract_zip_upload("photos", "data.csv.zip", _zip(tmp_path / "a.zip", {"a/1.png": _encoded("RGB", "PNG")}))
    assert table.read_bytes() == b"id,text\nr1,a text\n" and folder.is_dir() and folder != table
    assert not [p for p in table.parent.iterdir() if p.name.startswith(".")]
