"""Keyboard shortcuts that click Streamlit buttons, for rating from the keyboard.

Adapted from the ``streamlit-shortcuts`` package (which finds a button by its ``st-key-<key>`` class
and clicks it), with what a rating page needs:

- The listener lives in the page's own realm (a ``<script>`` added to the parent document), not in
  the ``st.iframe`` that injects it: browsers never call an event listener whose realm is a removed
  iframe, and Streamlit replaces that iframe whenever the key map changes (grid <-> focus).
- It listens in the capture phase and stops the event, so a focused button, segmented control or
  expander does not also act on ``space``, ``enter`` or the arrows.
- Keys typed in a text field are left alone; on a slider only the navigation keys (arrows, Home,
  End, Page Up/Down) are, so ``a`` still rates after the slider was dragged.
- Key presses are queued and each waits until the rerun the previous one caused has finished:
  Streamlit merges two clicks of one button during a rerun into one, so fast typing lost ratings.
- Each ``bind_keys`` call replaces the whole map, and the map is emptied when its iframe goes away
  (another page, or the view no longer drawing it), so shortcuts from one page never fire on another.
"""

from __future__ import annotations

import json

import streamlit as st

_VERSION = 4

# Runs once in the parent page (replacing an older version's listener).
_LISTENER = """(function () {
  const VERSION = %(version)d;
  const old = window.__fewshotKeys;
  if (old && old.version === VERSION) return;
  if (old && old.listener) document.removeEventListener("keydown", old.listener, true);
  const NAV = ["arrowleft", "arrowright", "arrowup", "arrowdown", "home", "end", "pageup", "pagedown"];
  const state = {version: VERSION, map: {}, queue: [], busy: false};
  function typing(t) {
    const tag = (t && t.tagName || "").toLowerCase();
    return tag === "textarea" || tag === "select" || (t && t.isContentEditable)
      || (tag === "input" && !["checkbox", "radio", "button", "submit", "range"].includes(t.type));
  }
  function idle() {
    const app = document.querySelector('[data-testid="stApp"]');
    const s = app && app.getAttribute("data-test-script-state");
    return s !== "running" && s !== "rerunRequested" && s !== "initial";
  }
  function pump() {
    if (state.busy || !state.queue.length) return;
    if (!idle()) { setTimeout(pump, 25); return; }
    const key = state.map[state.queue.shift()];
    const el = key && document.querySelector(".st-key-" + key + " button");
    if (!el || el.disabled) { pump(); return; }
    state.busy = true;
    el.click();
    const started = Date.now();
    let ran = false;
    (function wait() {
      if (!idle()) ran = true;
      const waited = Date.now() - started;
      if ((ran && idle()) || waited > (ran ? 15000 : 500)) { state.busy = false; pump(); return; }
      setTimeout(wait, 15);
    })();
  }
  state.listener = function (e) {
    if (e.ctrlKey || e.altKey || e.metaKey || e.isComposing) return;
    const t = e.target;
    if (typing(t)) return;
    const name = e.key === " " ? "space" : String(e.key || "").toLowerCase();
    if (!Object.prototype.hasOwnProperty.call(state.map, name)) return;
    const role = t && t.getAttribute && t.getAttribute("role");
    const slider = role === "slider" || (t && t.tagName === "INPUT" && t.type === "range");
    if (slider && NAV.includes(name)) return;
    e.preventDefault();
    e.stopPropagation();
    if (e.repeat && !NAV.includes(name)) return;  // a held key rates once
    if (state.queue.length < 50) state.queue.push(name);
    pump();
  };
  document.addEventListener("keydown", state.listener, true);
  window.__fewshotKeys = state;
})();"""

_SCRIPT = """<script>
(function () {
  const win = window.parent;
  const doc = win.document;
  if (!win.__fewshotKeys || win.__fewshotKeys.version !== %(version)d) {
    const script = doc.createElement("script");
    script.textContent = %(listener)s;
    doc.head.appendChild(script);
    script.remove();
  }
  const map = %(mapping)s;
  win.__fewshotKeys.map = map;
  window.addEventListener("pagehide", function () {
    if (win.__fewshotKeys && win.__fewshotKeys.map === map) {
      win.__fewshotKeys.map = {};
      win.__fewshotKeys.queue.length = 0;
    }
  });
})();
</script>"""


def bind_keys(mapping: dict[str, str]) -> None:
    """Bind keys (``"a"``, ``"1"``, ``"space"``, ``"enter"``, ``"backspace"``, ``"arrowleft"``) to button keys.

    Call once per run of a page; an empty mapping removes every shortcut.
    """
    listener = _LISTENER % {"version": _VERSION}
    script = _SCRIPT % {
        "version": _VERSION,
        "listener": json.dumps(listener),
        "mapping": json.dumps({k.lower(): v for k, v in mapping.items()}, sort_keys=True),
    }
    # st.iframe runs the script same-origin, so it can reach the page (our own HTML only).
    st.iframe(script, height=1)


def clear_keys() -> None:
    bind_keys({})
