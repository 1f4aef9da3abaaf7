"""The batch being rated: which items, its token, and what happens when the browser sends it.

The rating itself happens in the browser (``app/teach_component.py``); the server only learns the
ratings once, on Enter or Submit. State lives in ``st.session_state`` under ``teach_*`` keys:

- ``teach_batch``: the candidates on screen (dicts: item_id, score, probability, label, row);
- ``teach_token``: their token (round proposed at + items), checked on submit;
- ``teach_items``: the same items as the component draws them (data URLs, shortened texts);
- ``teach_draft``: an undone round's ratings, offered to the browser once as the draft;
- ``teach_committed``: tokens this session committed, so the browser can forget their drafts;
- ``teach_outcome`` / ``teach_message``: the last refused or failed submission, shown as text.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict
from typing import Any

import streamlit as st

from app.state import get_store, selected_concept, selected_index
from app.teach_component import (
    COMPONENT_KEY,
    batch_token,
    component_data,
    item_payload,
    mount,
    parse_submission,
    store_key,
    token_round,
)
from core.config import workspace_uri
from core.errors import FewshotError, StaleBatch
from core.session import ORIGIN_MAP_ALL, UNDONE_REASON, Candidate, TeachSession

_SESSION = "teach_session_object"
_FRESH = "teach_session_fresh"  # set by a successful submit: the next run's get_session needs no check
_METRICS = "teach_round_metrics"  # ((index, concept, round), [metrics of rounds 0..round])


def new_batch() -> None:
    """Forget the batch on screen, so the next run asks the session for a fresh one."""
    st.session_state["teach_batch_no"] = st.session_state.get("teach_batch_no", 0) + 1


def batch_key(index: str, identity: str) -> str:
    """Which batch is on screen: the concept by identity (``ConceptInfo.identity``), so a rename keeps it."""
    return f"{index}/{identity}/{st.session_state.get('teach_batch_no', 0)}"


def needs_batch(index: str, identity: str) -> bool:
    return st.session_state.get("teach_batch_key") != batch_key(index, identity)


def propose(session: TeachSession) -> list[Candidate]:
    """The batch to show: an undone round's items again (their ratings become the draft), else the next
    batch, seeded by the round so a reload or a restarted server proposes the same items."""
    undone = st.session_state.pop("teach_undone", None)
    held = session.held_ratings()  # kept with the concept: every browser gets them, not only the one that undid
    ratings, nonce = (held if held else (None, ""))
    if not ratings and undone and undone.get("round") == session.round and undone.get("ratings"):
        ratings = undone["ratings"]
    if ratings:
        try:
            batch = session.candidates(list(ratings))
        except FewshotError:
            batch = []
        if batch:
            # one nonce per undo: a browser applies these ratings once, then keeps its own edits (a reload too)
            st.session_state["teach_pending_draft"] = {"nonce": nonce or uuid.uuid4().hex, "ratings": ratings}
            st.session_state["teach_pending_reason"] = UNDONE_REASON
            _defer_refused()
            return batch
    batch = session.next_batch()  # seeded by the round (``core.session.batch_seed``), as the CLI's
    st.session_state["teach_pending_reason"] = session.last_policy_reason
    _carry_refused(batch, session)
    return batch


def _defer_refused() -> None:
    """A batch refused because an undo elsewhere moved the concept back: the undone round is shown first, so its
    typed ratings wait for a later batch that shows their items. Say so now, where "there" still means something
    (a tester met them a round later under a message about a batch he no longer saw)."""
    refused = st.session_state.get("teach_carry")
    if not refused or st.session_state.get("teach_carry_deferred"):
        return
    n = len(refused)
    st.session_state["teach_carry_deferred"] = True
    st.session_state["teach_message"] = (st.session_state.get("teach_message") or "") + (
        f" The {n} rating{'s' * (n != 1)} typed there {'were' if n != 1 else 'was'} not written: the undone round "
        f"comes first, and {'they come' if n != 1 else 'it comes'} back as a draft if a later batch shows "
        f"{'their items' if n != 1 else 'its item'}.")


def _carry_refused(batch: list[Candidate], session: TeachSession) -> None:
    """Ratings of a batch refused because another tab or the Map moved the concept on: those of items the new
    batch shows again become its draft (an outside tester lost everything he had typed in such a race)."""
    refused = st.session_state.pop("teach_carry", None)
    deferred = st.session_state.pop("teach_carry_deferred", False)
    if not refused:
        return
    kept = {c.item_id: refused[c.item_id] for c in batch if c.item_id in refused}
    if not kept and deferred:  # already told they were not written
        return
    if not kept:
        n = len(refused)
        st.session_state["teach_message"] = (st.session_state.get("teach_message") or "") + (
            f" The {n} rating{'s' * (n != 1)} typed there {'were' if n != 1 else 'was'} not written: none of "
            f"{'their' if n != 1 else 'its'} items is in the batch now shown.") + _disagreements(refused, session)
        return
    st.session_state["teach_pending_draft"] = {"nonce": uuid.uuid4().hex, "ratings": kept}
    n = len(kept)
    where = "before the undo" if deferred else "there"
    note = (f" {n} of the ratings typed {where} {'are' if n != 1 else 'is'} on item{'s' * (n != 1)} of the batch "
            "now shown, kept as its draft: check and submit.")
    note += _disagreements({i: v for i, v in refused.items() if i not in kept}, session)
    st.session_state["teach_message"] = (st.session_state.get("teach_message") or "") + note


#: How many items a refusal names whose committed rating differs from the one typed in the refused batch.
DISAGREEMENTS_NAMED = 3


def _disagreements(refused: dict[str, float], session: TeachSession) -> str:
    """Which refused ratings the round written first contradicts, or skipped (a tester's second tab rated item 1 -1
    where the first had +1, and nothing said so; a skipped item is seen, so never proposed again): the person can
    then undo that round, or let it stand."""
    ratings = session.ratings()
    committed = dict(zip(ratings.item_ids.tolist(), ratings.ratings.tolist(), strict=True))
    round_of = dict(zip(ratings.item_ids.tolist(), ratings.rounds.tolist(), strict=True))
    skipped = session.seen_ids() - set(committed)  # skipped there: seen now, so never proposed again
    differ = [(i, committed.get(i), v) for i, v in refused.items()
              if (i in committed and abs(committed[i] - v) > 1e-6) or i in skipped]
    if not differ:
        return ""
    named = "; ".join(f"{i!r}: {'skipped' if was is None else _signed(was) + ' written'}, {_signed(typed)} typed here"
                      for i, was, typed in differ[:DISAGREEMENTS_NAMED])
    more = f" and {len(differ) - DISAGREEMENTS_NAMED} more" if len(differ) > DISAGREEMENTS_NAMED else ""
    n = len(differ)
    rounds = sorted({int(round_of[i]) for i, _, _ in differ if i in round_of})
    latest = session.round
    # Undo takes back only the latest round: say so when the contradicting round is older (a re-tester undid
    # an unrelated round 2 on this advice while round 1 held the contradictions)
    if rounds and rounds[0] < latest:
        advice = (f"they were written in round {rounds[0]}, and Undo last round takes back round {latest} first, "
                  f"so it would take {latest - rounds[0] + 1} undos to reach them")
    else:
        advice = "Undo last round takes that round back if this tab's ratings were the right ones"
    return (f" {n} of them {'were' if n != 1 else 'was'} rated otherwise in a round written first ({named}{more}); "
            f"{advice}.")


def _signed(value: float) -> str:
    return f"{value:+g}"


def start_batch(session: TeachSession, batch: list[Candidate]) -> None:
    """Make ``batch`` the one on screen, with a token that carries the round it was proposed at."""
    rows = {r["id"]: r for r in get_store().fetch_items(session.index, [c.item_id for c in batch])}
    candidates = [{**asdict(c), "row": rows.get(c.item_id, {"id": c.item_id})} for c in batch]
    # The concept's identity, not its name: a rename keeps the batch's token, so its draft survives.
    # A drop of an undone round's items (*Propose a new batch instead*) makes the batch another one, even when the
    # strategy picks the same items: their draft in the browser must not come back.
    generation = session.batch_generation()
    scope = f"{session.index}\0{session.concept.identity}" + (f"\0fresh{generation}" if generation else "")
    token = batch_token(session.round, [c.item_id for c in batch], scope=scope)
    # A batch on screen again (an undone round) is no longer committed: the browser must keep its draft.
    committed = [t for t in st.session_state.get("teach_committed") or [] if t != token]
    st.session_state.update(
        teach_batch_key=batch_key(session.index, session.concept.identity),
        teach_batch=candidates,
        teach_token=token,
        teach_committed=committed,
        teach_items=[item_payload(c, c["row"], show_label=True) for c in candidates],
        teach_draft=st.session_state.pop("teach_pending_draft", None),
        teach_reason=st.session_state.pop("teach_pending_reason", None),
    )


def batch_reason(session: TeachSession) -> str:
    """Why the batch on screen was chosen: as ``next_batch`` said when it proposed it (no second read of
    the ratings), else (an undone round shown again) what the policy says now."""
    return st.session_state.get("teach_reason") or session.batch_reason()


def round_metrics(session: TeachSession) -> list[dict]:
    """Each round's metrics, oldest first, for the counters: read from the checkpoints once, then kept in
    step by this session's own submits (``submit_value`` appends the round it wrote), so the run after a
    submit does not read the whole history again. Read again whenever the round is not the one kept."""
    key = (session.index, session.concept.name, session.round)
    kept = st.session_state.get(_METRICS)
    if kept is None or kept[0] != key:
        kept = (key, [dict(c.metrics) for c in session.history()])
        st.session_state[_METRICS] = kept
    return kept[1]


def get_session(index: str, concept: str, verify: bool = True) -> TeachSession:
    """This browser session's ``TeachSession``, kept between runs while no other writer moved the concept
    on (one small read), so a submit and the next batch do not reopen it (20-60 ms each).

    ``verify=False`` skips that read: for a submit, whose own check under the concept's lock refuses a
    batch another writer overtook; and for the run right after this session's own submit (flagged by
    ``submit_value``), whose session is the one that just wrote the latest round.
    """
    store = get_store()
    cached = st.session_state.get(_SESSION)
    fresh = st.session_state.pop(_FRESH, False)
    if (cached is not None and cached.store is store and cached.index == index and cached.concept.name == concept
            and (not verify or fresh or cached.teach.checkpoint_round(index, concept) == cached.round)):
        return cached
    session = TeachSession.open(index, concept, store=store)
    st.session_state[_SESSION] = session
    return session


def submit_value(value: Any) -> bool:
    """Commit what the browser sent (the component's ``submit`` trigger); True when it was written.

    Exactly once: the token must be the batch on screen and its round the concept's latest
    (``TeachSession.submit(expected_round=...)``), so a second Enter, a second tab or a stale page is
    refused with a message and writes nothing.
    """
    index, concept = selected_index(), selected_concept()
    batch = st.session_state.get("teach_batch") or []
    token = st.session_state.get("teach_token", "")
    nonce = value.get("nonce") if isinstance(value, dict) else None
    started = time.perf_counter()
    submission = None
    try:
        if not index or not concept:
            raise FewshotError("no concept selected: pick one in the sidebar")
        submission = parse_submission(value, token, [c["item_id"] for c in batch])
        session = get_session(index, concept, verify=False)
        kept = st.session_state.get(_METRICS)
        result = session.submit(submission.ratings, expected_round=submission.expected_round)
    except StaleBatch as exc:
        moved = renamed_elsewhere(index, concept) if submission is not None else None
        if moved is not None:  # renamed in another tab: the same batch goes to it under its new name
            result = _submit_renamed(index, moved, submission, nonce)
            if result is None:
                return False
            concept, kept = moved, None
            return _committed(index, concept, kept, result, token, started)
        if submission is not None:  # this batch was current here, but another writer moved the concept on
            st.session_state["teach_carry"] = {k: v for k, v in submission.ratings.items() if v is not None}
        _refused(f"{exc} The page now shows the current batch.", nonce)
        st.session_state.pop(_SESSION, None)  # another writer moved on: reopen (settings, seen mark) next run
        new_batch()  # show the current batch
        return False
    except FewshotError as exc:
        _refused(str(exc), nonce)
        return False
    except Exception as exc:  # noqa: BLE001 - the browser must learn the batch did not go through
        _refused(f"submitting failed ({type(exc).__name__}: {exc}). Whatever was written is kept; reload the "
                 "page to see where the concept stands.", nonce)
        st.session_state.pop(_SESSION, None)
        new_batch()
        return False
    return _committed(index, concept, kept, result, token, started)


def _committed(index: str, concept: str, kept: Any, result: Any, token: str, started: float) -> bool:
    """After a batch was written: keep the counters in step, let the browser forget its draft, ask for the next."""
    if kept is not None and kept[0] == (index, concept, result.round - 1):
        st.session_state[_METRICS] = ((index, concept, result.round), [*kept[1], dict(result.metrics)])
    else:
        st.session_state.pop(_METRICS, None)
    committed = (st.session_state.get("teach_committed") or [])[-9:] + [token]
    st.session_state.update(teach_committed=committed, teach_outcome=None, teach_message=None,
                            teach_submit_started=started, **{_FRESH: True})
    new_batch()
    return True


def _submit_renamed(index: str, concept: str, submission: Any, nonce: Any) -> Any:
    """The batch, to the concept another tab renamed, under its new name (its token is by identity, so it is the
    same batch); None, with the page told why, when that fails too."""
    try:
        session = get_session(index, concept, verify=False)
        return session.submit(submission.ratings, expected_round=submission.expected_round)
    except FewshotError as exc:
        _refused(str(exc), nonce)
        st.session_state.pop(_SESSION, None)
        new_batch()
        return None


def renamed_elsewhere(index: str | None, concept: str | None) -> str | None:
    """The new name of the concept this page had open, when another tab or process renamed it (else None); the
    whole page reruns next (``teach_full_rerun``), so the sidebar shows it."""
    from app.sidebar import follow_moved

    cached = st.session_state.get(_SESSION)
    if not index or not concept or cached is None or cached.index != index or cached.concept.name != concept:
        return None
    moved = follow_moved(index, concept, cached.concept.identity)
    if moved is not None:
        st.session_state.pop(_SESSION, None)
        st.session_state["teach_full_rerun"] = True
    return moved


def _refused(message: str, nonce: Any) -> None:
    st.session_state["teach_message"] = message
    st.session_state["teach_outcome"] = {"nonce": str(nonce or uuid.uuid4().hex)[:40], "ok": False}


def _on_submit() -> None:
    state = st.session_state.get(COMPONENT_KEY)
    value = state.get("submit") if hasattr(state, "get") else None
    if value is not None:
        submit_value(value)


def shown_round(session: TeachSession) -> int:
    """The round the page is at: the one the batch on screen was proposed at (its token says), else the session's.

    An undo names it, so it removes the round this page showed, never one another tab or the Map wrote since (an
    outside tester's Undo removed the Map's newer round: the page had re-read the round just before)."""
    token = st.session_state.get("teach_token")
    try:
        return token_round(token) if token else session.round
    except FewshotError:
        return session.round


def undo_round(session: TeachSession, expected_round: int | None = None) -> None:
    """Undo the last round (only if it is still the latest) and offer its ratings again as the draft (a Map
    "rate all selected" round is not offered again: ``TeachSession.undo``; the page says so instead)."""
    expected_round = session.round if expected_round is None else expected_round
    undone_round = session.round
    session.undo(expected_round=expected_round)
    st.session_state["teach_undone"] = {"round": session.round, "ratings": dict(session.undone)}
    if session.undone_origin == ORIGIN_MAP_ALL:
        st.session_state["teach_notice"] = (f"Undid round {undone_round}, rated all at once on the Map: its items are "
                                            "unrated again (not offered back as a batch).")
    new_batch()


def drop_undone(session: TeachSession) -> None:
    """*Propose a new batch instead*: forget the undone round's items on screen and their draft."""
    session.drop_held()
    st.session_state.pop("teach_undone", None)
    new_batch()


def render_batch(index: str, identity: str, caption: str, prefill: bool, show_label: bool,
                 counters: dict | None = None) -> None:
    """The component: every key answered in the browser, the batch sent once on Enter or Submit; it also
    draws ``counters`` (``app.teach_side.counters``), so a submit redraws them with the batch."""
    items = st.session_state.get("teach_items") or []
    if not show_label:
        items = [{**item, "label": None} for item in items]
    data = component_data(
        token=st.session_state.get("teach_token", ""), items=items,
        store_prefix=store_key(workspace_uri(), index, identity), caption=caption, prefill=prefill,
        show_label=show_label, draft=st.session_state.get("teach_draft"),
        committed=st.session_state.get("teach_committed"), outcome=st.session_state.get("teach_outcome"),
        counters=counters)
    mount(data, _on_submit)
