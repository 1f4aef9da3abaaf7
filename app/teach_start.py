"""The form that starts a concept: from a text prompt, from example items, or from a diverse sample."""

from __future__ import annotations

import numpy as np
import streamlit as st

from app import safe_text
from app.index_defaults import concept_name_input
from app.items import item_grid, plain
from app.state import get_embedder, get_store, select
from core.errors import FewshotError
from core.ground_truth import label_set, positive_label
from core.records import TRAIN
from core.session import DEFAULT_STRATEGY, STRATEGIES, TeachSession, prompt_example
from core.store import IndexInfo
from core.teach_store import TeachStore

START_PROMPT, START_EXAMPLES, START_DIVERSE = "prompt", "examples", "diverse"
EXAMPLES_KEY = "teach_new_examples"


EXAMPLE_CHOICES = 30


def _start_options(info: IndexInfo) -> dict[str, str]:
    options = {}
    if info.embedder_kind in ("clip", "st"):
        options[START_PROMPT] = "A text prompt"
    options[START_EXAMPLES] = "Example items I pick"
    options[START_DIVERSE] = "A diverse sample (no prompt)"
    return options


def _example_candidates(info: IndexInfo, query: str) -> list[str]:
    """Items to pick examples from, from the train split only (validation is held out: an example moves the
    start vector, so a validation item there would be measured on what it taught): nearest to the query
    text when the embedder has a text side, else a random sample."""
    store = get_store()
    view = store.vectors(info.name)
    train = view.rows(TRAIN)
    if query:  # ids (file names) holding the text first: a known file could not be reached on a large index
        needle = query.strip().casefold()
        by_id = [str(view.ids[r]) for r in train if needle in str(view.ids[r]).casefold()][:EXAMPLE_CHOICES]
        if info.embedder_kind not in ("clip", "st"):
            return by_id
        vector = get_embedder(info.embedder).embed_texts([query])[0]
        near = [hit["id"] for hit in store.search(info.name, vector, k=EXAMPLE_CHOICES, split=TRAIN,
                                                  embedder=info.embedder)]
        return list(dict.fromkeys(by_id + near))[:EXAMPLE_CHOICES]
    rng = np.random.default_rng(int(st.session_state.get("teach_examples_seed", 0)))
    rows = rng.choice(train, size=min(EXAMPLE_CHOICES, len(train)), replace=False) if len(train) else train
    return [str(view.ids[r]) for r in rows]


def _toggle_example(item_id: str, key: str) -> None:
    """A card's checkbox adds its item to the picked examples or takes it out (the list below stays in step)."""
    picked = [p for p in (st.session_state.get(EXAMPLES_KEY) or []) if p != item_id]
    st.session_state[EXAMPLES_KEY] = [*picked, item_id] if st.session_state.get(key) else picked


def _example_checkbox(position: int, row: dict) -> None:
    """'Use as example' under a card, keyed by position (an id is user data), ticked when the item is picked."""
    key = f"teach_example_pick_{position}"
    item_id = str(row["id"])
    st.session_state[key] = item_id in (st.session_state.get(EXAMPLES_KEY) or [])
    st.checkbox("Use as example", key=key, on_change=_toggle_example, args=(item_id, key))


def render_start_form(info: IndexInfo) -> None:
    st.subheader(plain(f"Start a concept on {info.name}"))
    taken = [c.name for c in TeachStore(get_store()).concepts(info.name)]
    name = concept_name_input(info, taken)  # a default that fits the index and its ground truth
    options = _start_options(info)
    # Without a text side the quickest start is a diverse sample: nothing to pick before the first batch.
    default = 0 if START_PROMPT in options else list(options).index(START_DIVERSE)
    how = st.radio("Start from", list(options), format_func=options.get, key="teach_new_how", horizontal=True,
                   index=default)
    prompt, examples = None, []
    if how == START_PROMPT:
        prompt = st.text_input("Prompt", key="teach_new_prompt", placeholder=prompt_example(info.modality))
    elif how == START_EXAMPLES:
        text_side = info.embedder_kind in ("clip", "st")
        query = st.text_input("Search for examples (what they show, or part of an id or file name)" if text_side
                              else "Find examples by id or file name", key="teach_examples_query")
        if not text_side and not query and st.button("Show other items", key="teach_examples_shuffle"):
            st.session_state["teach_examples_seed"] = int(st.session_state.get("teach_examples_seed", 0)) + 1
        ids = _example_candidates(info, query)
        if query and not ids:
            st.info(plain(f"No train item matches '{query}'."))
        elif not ids:
            st.info("This index has no train items to pick examples from (validation items are held out): "
                    "start from a prompt or a diverse sample.")
        rows = get_store().fetch_items(info.name, ids)
        if ids:
            st.caption("Train items only: the validation split is held out to measure the classifier.")
        item_grid(rows, [f"{r['id']}" for r in rows], columns=6, footer=_example_checkbox)
        # picks made under an earlier search stay picked (and offered) when the search changes
        offered = list(dict.fromkeys([*(st.session_state.get(EXAMPLES_KEY) or []), *ids]))
        examples = st.multiselect("Examples of the concept", offered, key=EXAMPLES_KEY,
                                  format_func=safe_text.choices(offered))
    column = None
    if len(info.label_columns) > 1:
        column = st.selectbox("Ground-truth column (for AP by round)", info.label_columns, key="teach_new_column",
                              format_func=safe_text.choices(info.label_columns))
    labels = label_set(get_store().vectors(info.name), column)
    c1, c2, c3 = st.columns(3)
    strategy = c1.selectbox("Selection strategy", STRATEGIES, index=STRATEGIES.index(DEFAULT_STRATEGY),
                            key="teach_new_strategy")
    batch = c2.number_input("Batch size", 1, 100, 10, key="teach_new_batch")
    target = None
    if labels:  # None is "no target" (shown "(none)"): a real label "(none)" is a choice of its own
        choices = [None, *labels]
        # a 0/1 column's "1" is what a concept on it means; on a many-valued one the person picks. Another column
        # starts its label afresh (the box kept the last column's value, or went blank, on a re-tester's switch).
        if st.session_state.get("teach_new_target_for") != (info.name, column):
            st.session_state["teach_new_target_for"] = (info.name, column)
            st.session_state["teach_new_target"] = positive_label(labels)
        target = c3.selectbox("Ground-truth label it means (for AP by round)", choices, key="teach_new_target",
                              format_func=safe_text.choices(choices))
        if target is None:  # labels known, none picked: AP would silently not be tracked
            c3.caption("Pick the label that means *yes* to track AP by round; with (none) no AP is measured.")
    if st.button("Start teaching", type="primary", key="teach_new_start"):
        try:
            if not name:
                raise FewshotError("give the concept a name")
            if how == START_PROMPT and not prompt:
                raise FewshotError("type a prompt, or start from examples or a diverse sample")
            if how == START_EXAMPLES and not examples:
                raise FewshotError("pick at least one example item")
            embedder = get_embedder(info.embedder) if prompt else None
            TeachSession.create(
                info.name, name.strip(), store=get_store(), prompt=prompt or None, examples=examples or None,
                strategy=strategy, batch_size=int(batch), target_label=target, embedder=embedder,
                target_column=column,
            )
        except FewshotError as exc:
            st.error(plain(str(exc)))
            return
        st.session_state["teach_creating"] = False
        select(index=info.name, concept=name.strip())
        st.rerun()
