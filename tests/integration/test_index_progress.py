"""Text indexing reports progress while it runs (items, percent, rate, time left), not only at the end."""

from __future__ import annotations

import hashlib

import numpy as np

from core.index_job import build_index_from_spec, loading_message
from core.indexing import TEXT_CHUNK, Progress, build_index
from core.sources import parse_source
from core.store import Store


class HashTextEmbedder:
    """A deterministic text embedder (a hash per text): exact, instant, and counts its calls."""

    spec, kind, checkpoint, dim = "hash:32", "hash", "hash", 32
    modalities = frozenset({"text"})
    batch_size, device = 64, "cpu"

    def __init__(self) -> None:
        self.calls: list[int] = []

    def embed_texts(self, texts):
        self.calls.append(len(texts))
        rows = [np.frombuffer(hashlib.sha256(t.encode()).digest(), dtype=np.uint8)[:32] for t in texts]
        vectors = np.asarray(rows, dtype=np.float32) - 127.5
        return np.ascontiguousarray(vectors / np.linalg.norm(vectors, axis=1, keepdims=True))

    def embed_images(self, images):
        raise AssertionError("texts only")


def _table(tmp_path, n: int):
    path = tmp_path / "texts.csv"
    lines = [f"t{i},summary number {i} " + "word " * (i % 17) for i in range(n)]
    path.write_text("id,text\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return parse_source(f"file:{path}")


def test_text_indexing_reports_progress_every_chunk(tmp_path):
    n = 2_600
    snapshots: list[Progress] = []
    embedder = HashTextEmbedder()
    report = build_index("texts", _table(tmp_path, n), embedder, store=Store(tmp_path / "ws"),
                         progress=snapshots.append)
    assert report.added == n
    assert snapshots[0].stage.startswith("Counting")
    flowing = [p for p in snapshots if not p.stage]
    # One model call per chunk of TEXT_CHUNK texts (not one per 1,024-text batch), each followed by a snapshot.
    assert max(embedder.calls) == TEXT_CHUNK
    assert len(flowing) >= n // TEXT_CHUNK
    done = [p.done for p in flowing]
    assert done == sorted(done) and done[-1] == n
    assert all(p.total == n for p in flowing)
    mid = next(p for p in flowing if 0 < p.done < n)
    assert mid.rate > 0 and mid.eta_s is not None and mid.eta_s > 0
    text = mid.describe()
    assert f"/{n:,} items" in text and "items/s" in text and "left" in text and "%" in text


def test_sorting_by_length_inside_a_batch_keeps_every_text_with_its_own_vector(tmp_path):
    embedder = HashTextEmbedder()
    store = Store(tmp_path / "ws")
    source = _table(tmp_path, 700)
    build_index("texts", source, embedder, store=store)
    view = store.vectors("texts")
    by_id = {r.id: r.text for r in source}
    expected = embedder.embed_texts([by_id[i] for i in view.ids])
    np.testing.assert_allclose(view.matrix, expected, atol=1e-6)


def test_loading_the_model_is_a_stage_of_the_job(tmp_path):
    snapshots: list[Progress] = []
    report = build_index_from_spec("digits", parse_source("demo:digits"), "pixels:8", store=Store(tmp_path / "ws"),
                                   progress=snapshots.append)
    assert report is not None and report.added == 1797
    assert snapshots[0].stage == loading_message("pixels:8")
    assert "first time" in loading_message("st:minilm@onnx-int8")
    cancelled = build_index_from_spec("d2", parse_source("demo:digits"), "pixels:8", store=Store(tmp_path / "ws"),
                                      should_cancel=lambda: True)
    assert cancelled is None and not Store(tmp_path / "ws").has_index("d2")
