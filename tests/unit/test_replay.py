"""Replay data, exact kNN for UMAP, the report's escaping and the report CLI."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import numpy as np
import pytest

from core.projection_knn import exact_knn
from core.replay import beside, build_replay, draw_rows
from core.report import _json_for_script


def _unit(n: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    m = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def _checkpoints(W: np.ndarray, b: list[float]) -> list[SimpleNamespace]:
    return [SimpleNamespace(round=i, w=w, bias=bb, metrics={"ap": 0.1 * i, "n_ratings": 10 * i})
            for i, (w, bb) in enumerate(zip(W, b, strict=True))]


def test_exact_knn_matches_brute_force_with_itself_first():
    X = _unit(700)
    idx, dist = exact_knn(X, 8)
    sims = X @ X.T
    np.fill_diagonal(sims, 2.0)
    expected = np.argsort(-sims, axis=1, kind="stable")[:, :8]
    assert (idx[:, 0] == np.arange(700)).all() and (dist[:, 0] == 0).all()
    assert (np.sort(idx, axis=1) == np.sort(expected, axis=1)).mean() > 0.999  # ties aside
    np.testing.assert_allclose(dist[:, 1:], 1 - np.take_along_axis(X @ X.T, idx[:, 1:], axis=1), atol=1e-5)


def test_replay_scores_positives_and_flips_per_round():
    X = _unit(300)
    xy = np.random.default_rng(1).standard_normal((300, 2)).astype(np.float32)
    W = np.stack([np.zeros(16, np.float32), X[0], -X[0], X[0]])
    replay = build_replay(X, xy, _checkpoints(W, [0.0, 0.0, 0.0, 0.1]), np.arange(300), threshold=0.0)
    assert replay.rounds == [0, 1, 2, 3]
    np.testing.assert_allclose(replay.scores[1], X @ X[0], atol=1e-6)
    assert set(replay.positive[1]) == set(np.flatnonzero(X @ X[0] > 0))
    assert set(replay.flipped[2]) == set(np.flatnonzero((X @ X[0] > 0) != (X @ -X[0] > 0)))
    assert np.isnan(replay.w_xy[0]).all() and np.isfinite(replay.w_xy[1:]).all()  # zero w: nothing to place
    codes = replay.color_codes(1)
    assert codes.dtype == np.uint8 and codes[np.argmax(replay.scores[1])] >= 250


def test_each_round_is_coloured_over_its_own_span_so_a_calm_round_is_not_one_flat_colour():
    """An extreme early round (scores near -6.5) must not set the colours of a later one (-1.8..-0.5): the
    span follows the round shown, in the payload, the Plotly frames and the captions that say it."""
    from core.replay_canvas import replay_parts
    from core.replay_figure import replay_figure

    X = _unit(400)
    xy = np.random.default_rng(1).standard_normal((400, 2)).astype(np.float32)
    w = X[0] * 0.65  # scores x . w within about ±0.65
    replay = build_replay(X, xy, _checkpoints(np.stack([0 * w, w, w]), [0.0, -6.3, -1.1]), np.arange(400))
    assert replay.scores[1].max() < -5 and -2 < replay.scores[2].min() and replay.scores[2].max() < 0
    wild, calm = replay.span(1), replay.span(2)
    assert wild > 5 and 0.5 < calm < 2.0 and replay.span(0) > 0  # all-zero scores: never 0 wide
    codes = replay.color_codes(2)
    assert int(codes.max()) - int(codes.min()) >= 60, "the calm round is a single flat colour"
    assert (codes < 127).all()  # still all on the negative (orange) side: 0 keeps its colour
    header, arrays = replay_parts(replay)
    assert header["spans"] == pytest.approx([replay.span(i) for i in range(3)])
    np.testing.assert_array_equal(arrays[2][1].reshape(3, 400)[2], codes)
    assert header["captions"][2].endswith(f"colours ±{calm:.2f} logit")
    frames = replay_figure(replay).to_dict()["frames"]
    ticks = [f["data"][0]["marker"]["colorbar"]["ticktext"] for f in frames]
    assert ticks[2][-1] == f"{calm:+.2f}" and ticks[1][-1] == f"{wild:+.2f}"


def test_w_sits_beside_its_items_not_on_them():
    xy = np.random.default_rng(0).standard_normal((500, 2)).astype(np.float32)
    anchor = np.array([[2.0, 0.0], [0.0, -2.0]], np.float32)
    placed = beside(anchor, xy)
    extent = float(np.ptp(xy, axis=0).max())
    np.testing.assert_allclose(np.linalg.norm(placed - anchor, axis=1), 0.05 * extent, rtol=1e-4)
    assert placed[0, 0] > anchor[0, 0] and placed[1, 1] < anchor[1, 1]  # pushed away from the centre


def test_draw_rows_keeps_rated_items_in_a_sample():
    rows = draw_rows(10_000, np.array([5, 9_999]), max_points=100)
    assert len(rows) == 100 and {5, 9_999} <= set(rows.tolist()) and (np.diff(rows) > 0).all()


def test_json_in_a_script_tag_cannot_close_it():
    text = _json_for_script({"t": "</script><script>alert(1)</script><!--"})
    assert "<" not in text and ">" not in text
    assert json.loads(text) == {"t": "</script><script>alert(1)</script><!--"}


@pytest.fixture
def hostile_digits(tmp_path, monkeypatch):
    """Digits with a concept whose prompt is HTML, taught for three rounds."""
    from core.store import Store
    from core.teach_store import TeachStore
    from tests.helpers.workspaces import taught_digits

    monkeypatch.setenv("FEWSHOT_HOME", str(tmp_path))
    taught_digits(tmp_path, rounds=3)
    teach = TeachStore(Store(tmp_path))
    info = teach.concept("digits", "three")
    info.prompt = "<img src=x onerror=alert(1)>"
    teach.save_concept(info)
    return tmp_path


def test_report_cli_writes_an_escaped_offline_file(hostile_digits, capsys):
    from core.cli import main

    out, png = hostile_digits / "r.html", hostile_digits / "r.png"
    assert main(["report", "--index", "digits", "--concept", "three", "--out", str(out),
                 "--png", str(png), "--max-points", "500"]) == 0
    assert "a sample of 500 of 1,797 items" in capsys.readouterr().out
    html = out.read_text()
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "a random sample of 500 of the 1,797 items" in html
    assert png.read_bytes()[:4] == b"\x89PNG"
    body = html.split("</head>", 1)[1]
    assert not re.search(r"<script[^>]*\bsrc=", html) and ">None<" not in body and ">nan<" not in body
    figures = re.findall(r'<script type="application/json" id="data-(\w+)">(.*?)</script>', body, re.S)
    assert [name for name, _ in figures] == ["map", "ap"]
    fig = json.loads(figures[0][1])
    assert [f["name"] for f in fig["frames"]] == ["0", "1", "2", "3"]


def test_report_cli_refuses_bad_paths(hostile_digits, capsys):
    from core.cli import main

    assert main(["report", "--index", "digits", "--concept", "x", "--out", str(hostile_digits / "r.txt")]) == 2
    assert main(["report", "--index", "digits", "--concept", "x", "--out", "/no/such/dir/r.html"]) == 2
    assert "does not exist" in capsys.readouterr().err
    for bad in ("-3", "0"):  # -3 was a numpy traceback, 0 silently meant the default
        assert main(["report", "--index", "digits", "--concept", "x", "--out", str(hostile_digits / "r.html"),
                     "--max-points", bad]) == 2
        assert f"--max-points must be at least 1, got {bad}" in capsys.readouterr().err


def test_fit_status_of_a_dead_process_is_not_alive_and_time_left_is_sane(tmp_path):
    import subprocess
    import sys
    import time

    from core.projection_auto import RUNNING, FitStatus, read_status, write_status

    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(done.stdout)
    status = FitStatus(RUNNING, dead_pid, "f", 10_000, 10_000, time.time() - 5)
    write_status("digits", tmp_path, status)
    again = read_status("digits", tmp_path)
    assert again is not None and again.pid == dead_pid and not again.alive  # a crashed fit can be restarted
    assert 1.0 <= again.seconds_left() <= 60
    again.fraction = 0.5  # halfway after 5 s: about 5 s left
    assert 3.0 <= again.seconds_left() <= 8.0
    (tmp_path / "projections" / "digits" / "fit.json").write_text("{not json")
    assert read_status("digits", tmp_path) is None
