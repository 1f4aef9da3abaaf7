"""The rating batch as one browser-side component (``st.components.v2``: inline HTML/CSS/JS, no iframe).

The browser answers every key (``a``, ``x``, ``1``-``5``, ``space``, ``backspace``, arrows, ``enter``)
and keeps the ratings, in the page and in ``localStorage`` (keyed by workspace, index, concept, batch token and
a tab id kept in ``sessionStorage``), so a reload or a server restart keeps a draft, and two tabs keep one
each. On Enter or Submit it sends them once, as the trigger value ``submit``:
``{"token", "ratings": {item_id: value | None}, "rated": [ids], "nonce"}``.

Everything here except ``mount`` is pure (no Streamlit calls) and unit-tested: AppTest cannot run the
component's JavaScript, so the value it would send goes through ``parse_submission`` in tests too.
"""

from __future__ import annotations

import base64
import hashlib
import io
import math
import zlib
from dataclasses import dataclass
from typing import Any

from app.inline_component import inline_component
from app.items import DISPLAY_CHARS
from app.safe_text import neutral, one_line
from core.errors import InvalidRating, StaleBatch

COMPONENT_NAME = "fewshot_teach_batch"
COMPONENT_KEY = "teach_batch_component"
ALLOWED = (-1.0, -0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0)  # the keys' values and the slider's steps
#: Characters of an item's text sent to the page, as on every other page (the grid clamps what it shows with CSS;
#: Focus shows it all, scrolling; the tooltip holds it whole). 600 hid the rest of a longer text everywhere.
GRID_TEXT = DISPLAY_CHARS
NAME_CHARS = 300  # characters of an item's id shown on its card (whole in its tooltip up to this)
PIXEL_ART_BELOW = 96  # thumbnails smaller than this (the 32 px digits) are drawn with crisp pixels


def batch_token(round_: int, item_ids: list[str], scope: str = "") -> str:
    """The batch's identity: the round it was proposed at (``submit``'s ``expected_round``) and its items,
    within ``scope`` (the index and concept): two concepts proposing the same items at the same round get
    different tokens, so the browser never carries one concept's ratings over to the other."""
    digest = zlib.crc32("\0".join([scope, *item_ids]).encode("utf-8", "surrogatepass")) & 0xFFFFFFFF
    return f"r{int(round_)}-{digest:08x}"


def token_round(token: str) -> int:
    """The round a token was made at; ``InvalidRating`` for anything that is not a token."""
    head = str(token).split("-", 1)[0]
    if not head.startswith("r") or not head[1:].isdigit():
        raise InvalidRating(f"not a batch token: {str(token)[:40]!r}")
    return int(head[1:])


def store_key(workspace: str, index: str, concept: str) -> str:
    """The prefix of this concept's drafts in ``localStorage`` (the workspace as a digest, not a path)."""
    digest = hashlib.sha256(str(workspace).encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return "fewshot-draft|" + "|".join((digest, _safe(index), _safe(concept)))


def _safe(name: str) -> str:
    return str(name).replace("|", "%7C")


def _data_url(thumbnail: bytes) -> tuple[str | None, bool]:
    """A thumbnail as a data URL (PNG or JPEG, as stored), and whether it is tiny (the 32 px digits): the
    browser then scales it up with crisp pixels, so nothing is resized or re-encoded here."""
    from PIL import Image

    data = bytes(thumbnail)
    try:
        with Image.open(io.BytesIO(data)) as img:  # reads the header only
            fmt, side = img.format, max(img.size)
    except Exception:  # a damaged thumbnail: the item shows its id instead
        return None, False
    mime = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}.get(fmt)
    if mime is None:
        return None, False
    return f"data:{mime};base64,{base64.b64encode(data).decode()}", side < PIXEL_ART_BELOW


def item_name(item_id: Any) -> str:
    """An item's id as its card shows it (for images, the file's path relative to the indexed folder): on one
    line, bidi and other control characters made visible, at most ``NAME_CHARS``. Ids are data: the page puts
    this into the DOM through ``textContent`` and ``title`` only, never as HTML. A longer one loses its middle,
    not its end (a path's file name)."""
    name = one_line(item_id)
    if len(name) <= NAME_CHARS:
        return name
    head = NAME_CHARS // 3
    return name[:head] + "…" + name[len(name) - (NAME_CHARS - head - 1):]


def item_payload(candidate: dict, row: dict, show_label: bool) -> dict[str, Any]:
    """One item for the component: id (as sent back with its rating), name (the id as shown), thumbnail (data
    URL) or text (shortened), score, p, label."""
    img, pixelated = (None, False)
    if row.get("thumbnail"):
        img, pixelated = _data_url(row["thumbnail"])
    text = row.get("text")
    if img is None and text is None:
        text = str(row.get("uri") or candidate["item_id"])
    if text is not None:
        text = str(text)
        if len(text) > GRID_TEXT:
            text = text[:GRID_TEXT] + "…"
        text = neutral(text)  # shown through textContent; bidi controls would still reorder it
    score = float(candidate["score"])
    probability = float(candidate["probability"])
    return {
        "id": str(candidate["item_id"]),
        "name": item_name(candidate["item_id"]),
        "img": img,
        "pixelated": pixelated,
        "text": None if img is not None else text,
        "score": score if math.isfinite(score) else 0.0,
        "p": probability if math.isfinite(probability) else 0.5,
        "label": None if not show_label or candidate.get("label") is None else neutral(candidate["label"]),
    }


@dataclass(frozen=True)
class Submission:
    """A batch as the browser sent it, checked: ratings for this batch's items only, in [-1, 1] or None."""

    token: str
    expected_round: int
    ratings: dict[str, float | None]
    nonce: str


def parse_submission(value: Any, token: str, item_ids: list[str]) -> Submission:
    """Check what the component sent against the batch on screen (``token``, ``item_ids``).

    ``StaleBatch`` when it was for another batch (a second Enter, a stale page); ``InvalidRating`` when it
    is malformed (unknown item, a value off the scale). Untouched items arrive as skips (None) or, with
    prefilled guesses, at the guess; items missing from the payload are left out.
    """
    if not isinstance(value, dict):
        raise InvalidRating("the batch arrived malformed: nothing was written; press Enter to send it again")
    sent = value.get("token")
    if not isinstance(sent, str):
        raise InvalidRating("the batch arrived without its token: nothing was written")
    sent_round = token_round(sent)
    if sent != token:
        raise StaleBatch(
            f"that batch (round {sent_round}) is no longer the one on screen (it was submitted already, or another "
            "tab moved on): nothing was written; every rating committed so far is kept"
        )
    raw = value.get("ratings")
    if not isinstance(raw, dict) or not raw:
        raise InvalidRating("the batch is empty: rate or skip at least one item")
    known = set(item_ids)
    ratings: dict[str, float | None] = {}
    for item_id in item_ids:  # the batch's order, whatever order the browser used
        if item_id not in raw:
            continue
        number = raw[item_id]
        if number is None:
            ratings[item_id] = None
            continue
        if isinstance(number, bool) or not isinstance(number, int | float) or not math.isfinite(number):
            raise InvalidRating(f"rating for {item_id!r} is not a number: {number!r}")
        if not any(abs(float(number) - a) < 1e-9 for a in ALLOWED):
            raise InvalidRating(f"rating for {item_id!r} must be one of the scale's steps, got {number!r}")
        ratings[item_id] = float(number)
    stray = [k for k in raw if k not in known]
    if stray:
        raise InvalidRating(f"{len(stray)} rated item(s) are not in this batch: {', '.join(map(repr, stray[:3]))}")
    nonce = value.get("nonce")
    return Submission(token=sent, expected_round=sent_round, ratings=ratings,
                      nonce=str(nonce)[:40] if nonce is not None else "")


def component_data(*, token: str, items: list[dict], store_prefix: str, caption: str, prefill: bool,
                   show_label: bool, draft: dict | None = None, committed: list[str] | None = None,
                   outcome: dict | None = None, counters: dict | None = None) -> dict[str, Any]:
    """Everything the component draws, as JSON: see ``app/teach_batch.js``. ``counters``: where the concept
    stands (``app.teach_side.counters``), drawn as text above the batch."""
    return {"token": token, "items": items, "store_key": store_prefix, "caption": caption, "prefill": bool(prefill),
            "show_label": bool(show_label), "draft": draft, "committed": list(committed or []), "outcome": outcome,
            "view": "grid", "counters": counters}


def mount(data: dict[str, Any], on_submit) -> Any:
    """Draw the batch; ``on_submit`` runs (before the page's script) when the browser sends a batch."""
    component = inline_component(COMPONENT_NAME, "teach-root", "teach_batch")
    return component(key=COMPONENT_KEY, data=data, on_submit_change=on_submit, height="content")
