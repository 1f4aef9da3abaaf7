"""The replay as one binary payload for the Map's canvas component (``app/map_canvas.js``).

Why not a Plotly figure at scale: measured on 2 cores in headless Chromium, Plotly's scattergl took
3.1 s to draw 100k points and 3.9 s per replay step (``Plotly.animate`` recomputes every point), 15 s
and 24 s at 1M. The canvas component gets every round at once as raw bytes (no JSON, no base64: the
websocket carries them as they are), draws points into an ``ImageData`` buffer and recolours a round
from its uint8 colour codes in the browser, with no server round trip.

Layout (little endian): ``b"FSM1"``, uint32 header length, the header (UTF-8 JSON, padded to 4 bytes),
then the arrays the header's ``arrays`` names as ``[offset, count, dtype]`` (offsets 4-byte aligned):

- ``x``, ``y``: uint16 (m,) positions of the drawn rows on a 65,535-step grid over ``header["extent"]``
  (``[x0, y0, x1, y1]``): half the bytes of float32, and still 1/65,535 of the map (finer than a pixel even
  zoomed in 30x)
- ``codes``: uint8 (r - codes_from, m) each round's score as a colour code 0..255 (``Replay.color_codes``) over
  that round's own span ``header["spans"][i]`` (logits; its threshold's code: ``header["threshold_codes"][i]``),
  from round position ``header["codes_from"]`` on (0: every round; see ``latest_only``)
- ``flip_at``: uint32 (r + 1,) offsets into ``flips``; ``flips``: uint32 positions flipped at each round (capped)
- ``label_codes``: uint8 (m,) index into ``header["labels"]`` (255: no label), for hover
- ``id_at``: uint32 (m + 1,) offsets into ``id_bytes`` (UTF-8 item ids), only up to ``MAX_IDS`` points

Text in the header (captions, labels) is plain text: the component shows it with ``textContent`` only.
"""

from __future__ import annotations

import hashlib
import json
import struct
from typing import Any

import numpy as np

from core.replay import Replay, round_caption
from core.text_safety import neutral

MAGIC = b"FSM1"
MAX_IDS = 100_000  # item ids travel for hover up to this many points (~10 B each)
MAX_FLIPS = 5_000  # per round, the highest-scoring flips (as the Plotly replay)
MAX_LABELS = 254
NO_LABEL = 255
STOPS = ("#E69F00", "#E8E8E8", "#0072B2")  # Okabe-Ito orange (negative), light grey (0), blue (positive)


def point_size(m: int) -> int:
    """Pixels per point side (CSS px): smaller as the map fills up."""
    return 5 if m <= 5_000 else 4 if m <= 50_000 else 3 if m <= 300_000 else 2


def _flips(replay: Replay) -> tuple[np.ndarray, np.ndarray]:
    picks = []
    for i, flipped in enumerate(replay.flipped):
        if len(flipped) > MAX_FLIPS:
            top = np.argpartition(-replay.scores[i, flipped], MAX_FLIPS - 1)[:MAX_FLIPS]
            flipped = np.sort(flipped[top])
        picks.append(np.asarray(flipped, dtype=np.uint32))
    at = np.zeros(len(picks) + 1, dtype=np.uint32)
    at[1:] = np.cumsum([len(p) for p in picks])
    return at, (np.concatenate(picks) if picks else np.zeros(0, np.uint32)).astype(np.uint32)


def _labels(labels: np.ndarray | None) -> tuple[list[str], np.ndarray | None]:
    """Label names (most frequent first, at most MAX_LABELS) and each point's code (NO_LABEL: none/other)."""
    import pandas as pd

    if labels is None or not len(labels):
        return [], None
    inverse, uniques = pd.factorize(pd.Series(labels, dtype=object).map(lambda v: None if v is None else str(v)))
    counts = np.bincount(inverse[inverse >= 0], minlength=len(uniques))
    order = np.argsort(-counts, kind="stable")[:MAX_LABELS]
    code_of = np.full(len(uniques) + 1, NO_LABEL, dtype=np.uint8)  # the last slot: no label (-1)
    code_of[order] = np.arange(len(order), dtype=np.uint8)
    return [neutral(uniques[i]) for i in order], code_of[inverse]  # bidi controls shown, not obeyed


def _ids(ids: np.ndarray) -> tuple[np.ndarray, bytes]:
    encoded = [neutral(i).encode("utf-8", "surrogatepass") for i in ids]  # hover text only: bidi controls shown
    at = np.zeros(len(encoded) + 1, dtype=np.uint32)
    at[1:] = np.cumsum([len(e) for e in encoded])
    return at, b"".join(encoded)


def quantize(xy: np.ndarray) -> tuple[list[float], np.ndarray, np.ndarray]:
    """([x0, y0, x1, y1], qx, qy): positions as uint16 steps over their bounding box (NaN: the box's corner)."""
    xy = np.nan_to_num(np.asarray(xy, dtype=np.float64).reshape(-1, 2))
    lo = xy.min(axis=0) if len(xy) else np.zeros(2)
    hi = xy.max(axis=0) if len(xy) else np.ones(2)
    step = np.where(hi > lo, (hi - lo) / 65535.0, 1.0)
    q = np.rint((xy - lo) / step).clip(0, 65535).astype(np.uint16)
    return [float(lo[0]), float(lo[1]), float(lo[0] + step[0] * 65535), float(lo[1] + step[1] * 65535)], \
        np.ascontiguousarray(q[:, 0]), np.ascontiguousarray(q[:, 1])


def positions(header: dict[str, Any], arrays: dict[str, np.ndarray]) -> np.ndarray:
    """(m, 2) float positions back from a payload's uint16 grid (what the browser draws)."""
    x0, y0, x1, y1 = header["extent"]
    return np.stack([x0 + arrays["x"] * ((x1 - x0) / 65535.0), y0 + arrays["y"] * ((y1 - y0) / 65535.0)], axis=1)


def _finite(values: np.ndarray) -> list[list[float] | None]:
    return [[float(x), float(y)] if np.isfinite(x) and np.isfinite(y) else None for x, y in values]


def replay_parts(replay: Replay, ids: np.ndarray | None = None, labels: np.ndarray | None = None,
                 height: int = 680) -> tuple[dict[str, Any], list[tuple[str, Any, str]]]:
    """(header, arrays) of every round of ``replay``: the costly part, the same whichever round is shown first.

    ``ids``/``labels``: (m,) aligned with ``replay.rows`` (hover); ids are sent only up to ``MAX_IDS`` points.
    """
    m, r = len(replay.rows), len(replay.rounds)
    spans = replay.spans()  # each round's own colour span (a calm round is not washed out by a wild one)
    codes = np.stack([replay.color_codes(i, spans[i]) for i in range(r)]) if r else np.zeros((0, m), np.uint8)
    flip_at, flips = _flips(replay) if r else (np.zeros(1, np.uint32), np.zeros(0, np.uint32))
    names, label_codes = _labels(labels)
    extent, qx, qy = quantize(replay.xy)
    arrays: list[tuple[str, Any, str]] = [
        ("x", qx, "u2"), ("y", qy, "u2"),
        ("codes", codes.astype(np.uint8).ravel(), "u1"), ("flip_at", flip_at, "u4"), ("flips", flips, "u4"),
    ]
    if label_codes is not None:
        arrays.append(("label_codes", label_codes, "u1"))
    if ids is not None and m <= MAX_IDS:
        id_at, id_bytes = _ids(ids)
        arrays += [("id_at", id_at, "u4"), ("id_bytes", id_bytes, "u1")]
    texts = [f"w, round {replay.rounds[j]}" + (f" · AP {replay.ap[j]:.3f}" if replay.ap[j] is not None else "")
             + (f" · {replay.n_ratings[j]} ratings" if replay.n_ratings[j] is not None else "") for j in range(r)]
    header: dict[str, Any] = {
        "m": m, "rounds": [int(x) for x in replay.rounds], "captions": [round_caption(replay, i) for i in range(r)],
        "w_xy": _finite(replay.w_xy), "w_text": texts, "spans": spans,
        "threshold_codes": [replay.threshold_code(i, spans[i]) for i in range(r)],
        "stops": list(STOPS), "size": point_size(m), "height": int(height), "labels": names,
        "extent": extent, "uid": _uid(arrays, height), "codes_from": 0,
    }
    return header, arrays


def replay_payload(replay: Replay, ids: np.ndarray | None = None, labels: np.ndarray | None = None,
                   start: int | None = None, height: int = 680,
                   parts: tuple[dict[str, Any], list[tuple[str, Any, str]]] | None = None) -> bytes:
    """Every round of ``replay`` for the canvas component, round position ``start`` (default: the latest) first.

    ``parts``: ``replay_parts(...)`` already computed (the page caches them; only the start round differs).
    """
    header, arrays = parts if parts is not None else replay_parts(replay, ids, labels, height)
    r = len(header["rounds"])
    return pack(dict(header, start=r - 1 if start is None else int(np.clip(start, 0, max(r - 1, 0)))), arrays)


def latest_only(parts: tuple[dict[str, Any], list[tuple[str, Any, str]]]) -> tuple[dict[str, Any], list]:
    """The parts with only the latest round's colour codes (``header["codes_from"]`` = that round's position).

    Why: at 1M points every round costs 1 MB; the page paints the latest round from these first and
    asks for the rest straight away (``app/map_canvas.js``), so the map shows before all rounds arrive.
    """
    header, arrays = parts
    r, m = len(header["rounds"]), header["m"]
    if r <= 1:
        return parts
    cut = [(name, a[(r - 1) * m:] if name == "codes" else a, dtype) for name, a, dtype in arrays]
    return dict(header, codes_from=r - 1), cut


def _uid(arrays: list[tuple[str, Any, str]], height: int) -> str:
    """A digest of the points and rounds: the browser redraws from scratch only when it changes."""
    digest = hashlib.blake2b(str(height).encode(), digest_size=8)
    for name, a, _ in arrays:
        digest.update(name.encode())
        digest.update(a if isinstance(a, bytes) else np.ascontiguousarray(a).tobytes())
    return digest.hexdigest()


def pack(header: dict[str, Any], arrays: list[tuple[str, Any, str]]) -> bytes:
    """The payload bytes: magic, header length, header (with the ``arrays`` offsets), arrays."""
    blobs = [(name, a if isinstance(a, bytes) else np.ascontiguousarray(a).tobytes(), dtype)
             for name, a, dtype in arrays]
    body = dict(header, arrays={})
    size = {"f4": 4, "u4": 4, "u2": 2, "u1": 1}
    # The header's length changes with the offsets written into it: lay out twice with a generous estimate.
    estimate = len(json.dumps(body)) + 64 * len(blobs) + 64
    offset = 8 + estimate + (-estimate) % 4
    for name, blob, dtype in blobs:
        body["arrays"][name] = [offset, len(blob) // size[dtype], dtype]
        offset += len(blob) + (-len(blob)) % 4
    text = json.dumps(body, allow_nan=False).encode("utf-8")
    if len(text) > estimate:
        raise ValueError("canvas payload header grew past its estimate")
    text += b" " * (estimate + (-estimate) % 4 - len(text))
    parts = [MAGIC, struct.pack("<I", len(text)), text]
    for _, blob, _ in blobs:
        parts += [blob, b"\0" * ((-len(blob)) % 4)]
    return b"".join(parts)


def unpack(payload: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The header and arrays of a payload (what the browser reads; used by tests and the benchmark)."""
    if payload[:4] != MAGIC:
        raise ValueError("not a canvas payload")
    (length,) = struct.unpack("<I", payload[4:8])
    header = json.loads(payload[8 : 8 + length])
    arrays = {name: np.frombuffer(payload, dtype=np.dtype(dtype), count=count, offset=offset)
              for name, (offset, count, dtype) in header["arrays"].items()}
    return header, arrays
