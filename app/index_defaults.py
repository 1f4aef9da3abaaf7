"""Default names the Index and Teach pages fill in: real, editable values that fit the data (not placeholders)."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]+")
TABLE_SUFFIXES = (".gz", ".bz2", ".xz", ".csv", ".tsv", ".parquet", ".jsonl", ".ndjson", ".json", ".zip")


def slug(text: str, fallback: str) -> str:
    """A valid index or concept name made from ``text`` (letters, digits, '-', '_'; at most 64), else ``fallback``."""
    name = NAME_CHARS.sub("-", text).strip("-_")[:64].strip("-_")
    return name or fallback


def unique(name: str, taken: set[str] | list[str]) -> str:
    """``name`` if free, else ``name-2``, ``name-3``, …"""
    taken = set(taken)
    if name not in taken:
        return name
    n = 2
    while f"{name[:60]}-{n}" in taken:
        n += 1
    return f"{name[:60]}-{n}"


def index_name_for(kind: str, argument: str | None, taken: set[str] | list[str]) -> str:
    """The suggested index name for a source: ``digits``, the file's or folder's stem, the dataset's name."""
    if kind == "demo":
        base = "digits"
    elif kind in ("upload", "table") and argument:  # an uploaded file or a table on the server: its stem
        stem = PurePosixPath(argument.replace("\\", "/")).name
        while stem.lower().endswith(TABLE_SUFFIXES):
            stem = stem[: stem.rfind(".")]
        base = slug(stem, kind)
    elif kind == "folder" and argument:
        base = slug(PurePosixPath(argument.rstrip("/\\").replace("\\", "/")).name, "images")
    elif kind == "hf" and argument:
        base = slug(argument.rstrip("/").rsplit("/", 1)[-1], "dataset")
    else:
        base = {"folder": "images", "upload": "upload", "hf": "dataset"}.get(kind, "index")
    return unique(base, taken)


def concept_name_for(index: str, column: str | None, value: str | None, taken: set[str] | list[str],
                     prompt: str | None = None) -> str:
    """The suggested concept name: the ground truth it is measured against when there is one, else the prompt's
    first words (``pytest-plugins``), else ``<index>-concept`` (an outside tester got ``pypi-concept``).

    A 0/1 column names itself (``flask``); another value is appended (``label-3``).
    """
    words = "-".join(str(prompt or "").lower().split()[:4])[:40]  # "pytest plugins" -> pytest-plugins
    if column and value is not None:
        yes = value in ("1", "true", "True", "yes")
        base = slug(column, "concept") if yes else slug(f"{column}-{value}", "concept")
    elif value is not None:
        base = slug(f"{index}-{value}", "concept")
    elif slug(words, ""):
        base = slug(words, "concept")
    else:
        base = slug(f"{index}-concept", "concept")
    return unique(base, taken)


def concept_name_input(info, taken: list[str]) -> str:
    """The Teach start form's concept name: follows the chosen ground truth until the person types their own.

    Reads the column and value pickers' last values (they are drawn below the name); e.g. ``flask`` for
    the 0/1 column flask, ``digits-3`` for the digit 3, else ``<index>-concept``.
    """
    import streamlit as st

    columns = list(getattr(info, "label_columns", []) or [])
    column = st.session_state.get("teach_new_column") if len(columns) > 1 else None
    value = st.session_state.get("teach_new_target")
    value = None if value is None else str(value)  # None: "no target"; "(none)" may be a real label
    suggestion = concept_name_for(info.name, column, value, taken, st.session_state.get("teach_new_prompt"))
    key, auto = "teach_new_name", f"teach_new_name_auto_{info.name}"
    current = st.session_state.get(key)
    if current is None or not str(current).strip() or current == st.session_state.get(auto):
        st.session_state[key] = suggestion
    st.session_state[auto] = suggestion
    return st.text_input("Concept name", key=key)
