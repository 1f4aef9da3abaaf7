"""Indexing from an embedder spec as one background job: loading the model is part of the progress.

Loading a model takes seconds (minutes the first time the int8 ONNX model is exported), so the app
runs it inside the job instead of blocking the page; the person sees "Loading st:minilm@onnx-int8…"
and can cancel. The model comes from ``cached_embedder``, so the pages share the same instance.
"""

from __future__ import annotations

from core.embedders import cached_embedder, parse_embedder_spec
from core.indexing import CancelCheck, IndexReport, Progress, ProgressCallback, build_index
from core.sources import Source
from core.store import Store


def loading_message(spec: str) -> str:
    kind, argument = parse_embedder_spec(spec)
    text = f"Loading the embedding model {kind}:{argument}…"
    if argument.endswith("@onnx-int8"):
        text += " (the first time on this machine it is converted to int8 ONNX: up to a minute)"
    return text


def build_index_from_spec(
    name: str,
    source: Source,
    embedder_spec: str,
    store: Store | None = None,
    progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
    **options,
) -> IndexReport | None:
    """Load the embedder ``embedder_spec`` names, then ``build_index``; None if cancelled while loading."""
    if progress is not None:
        progress(Progress(0, None, 0, 0, 0.0, 0.0, stage=loading_message(embedder_spec)))
    embedder = cached_embedder(embedder_spec)
    if should_cancel is not None and should_cancel():
        return None
    return build_index(name, source, embedder, store=store, progress=progress, should_cancel=should_cancel, **options)
