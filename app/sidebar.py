"""The sidebar every page shares: pick the index and the concept; rename or delete a concept."""

from __future__ import annotations

import streamlit as st

from app.items import plain
from app.safe_text import choices, one_line, shorten
from app.state import CONCEPT_KEY, INDEX_KEY, get_store, select
from core.errors import FewshotError
from core.teach_store import TeachStore

IDENTITY_KEY = "selected_concept_identity"  # (index, name, identity) of the concept selected on the last run


def render_sidebar() -> None:
    store = get_store()
    infos = store.list_indexes()
    with st.sidebar:
        st.markdown("### Workspace")
        if not infos:
            st.caption("No index yet: build one on the Index page.")
            st.session_state[INDEX_KEY] = None
            st.session_state[CONCEPT_KEY] = None
            return
        names = [i.name for i in infos]
        linked = _from_link()
        if st.session_state.get(INDEX_KEY) not in names:
            st.session_state[INDEX_KEY] = linked[0] if linked[0] in names else names[-1]
        if linked[0] is not None and linked[0] not in names:
            _note_missing(f"The link names index '{_short(linked[0])}', which this workspace does not hold", INDEX_KEY)
        counts = {i.name: store.stored_items(i) for i in infos}  # an unfinished build: its rows so far
        shown = choices(names)  # names come from the workspace: shown through the one rule
        index = _mirrored_selectbox("Index", names, INDEX_KEY,
                                    format_func=lambda n: f"{shown(n)} ({counts.get(n, 0):,} items)")
        try:
            teach = TeachStore(store)
            held = teach.concepts(index)
        except FewshotError as exc:  # e.g. a workspace written by a newer version of the app
            st.error(plain(str(exc)))
            st.session_state[CONCEPT_KEY] = None
            return
        concepts = [c.name for c in held]
        _follow_elsewhere(index, held)
        if st.session_state.get(CONCEPT_KEY) not in concepts:
            wanted = linked[1] if linked[0] == index else None
            st.session_state[CONCEPT_KEY] = wanted if wanted in concepts else (concepts[-1] if concepts else None)
        if linked[1] is not None and linked[0] == index and linked[1] not in concepts:
            _note_missing(f"The link names concept '{_short(linked[1])}', which index '{_short(index)}' does not "
                          "hold (renamed or deleted?)", CONCEPT_KEY)
        _show_missing()
        if concepts:
            _mirrored_selectbox("Concept", concepts, CONCEPT_KEY, format_func=choices(concepts))
        else:
            st.caption("No concept on this index yet: start one on the Teach page.")
        concept = st.session_state.get(CONCEPT_KEY)
        identity = next((c.identity for c in held if c.name == concept), None)
        st.session_state[IDENTITY_KEY] = (index, concept, identity)  # whatever it is called later
        _to_link(index, concept)
        if concept:
            _manage_concept(teach, index, concept)


def follow_moved(index: str, name: str, identity: str) -> str | None:
    """``name`` is gone from ``index`` but its concept (``identity``) lives on under another name: select that one,
    leave the sidebar's note, and return the new name (else None). For a page part that reruns without the
    sidebar: a Teach batch's Enter after a rename elsewhere ended on "no concept" (a re-tester)."""
    teach = TeachStore(get_store())
    if teach.concept(index, name) is not None:
        return None
    now = next((c.name for c in teach.concepts(index) if c.identity == identity), None)
    if now is None:
        return None
    _follow_rename(index, name, now, identity)
    return now


def _follow_rename(index: str, name: str, now: str, identity: str) -> None:
    """Select the concept once called ``name``, now ``now``, and leave the sidebar's note saying so."""
    st.session_state[CONCEPT_KEY] = now
    st.session_state[IDENTITY_KEY] = (index, now, identity)
    st.session_state["sidebar_link_missing"] = (
        f"Concept '{_short(name)}' was renamed to '{_short(now)}' in another tab or process; following it.",
        CONCEPT_KEY, now)


def _follow_elsewhere(index: str, held: list) -> None:
    """The concept selected here, renamed, deleted or replaced in another tab or process since the last run.

    Renamed: follow it by its identity. Deleted (or deleted and made again under its name): say so. An outside
    tester's page silently fell back to another concept, and its Map rated a selection into it; the sidebar
    had also kept listing the old name, so the renamed concept could not be picked."""
    name = st.session_state.get(CONCEPT_KEY)
    remembered = st.session_state.get(IDENTITY_KEY)
    # only the concept shown last run, still selected here (a pick in the sidebar or a new concept is not this)
    if not name or not remembered or tuple(remembered)[:2] != (index, name) or remembered[2] is None:
        return
    by_identity = {c.identity: c.name for c in held}
    now = by_identity.get(remembered[2])
    if now == name:
        return
    if now is not None:
        _follow_rename(index, name, now, remembered[2])
        return
    replaced = name in {c.name for c in held}
    if not replaced:
        st.session_state[CONCEPT_KEY] = None  # the fallback below picks one, and the note names it
    shown = name if replaced else (held[-1].name if held else None)
    what = "deleted and made again" if replaced else "deleted"
    instead = f"; showing '{_short(shown)}'" if shown else ""
    st.session_state["sidebar_link_missing"] = (
        f"Concept '{_short(name)}' was {what} in another tab or process{instead}.", CONCEPT_KEY, shown)


def _from_link() -> tuple[str | None, str | None]:
    """The index and concept named in the page's address (``?index=...&concept=...``), once per browser session:
    a reload (which starts a new session) comes back to the concept it was on. Only names the workspace holds
    are used; anything else in the address is ignored."""
    if st.session_state.get("sidebar_link_read"):
        return None, None
    st.session_state["sidebar_link_read"] = True
    params = st.query_params
    return params.get("index"), params.get("concept")


def _note_missing(what: str, key: str) -> None:
    """Remember that the address named something that is not there, and what was opened instead, so the
    sidebar says so (a wrong or old link used to open another concept without a word)."""
    shown = st.session_state.get(key)
    instead = f"; showing '{_short(shown)}' instead" if shown else ""
    st.session_state["sidebar_link_missing"] = (f"{what}{instead}.", key, shown)


def _short(name: object) -> str:
    return shorten(one_line(str(name)), 80)


def _show_missing() -> None:
    """The note of ``_note_missing``, while what it opened instead is still selected."""
    note = st.session_state.get("sidebar_link_missing")
    if not note:
        return
    message, key, shown = note
    if st.session_state.get(key) != shown:
        st.session_state.pop("sidebar_link_missing", None)
        return
    st.warning(plain(message), icon=":material/link_off:")
    # With one index (or one concept) there is nothing else to pick, and the note stayed for the whole session.
    if st.button("Dismiss", key="sidebar_link_dismiss", icon=":material/close:"):
        st.session_state.pop("sidebar_link_missing", None)
        st.rerun()


def _to_link(index: str, concept: str | None) -> None:
    """Keep the selection in the address, so a reload or a shared link opens the same index and concept."""
    params = st.query_params
    if params.get("index") != index:
        params["index"] = index
    if concept is None:
        if "concept" in params:
            del params["concept"]
    elif params.get("concept") != concept:
        params["concept"] = concept


def _mirrored_selectbox(label: str, options: list[str], state_key: str, **kwargs) -> str:
    """A selectbox showing and setting the plain state key ``state_key`` (which survives page changes)."""
    widget_key = f"sidebar_{state_key}"
    st.session_state[widget_key] = st.session_state[state_key]

    def copy_back() -> None:
        st.session_state[state_key] = st.session_state[widget_key]

    return st.selectbox(label, options, key=widget_key, on_change=copy_back, **kwargs)


def _manage_concept(teach: TeachStore, index: str, concept: str) -> None:
    with st.expander("Rename or delete concept"):
        new_name = st.text_input("New name", value=concept, key="sidebar_rename_name")
        if st.button("Rename", key="sidebar_rename") and new_name != concept:
            try:
                from core.store import validate_index_name

                validate_index_name(new_name)
                if teach.concept(index, new_name) is not None:
                    raise FewshotError(f"a concept named {new_name!r} already exists")
                teach.rename_concept(index, concept, new_name)
                select(concept=new_name)
                st.rerun()
            except FewshotError as exc:
                st.error(plain(str(exc)))
        confirm = st.checkbox(plain(f"Yes, delete '{concept}' and all its ratings"), key="sidebar_delete_confirm")
        if st.button("Delete concept", key="sidebar_delete", disabled=not confirm, type="primary"):
            teach.delete_concept(index, concept)
            select(concept=None)
            st.session_state.pop("sidebar_delete_confirm", None)
            st.rerun()
