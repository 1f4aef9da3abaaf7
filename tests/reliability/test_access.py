"""Nobody let in: typed paths stay inside the data folders, classifiers never unpickle, dataset text
is never interpreted, and the server listens on localhost unless told otherwise."""

from __future__ import annotations

import ipaddress
import os
import pickle
import re
import signal
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from core.classifier import LinearHead, load_classifier, save_classifier
from core.config import check_data_path, data_roots
from core.errors import ClassifierFileError, SourceError
from core.sources import ImageFolder, TextTable, parse_source
from tests.reliability.conftest import record

REPO = Path(__file__).resolve().parents[2]
ROUTER = str(REPO / "streamlit_app.py")


def _images(folder: Path, n: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", (12, 12), (40 * i, 0, 0)).save(folder / f"{i}.png")
    return folder


# ----- data roots ----------------------------------------------------------------------------------
def test_data_roots_default_to_the_workspace_and_come_from_the_environment(workspace_dir, tmp_path, monkeypatch):
    assert data_roots() == [workspace_dir.resolve()]
    a, b = tmp_path / "a", tmp_path / "b"
    monkeypatch.setenv("FEWSHOT_DATA_ROOTS", f"{a}{os.pathsep}{b}{os.pathsep}")
    assert data_roots() == [a.resolve(), b.resolve()]


def test_paths_outside_the_roots_are_refused_before_anything_is_read(workspace_dir, tmp_path, monkeypatch):
    inside = _images(workspace_dir / "data" / "pics")
    outside = _images(tmp_path / "elsewhere")
    (workspace_dir / "data" / "escape").symlink_to(outside)
    table = tmp_path / "secret.csv"
    table.write_text("id,text\n1,salary list\n")
    (workspace_dir / "data" / "link.csv").symlink_to(table)
    assert check_data_path(inside) == inside.resolve()
    assert isinstance(parse_source(f"folder:{inside}", confine=True), ImageFolder)
    refused = {
        "folder outside": f"folder:{outside}",
        "file outside": f"file:{table}",
        "symlinked folder": f"folder:{workspace_dir / 'data' / 'escape'}",
        "symlinked file": f"file:{workspace_dir / 'data' / 'link.csv'}",
        "dot-dot": f"folder:{workspace_dir / 'data' / '..' / '..' / 'elsewhere'}",
        "home": "folder:~",
        "system": "file:/etc/passwd",
        "local hf dataset": f"hf:{outside}",
        "relative": "folder:../../..",
        "nul byte": "folder:/tmp/a\0b",
    }
    for name, spec in refused.items():
        with pytest.raises(SourceError) as caught:
            parse_source(spec, confine=True)
        message = str(caught.value)
        assert "outside the allowed data folders" in message or "not a usable path" in message, (name, message)
        if "outside" in message:
            assert str(workspace_dir.resolve()) in message and "Set FEWSHOT_DATA_ROOTS to allow it" in message
        record("bad_inputs_tried")
    # A refusal says nothing about what exists out there: same message for a missing path.
    missing = tmp_path / "no-such-folder"
    with pytest.raises(SourceError, match="outside the allowed data folders"):
        parse_source(f"folder:{missing}", confine=True)
    monkeypatch.setenv("FEWSHOT_DATA_ROOTS", str(tmp_path))
    assert isinstance(parse_source(f"folder:{outside}", confine=True), ImageFolder)


def test_the_command_line_is_not_confined(tmp_path):
    """The CLI runs as the machine's owner, who may index anything they can read."""
    outside = _images(tmp_path / "elsewhere")
    table = tmp_path / "t.csv"
    table.write_text("id,text\n1,hello\n")
    assert isinstance(parse_source(f"folder:{outside}"), ImageFolder)
    assert isinstance(parse_source(f"file:{table}"), TextTable)


def test_image_folders_do_not_follow_links_out_of_their_root(workspace_dir, tmp_path):
    outside = _images(tmp_path / "elsewhere")
    root = _images(workspace_dir / "data" / "pics")
    (root / "out").symlink_to(outside)
    (root / "one.png").symlink_to(outside / "0.png")
    shared = _images(workspace_dir / "data" / "shared", n=1) / "0.png"
    (root / "inside.png").symlink_to(shared)  # elsewhere inside the data folders: followed
    source = parse_source(f"folder:{root}", confine=True)
    usable = [r.id for r in source if r.id not in dict(source.left_out)]
    assert usable == ["0.png", "1.png", "2.png", "inside.png"]
    assert [rel for rel, _ in source.left_out] == ["one.png", "out/"]  # listed as skipped, never read
    assert all("outside the allowed data folders" in why for _, why in source.left_out)


def _index_page() -> AppTest:
    at = AppTest.from_file(ROUTER, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_index_page_refuses_folders_outside_the_roots_and_shows_the_message_as_text(tmp_path):
    outside = _images(tmp_path / "![x](https:evil.example) <img src=x onerror=alert(1)>")
    at = _index_page()
    at.radio(key="index_source_kind").set_value("folder").run()
    at.text_input(key="index_name").set_value("outside")
    at.text_input(key="index_folder").set_value(str(outside))
    at.button(key="index_build").click().run()
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "outside the allowed data folders" in errors[0]
    # Escaped for Markdown: the link and the tag show as typed instead of loading anything.
    assert "\\!\\[x\\]\\(https" in errors[0] and "\\<img" in errors[0]
    assert "](https" not in errors[0]
    record("bad_inputs_tried")


def test_the_index_page_refuses_a_local_model_folder_outside_the_roots(tmp_path):
    model = tmp_path / "my-clip"
    model.mkdir()
    at = _index_page()
    at.text_input(key="index_name").set_value("m")
    at.radio(key="index_embedder_kind").set_value("clip").run()
    at.text_input(key="index_clip").set_value(str(model))
    at.button(key="index_build").click().run()
    assert [e.value for e in at.error] and "outside the allowed data folders" in at.error[0].value
    record("bad_inputs_tried")


def test_the_index_page_indexes_a_folder_inside_the_roots(workspace_dir):
    folder = _images(workspace_dir / "data" / "pics")
    at = _index_page()
    at.radio(key="index_source_kind").set_value("folder").run()
    at.text_input(key="index_name").set_value("pics")
    at.text_input(key="index_folder").set_value(str(folder))
    at.radio(key="index_embedder_kind").set_value("pixels").run()
    at.button(key="index_build").click().run()
    deadline = time.time() + 60
    while time.time() < deadline and not any("3 items" in s.value for s in at.success):
        time.sleep(0.3)
        at.run()
    assert not at.error, [e.value for e in at.error]
    assert any("3 items" in s.value for s in at.success)


# ----- no pickle -----------------------------------------------------------------------------------
UNSAFE_LOADS = re.compile(r"pickle\.loads?\(|Unpickler|torch\.load\(|joblib\.load\(|allow_pickle\s*=\s*True|dill\.")


def test_nothing_in_the_app_unpickles():
    offenders = []
    for path in [*REPO.glob("core/**/*.py"), *REPO.glob("app/**/*.py"), *REPO.glob("views/**/*.py")]:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if UNSAFE_LOADS.search(line) and "# trusted-pickle:" not in line:
                offenders.append(f"{path.relative_to(REPO)}:{n}: {line.strip()}")
    assert not offenders, offenders


def test_loading_classifiers_never_calls_pickle(tmp_path, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("pickle was called")

    good = tmp_path / "c.safetensors"
    save_classifier(good, LinearHead.init_from_vector(np.ones(8), 8), {"embedder": "pixels:2"})
    evil = tmp_path / "evil.safetensors"
    evil.write_bytes(pickle.dumps({"w": 1}))
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(pickle, "Unpickler", forbidden)
    assert load_classifier(good)[0].dim == 8
    with pytest.raises(ClassifierFileError, match="never opened"):
        load_classifier(evil)


# ----- dataset text is text ------------------------------------------------------------------------
NASTY = ("<script>alert(1)</script> **bold** ![beacon](https://evil.example/p.png) [click](javascript:alert(1)) "
         "$\\frac{1}{2}$ :red[red] :material/warning: <img src=x onerror=alert(1)>")


def _render(text: str, caption: str) -> None:
    from app.items import render_item

    render_item({"id": "x", "text": text}, caption=caption)


def test_dataset_text_and_labels_are_shown_as_typed():
    at = AppTest.from_function(_render, args=(NASTY, f"label: {NASTY}")).run()
    assert not at.exception
    assert [t.value for t in at.text] == [NASTY]  # st.text: never Markdown or HTML
    (caption,) = at.caption
    assert not caption.proto.allow_html
    assert "](https" not in caption.value and "\\<script\\>" in caption.value and "\\*\\*bold" in caption.value
    assert not [m for m in at.markdown if "<script>" in m.value or "](https" in m.value]
    record("bad_inputs_tried")


RAW_HTML = re.compile(r"unsafe_allow_html\s*=\s*True|components\.(v1\.)?html\(")
ST_HTML = re.compile(r"\bst\.html\(")
#: Files whose ``st.html`` calls were reviewed: they build markup from app-made values only (CSS rules
#: from rating colours and widget keys, tiles of re-encoded thumbnails as data: URIs, item numbers),
#: never dataset text. A new file using ``st.html`` must be reviewed the same way (dataset text goes
#: through ``st.text`` or ``app.items.plain``, or ``html.escape`` inside markup) and added here.
REVIEWED_ST_HTML = {"app/teach_rating.py", "views/teach.py"}


def test_no_page_renders_dataset_text_as_html():
    raw, unreviewed = [], set()
    for path in [REPO / "streamlit_app.py", *REPO.glob("app/**/*.py"), *REPO.glob("views/**/*.py")]:
        name = str(path.relative_to(REPO))
        for line in path.read_text(encoding="utf-8").splitlines():
            if RAW_HTML.search(line):
                raw.append(f"{name}: {line.strip()}")
            if ST_HTML.search(line) and name not in REVIEWED_ST_HTML:
                unreviewed.add(name)
    assert not raw, raw
    assert not unreviewed, f"st.html in files to review (see REVIEWED_ST_HTML): {sorted(unreviewed)}"


# ----- listening -----------------------------------------------------------------------------------
def test_configuration_listens_on_localhost_only():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "localhost"
    assert config["server"]["enableXsrfProtection"] is True
    script = (REPO / "scripts" / "app.sh").read_text()
    assert '--server.address "${FEWSHOT_ADDRESS:-localhost}"' in script
    assert '--server.maxUploadSize "${FEWSHOT_MAX_UPLOAD_MB:-1024}"' in script


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_running_server_listens_on_loopback_only(tmp_path):
    import psutil

    port = _free_port()
    env = {**os.environ, "FEWSHOT_HOME": str(tmp_path / "ws")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port),
         "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 60
        listening = []
        while time.time() < deadline and not listening:
            time.sleep(0.5)
            assert proc.poll() is None, "streamlit exited"
            listening = [c for c in psutil.Process(proc.pid).net_connections(kind="inet")
                         if c.status == psutil.CONN_LISTEN]
        assert listening, "the server never listened"
        addresses = {c.laddr.ip for c in listening}
        assert all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses), addresses
        assert {c.laddr.port for c in listening} == {port}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_app_sh_refuses_a_port_another_server_holds(tmp_path):
    """A newcomer's second app.sh printed "running" (the first app answered its health check), then failed."""
    if not (REPO / ".venv" / "bin" / "python").exists():
        pytest.skip("app.sh runs the repository's .venv")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {**os.environ, "FEWSHOT_HOME": str(tmp_path / "ws"), "FEWSHOT_PORT": str(port),
               "FEWSHOT_ADDRESS": "127.0.0.1"}
        done = subprocess.run(["bash", "scripts/app.sh"], cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=600)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert f"Port {port} is already in use" in done.stderr and "running" not in done.stdout.lower()
