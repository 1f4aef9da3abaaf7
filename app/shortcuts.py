"""Keyboard shortcuts that click Streamlit buttons, for rating from the keyboard.

Adapted from the ``streamlit-shortcuts`` package (which finds a button by its ``st-key-<key>`` class
and clicks it) with two changes a rating page needs: keys typed into a text field or slider are left
alone, and each page replaces the whole key map, so shortcuts from one page never fire on another.
"""

from __future__ import annotations

import json

import streamlit as st

_SCRIPT = """<script>
const doc = window.parent.document;
const win = window.parent.window;
win.__fewshotShortcuts = %s;
if (!win.__fewshotShortcutListener) {
  win.__fewshotShortcutListener = function (e) {
    const t = e.target;
    const tag = (t && t.tagName || "").toLowerCase();
    if (tag === "textarea" || (tag === "input" && !["checkbox", "radio", "button"].includes(t.type))
        || (t && t.isContentEditable) || (t && t.getAttribute && t.getAttribute("role") === "slider")) {
      return;
    }
    if (e.ctrlKey || e.altKey || e.metaKey) return;
    const name = e.key === " " ? "space" : e.key.toLowerCase();
    const key = (win.__fewshotShortcuts || {})[name];
    if (!key) return;
    const el = doc.querySelector(`.st-key-${key} button`);
    if (!el || el.disabled) return;
    e.preventDefault();
    el.click();
  };
  doc.addEventListener("keydown", win.__fewshotShortcutListener);
}
</script>"""


def bind_keys(mapping: dict[str, str]) -> None:
    """Bind keys (``"a"``, ``"1"``, ``"space"``, ``"enter"``, ``"backspace"``, ``"arrowleft"``) to button keys.

    Call once per run of a page; an empty mapping removes every shortcut.
    """
    # st.iframe runs the script same-origin, so it can reach the page's buttons (our own HTML only).
    st.iframe(_SCRIPT % json.dumps({k.lower(): v for k, v in mapping.items()}), height=1)


def clear_keys() -> None:
    bind_keys({})

