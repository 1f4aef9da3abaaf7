// The Teach page's rating batch, answered in the browser (st.components.v2; see app/teach_component.py).
// Ratings stay here (and in localStorage, so a reload or a server restart keeps them) and travel to the
// server once, with the batch's token, on Enter or Submit. Data goes into the DOM through textContent and
// attributes only: item text is shown as typed, never parsed as HTML.
const VALUES = {a: 1, x: -1, "1": -1, "2": -0.5, "3": 0, "4": 0.5, "5": 1};
const BUTTONS = [["−1", -1, "x 1"], ["−½", -0.5, "2"], ["0", 0, "3"], ["+½", 0.5, "4"], ["+1", 1, "a 5"]];
const NAV = ["arrowleft", "arrowright", "arrowup", "arrowdown"];
const COLUMNS = 5;
const SUBMIT_TIMEOUT_MS = 20000;
const MAX_DRAFTS = 40;
// An Enter on a batch with nothing rated in it asks for a second one. This soon after a batch arrived it is the
// second press of a double Enter (the first one's batch came back that fast): it says so.
const FRESH_ENTER_MS = 1000;
// The second Enter that submits an unrated batch must come this soon after the first one asked, with no rating or
// undo between (a re-tester's stray Enter minutes later went through once the first ask had been answered).
const CONFIRM_EMPTY_MS = 10000;

// Write only what changed: a key press then costs the browser one or two small text and class updates.
function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

function setAttr(node, name, value) {
  if (node.getAttribute(name) !== value) node.setAttribute(name, value);
}

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

const SHOWN = {"-1": "−1", "-0.75": "−¾", "-0.5": "−½", "-0.25": "−¼", "0": "0", "0.25": "+¼", "0.5": "+½",
               "0.75": "+¾", "1": "+1"};

function fmt(value) {
  return SHOWN[String(value)] || (value > 0 ? "+" : "") + String(value);
}

function typing(t) {
  const tag = (t && t.tagName || "").toLowerCase();
  return tag === "textarea" || tag === "select" || !!(t && t.isContentEditable)
    || (tag === "input" && !["checkbox", "radio", "button", "submit", "range"].includes(t.type));
}

// A concept (or index) just picked in the sidebar: its selectbox keeps the focus, and the rating keys would
// go there (opening its option list, "No results") until the person clicks the page. The choice is made (this
// batch is the one picked): let go of it, even when keys typed before the batch came have opened its list.
function releaseSidebarFocus() {
  const active = document.activeElement;
  if (active && active.closest && active.closest('[data-testid="stSidebar"]')
      && active.getAttribute("role") === "combobox") {
    active.blur();
  }
}

// "3 keys typed <when> were not applied": what happened to keys dropped during a submit.
function notApplied(n, when) {
  return n + (n === 1 ? " key" : " keys") + " typed " + when + (n === 1 ? " was" : " were") + " not applied";
}

function kind(value) {
  return value === null ? "skip" : value > 0 ? "pos" : value < 0 ? "neg" : "zero";
}

// ---------------------------------------------------------------------------------------------------
// Draft storage: one entry per (workspace, index, concept, round, batch, tab), the latest 40 kept. Each tab keeps
// its own (its id lives in sessionStorage, which survives that tab's reloads and no other tab's): two tabs on one
// batch wrote one shared draft, and a reload brought back whichever tab had typed last.
// "Duplicate tab" copies sessionStorage, so a copy would share the original's id (and draft): a live page keeps a
// claim on its id in localStorage, renewed every CLAIM_MS / 3 and dropped on pagehide (a reload keeps the id), and a
// page that finds its id claimed by another live page takes a new one. Kept on window: one per page, not per render.
const CLAIM_MS = 6000;

function claimKey(id) { return "fewshot-tab-claim|" + id; }

function claimedElsewhere(id, instance) {
  let claim = null;
  try { claim = JSON.parse(window.localStorage.getItem(claimKey(id)) || "null"); } catch (e) { return false; }
  return Boolean(claim && claim.instance !== instance && Date.now() - (claim.at || 0) < CLAIM_MS);
}

function tabId() {
  const tab = window.__fewshotTab || (window.__fewshotTab = {instance: Math.random().toString(36).slice(2, 10)});
  if (tab.id) return tab.id;
  try {
    let id = window.sessionStorage.getItem("fewshot-tab");
    if (id && claimedElsewhere(id, tab.instance)) {  // a duplicated tab (the original is open), or one restored
      tab.copiedFrom = id;                               // by a browser killed seconds ago: its draft comes first
      id = null;
    }
    if (!id) {
      id = Math.random().toString(36).slice(2, 10) + Date.now().toString(36);
      window.sessionStorage.setItem("fewshot-tab", id);
    }
    tab.id = id;
    const claim = () => {
      try { window.localStorage.setItem(claimKey(id), JSON.stringify({instance: tab.instance, at: Date.now()})); }
      catch (e) { /* storage full or disabled */ }
    };
    claim();
    tab.timer = setInterval(claim, CLAIM_MS / 3);
    window.addEventListener("pagehide", () => {
      try { window.localStorage.removeItem(claimKey(id)); } catch (e) { /* nothing to release */ }
    });
  } catch (e) { tab.id = "tab"; }
  return tab.id;
}

function batchKey(data) { return data.store_key + "|" + data.token; }
function draftKey(data) { return batchKey(data) + "|" + tabId(); }

function ownDraft(data) {
  try { return JSON.parse(window.localStorage.getItem(draftKey(data)) || "null"); } catch (e) { return null; }
}

function loadDraft(data) {
  // This tab's own draft. A tab without one (opened after the ratings were typed, or a browser restarted) takes
  // the newest draft another tab of this browser keeps for this batch, and says so.
  try {
    const own = window.localStorage.getItem(draftKey(data));
    if (own) return JSON.parse(own);
    const batch = batchKey(data);
    const copied = window.__fewshotTab && window.__fewshotTab.copiedFrom;
    const original = copied ? JSON.parse(window.localStorage.getItem(batch + "|" + copied) || "null") : null;
    if (original && (original.order || []).length) return {...original, fromOtherTab: true, fromCopy: true};
    let newest = null;
    for (let i = 0; i < window.localStorage.length; i++) {
      const key = window.localStorage.key(i);
      if (!key || (key !== batch && !key.startsWith(batch + "|"))) continue;
      const other = JSON.parse(window.localStorage.getItem(key));
      if (other && (other.order || []).length && (!newest || (other.at || 0) > (newest.at || 0))) newest = other;
    }
    if (newest) newest.fromOtherTab = true;
    return newest;
  } catch (e) { return null; }
}

function saveDraft(data, state) {
  try {
    const ratings = {};
    state.order.forEach((pos) => { ratings[data.items[pos].id] = state.values[pos]; });
    // kept even when empty: a tab that took all its ratings back must not adopt another tab's on a reload
    window.localStorage.setItem(draftKey(data), JSON.stringify({order: state.order.map((p) => data.items[p].id),
                                                                ratings, pos: state.pos, at: Date.now(),
                                                                sent: Boolean(state.sent),
                                                                undone: Boolean(state.undone),
                                                                borrowed: Boolean(state.borrowed),
                                                                typed: (state.typed || []).filter(
                                                                  (p) => state.order.includes(p))
                                                                  .map((p) => data.items[p].id)}));
  } catch (e) { /* storage full or disabled: the ratings still live in this page */ }
}

function dropDrafts(prefix, tokens) {
  try {
    const batches = (tokens || []).map((token) => prefix + "|" + token);
    const mine = [], claims = [];
    for (let i = 0; i < window.localStorage.length; i++) {
      const key = window.localStorage.key(i);
      if (key && key.startsWith("fewshot-draft|")) mine.push(key);
      if (key && key.startsWith("fewshot-tab-claim|")) claims.push(key);
    }
    claims.forEach((key) => {  // claims of pages that ended without a pagehide (a killed browser)
      let at = 0;
      try { at = JSON.parse(window.localStorage.getItem(key)).at || 0; } catch (e) { /* damaged: old */ }
      if (Date.now() - at > 10 * CLAIM_MS) window.localStorage.removeItem(key);
    });
    // this tab's drafts of batches it committed: another tab's draft of one stays, for that tab to report
    const own = "|" + tabId();
    const committed = (key) => batches.some((batch) => key === batch || key === batch + own);
    mine.filter(committed).forEach((key) => window.localStorage.removeItem(key));
    const left = mine.filter((key) => !committed(key));
    if (left.length > MAX_DRAFTS) {
      const aged = left.map((k) => { try { return [JSON.parse(window.localStorage.getItem(k)).at || 0, k]; }
                                     catch (e) { return [0, k]; } });
      aged.sort((x, y) => x[0] - y[0]).slice(0, left.length - MAX_DRAFTS)
        .forEach(([, k]) => window.localStorage.removeItem(k));
    }
  } catch (e) { /* nothing to tidy */ }
}

function staleOwnDrafts(data) {
  // Ratings this tab typed on an earlier batch of this concept and never sent: another tab or process changed the
  // concept (a re-tester's tab, reloaded after the other one's Enter, showed the next batch without a word). Each is
  // reported once (``markTold`` when its notice is shown), and kept: it comes back if that batch is shown again.
  // Only keys this tab pressed count: ratings taken over from another tab unchanged were not "typed here".
  const found = {count: 0, keys: []};
  try {
    const own = "|" + tabId(), prefix = data.store_key + "|", current = draftKey(data);
    for (let i = 0; i < window.localStorage.length; i++) {
      const key = window.localStorage.key(i);
      if (!key || key === current || !key.startsWith(prefix) || !key.endsWith(own)) continue;
      const draft = JSON.parse(window.localStorage.getItem(key));
      if (!draft || draft.told || draft.sent || !(draft.order || []).length) continue;
      const typed = Array.isArray(draft.typed) ? draft.typed.filter((id) => id in (draft.ratings || {})).length
        : draft.borrowed ? 0 : draft.order.length;
      if (!typed) continue;
      found.count += typed;
      found.keys.push(key);
    }
  } catch (e) { /* nothing to report */ }
  return found;
}

function markTold(keys) {
  (keys || []).forEach((key) => {
    try { window.localStorage.setItem(key, JSON.stringify({...JSON.parse(window.localStorage.getItem(key)), told: true})); }
    catch (e) { /* reported again next time */ }
  });
}

function appliedNonce(nonce) {
  try {
    const seen = JSON.parse(window.localStorage.getItem("fewshot-draft-nonces") || "[]");
    if (seen.includes(nonce)) return true;
    seen.push(nonce);
    window.localStorage.setItem("fewshot-draft-nonces", JSON.stringify(seen.slice(-50)));
  } catch (e) { /* fall through: apply it */ }
  return false;
}

// ---------------------------------------------------------------------------------------------------
function freshState(data) {
  const n = data.items.length;
  const state = {token: data.token, values: new Array(n).fill(undefined), order: [], pos: 0, submitting: false,
                 arrived: Date.now()};
  const index = {};
  data.items.forEach((item, pos) => { index[item.id] = pos; });
  let draft = null, fromServer = false;
  const own = ownDraft(data);
  if (data.draft && data.draft.nonce && !appliedNonce(data.draft.nonce)) {
    if (own && !own.undone && !own.borrowed && (own.order || []).length) {
      // this tab's own ratings of these items (it lost the race for this batch, then undid the winner's round, as
      // the refusal suggested): they win over the undone round's
      draft = own;
      state.keptOwn = own.order.length;
    } else {
      draft = {order: Object.keys(data.draft.ratings), ratings: data.draft.ratings};  // an undone round
      fromServer = true;
    }
  } else {
    draft = loadDraft(data);
  }
  if (draft) {
    (draft.order || []).forEach((id) => {
      const pos = index[id];
      if (pos === undefined || !(id in draft.ratings)) return;
      const value = draft.ratings[id];
      if (value !== null && typeof value !== "number") return;
      state.values[pos] = value;
      if (!state.order.includes(pos)) state.order.push(pos);
    });
    state.pos = Math.min(Math.max(0, draft.pos | 0), Math.max(0, n - 1));
    if (state.order.length && draft.pos === undefined) state.pos = nextUnrated(state, n, -1);
    state.undone = fromServer || Boolean(draft.undone);  // an undone round's ratings, wherever they were kept
    state.borrowed = Boolean(draft.fromOtherTab || draft.borrowed);  // until this tab rates something itself
    // which of them were keys pressed here (a partly edited take-over counted all as "typed here")
    state.typed = fromServer || draft.fromOtherTab ? []
      : Array.isArray(draft.typed) ? draft.typed.map((id) => index[id]).filter((p) => p !== undefined)
        : draft.borrowed ? [] : state.order.slice();
    // The batch is still the current one, so an Enter this tab sent before (and a reload) did not land: its
    // ratings count as unsent again (a re-tester's were then lost without a word once another tab went on).
    if (fromServer || draft.fromOtherTab || draft.sent) saveDraft(data, state);  // kept as this tab's own
    if (draft.fromOtherTab && !draft.undone && state.order.length) {
      state.adopted = state.order.length;
      state.fromCopy = Boolean(draft.fromCopy);
    }
  }
  // a refusal just told the person what became of them: count them as told, say nothing twice
  // (an undo's own message explains the batch it brings back)
  const stale = staleOwnDrafts(data);
  if (data.outcome && data.outcome.ok === false) markTold(stale.keys);
  else if (!fromServer) state.stale = stale;
  return state;
}

function nextUnrated(state, n, from) {
  for (let step = 1; step <= n; step++) {
    const pos = (from + step + n) % n;
    if (state.values[pos] === undefined) return pos;
  }
  return Math.min(n - 1, from + 1);
}

export default function (component) {
  const {data, parentElement, setTriggerValue} = component;
  let ctl = parentElement.__fewshotTeach;
  if (!ctl) {
    ctl = {parent: parentElement, view: null, dropped: 0};
    parentElement.__fewshotTeach = ctl;
    ctl.onKey = (e) => onKey(ctl, e);
    ctl.onKeyUp = (e) => { if (ctl.swallowUp === e.key) { e.preventDefault(); e.stopPropagation(); ctl.swallowUp = null; } };
    window.addEventListener("keydown", ctl.onKey, true);
    window.addEventListener("keyup", ctl.onKeyUp, true);
  }
  ctl.setTriggerValue = setTriggerValue;
  const previous = ctl.data;
  ctl.data = data;
  if (!previous || previous.store_key !== data.store_key) releaseSidebarFocus();
  dropDrafts(data.store_key, data.committed);
  if (!ctl.state || ctl.state.token !== data.token || (data.draft && data.draft.nonce !== (previous && previous.draft
      && previous.draft.nonce))) {
    ctl.state = freshState(data);
    const plural = (k, one, many) => k + " " + (k === 1 ? one : many);
    if (ctl.state.keptOwn) {
      ctl.notice = plural(ctl.state.keptOwn, "rating", "ratings") + " typed here on these items kept, not the undone "
        + "round's: check them before you press Enter.";
    } else if (ctl.state.adopted && ctl.state.fromCopy) {
      ctl.notice = plural(ctl.state.adopted, "rating", "ratings") + " kept for this batch by the tab this one was "
        + "copied from (or by this tab before the browser restarted), brought here: check them before you press Enter.";
    } else if (ctl.state.adopted) {
      ctl.notice = ctl.state.adopted + (ctl.state.adopted === 1 ? " rating" : " ratings") + " typed in another tab of "
        + "this browser on this batch, brought here: check them before you press Enter.";
    } else if (ctl.state.stale && ctl.state.stale.count) {
      const k = ctl.state.stale.count;
      ctl.notice = plural(k, "rating", "ratings") + " typed here on an earlier batch " + (k === 1 ? "was" : "were")
        + " never sent, and that batch is no longer the current one (another tab or process changed the concept): "
        + (k === 1 ? "it comes" : "they come") + " back if that batch is shown again.";
    }
    // keys typed while the last batch was on its way: they would rate items not yet seen
    if (ctl.dropped) ctl.notice = notApplied(ctl.dropped, "before this batch appeared") + ": rate what you see.";
    // told only once their notice is the one shown (another may have had the bar first)
    else if (ctl.state.stale && ctl.state.stale.count && !ctl.state.keptOwn && !ctl.state.adopted) {
      markTold(ctl.state.stale.keys);
    }
    ctl.dropped = 0;
    clearTimeout(ctl.timer);
  }
  if (data.outcome && (!previous || !previous.outcome || previous.outcome.nonce !== data.outcome.nonce)) {
    ctl.state.submitting = false;  // the server answered (refused, or failed): the batch is editable again
    ctl.state.sent = false;
    if (ctl.dropped) ctl.notice = notApplied(ctl.dropped, "while the batch was being sent") + ".";
    ctl.dropped = 0;
    clearTimeout(ctl.timer);
  }
  if (ctl.view === null) {
    try { ctl.view = window.localStorage.getItem("fewshot-teach-view") || data.view || "grid"; }
    catch (e) { ctl.view = data.view || "grid"; }
  }
  build(ctl);
  return () => {
    window.removeEventListener("keydown", ctl.onKey, true);
    window.removeEventListener("keyup", ctl.onKeyUp, true);
    clearTimeout(ctl.timer);
    delete parentElement.__fewshotTeach;
  };
}

// ---------------------------------------------------------------------------------------------------
function onKey(ctl, e) {
  const root = ctl.parent;
  const host = root.host || root;
  if (!host.isConnected) {  // unmounted without a cleanup call: never rate on another page
    window.removeEventListener("keydown", ctl.onKey, true);
    window.removeEventListener("keyup", ctl.onKeyUp, true);
    return;
  }
  if (e.ctrlKey || e.altKey || e.metaKey || e.isComposing) return;
  const target = (e.composedPath && e.composedPath()[0]) || e.target;
  if (typing(target)) return;
  const name = e.key === " " ? "space" : String(e.key || "").toLowerCase();
  const own = target && target.getRootNode && target.getRootNode() === root;
  const slider = target && (target.getAttribute && target.getAttribute("role") === "slider");
  if (slider && !own && NAV.includes(name)) return;  // a Streamlit slider keeps its arrows
  if (!ctl.data.items.length) return;
  if (name === "space") ctl.swallowUp = " ";
  if (handle(ctl, name, e.repeat)) {
    e.preventDefault();
    e.stopPropagation();
  }
}

// One key; true when it is one of ours. Keys typed while a batch is on its way to the server are dropped
// and counted (the next batch says how many): they would rate items the person has not seen yet.
function handle(ctl, name, repeat) {
  const state = ctl.state;
  const ours = name in VALUES || ["space", "backspace", "enter"].includes(name) || NAV.includes(name);
  if (!ours) return false;
  if (state.submitting) {
    if (name !== "enter" && !repeat) ctl.dropped += 1;
    return true;
  }
  if (name in VALUES) {
    if (!repeat) rate(ctl, state.pos, VALUES[name], true);
  } else if (name === "space") {
    if (!repeat) rate(ctl, state.pos, null, true);
  } else if (name === "backspace") {
    undoLast(ctl);
  } else if (name === "arrowleft" || name === "arrowright") {
    move(ctl, name === "arrowleft" ? -1 : 1);
  } else if (name === "arrowup" || name === "arrowdown") {
    move(ctl, (name === "arrowup" ? -1 : 1) * (ctl.view === "grid" ? COLUMNS : 1));
  } else if (name === "enter") {
    if (repeat) return true;
    // Nothing rated: the first Enter asks, the next one submits. Right after a batch arrived it is the tail of a
    // double Enter; later it was an outside auditor's stray press that wrote a round of ten skips.
    if (!state.order.length && !(state.confirmEmpty && Date.now() - state.confirmEmpty < CONFIRM_EMPTY_MS)) {
      const n = ctl.data.items.length, fresh = Date.now() - state.arrived < FRESH_ENTER_MS;
      ctl.notice = fresh ? "A new batch: nothing rated in it yet. Press Enter again to submit it untouched."
        : "Nothing rated: Enter again submits all " + n + (ctl.data.prefill ? " at the model's guess." : " as skipped.");
      state.confirmEmpty = Date.now();  // the next Enter is taken, unless a rating or time comes in between
      paintBar(ctl);
      return true;
    }
    submit(ctl);
  }
  return true;
}

function rate(ctl, pos, value, advance) {
  const state = ctl.state, n = ctl.data.items.length;
  if (state.submitting) return;
  state.confirmEmpty = 0;
  state.values[pos] = value;
  const at = state.order.indexOf(pos);
  if (at >= 0) state.order.splice(at, 1);
  state.order.push(pos);
  const old = state.pos;
  if (advance) state.pos = nextUnrated(state, n, pos);
  state.borrowed = false;  // the draft is this tab's own now
  state.typed = [...(state.typed || []).filter((p) => p !== pos), pos];  // keys pressed in this tab
  saveDraft(ctl.data, state);
  paintItem(ctl, pos);
  if (old !== pos) paintItem(ctl, old);
  if (state.pos !== pos) paintItem(ctl, state.pos);
  paintBar(ctl);
}

function undoLast(ctl) {
  const state = ctl.state;
  if (state.submitting || !state.order.length) return;
  state.confirmEmpty = 0;
  const pos = state.order.pop();
  state.values[pos] = undefined;
  const old = state.pos;
  state.pos = pos;
  state.borrowed = false;
  saveDraft(ctl.data, state);
  paintItem(ctl, old);
  paintItem(ctl, pos);
  paintBar(ctl);
}

function move(ctl, delta) {
  const state = ctl.state, n = ctl.data.items.length;
  const old = state.pos;
  state.pos = Math.max(0, Math.min(n - 1, state.pos + delta));
  if (old !== state.pos) {
    paintItem(ctl, old);
    paintItem(ctl, state.pos);
    paintBar(ctl);
  }
}

function guess(item) {
  return Math.max(-1, Math.min(1, Math.round((2 * item.p - 1) / 0.25) * 0.25));
}

function submit(ctl) {
  const state = ctl.state, data = ctl.data;
  if (state.submitting) return;
  const ratings = {};
  data.items.forEach((item, pos) => {
    const value = state.values[pos];
    ratings[item.id] = value !== undefined ? value : data.prefill ? guess(item) : null;
  });
  state.submitting = true;
  state.sent = true;  // a reload before the answer must not report these as never sent
  saveDraft(data, state);
  const nonce = Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
  ctl.setTriggerValue("submit", {token: data.token, ratings, rated: state.order.map((p) => data.items[p].id), nonce});
  clearTimeout(ctl.timer);
  ctl.timer = setTimeout(() => {  // no answer (a lost connection): let the person try again; a retry is safe
    if (ctl.state === state && state.submitting) {
      state.submitting = false;
      const dropped = ctl.dropped ? " (" + notApplied(ctl.dropped, "meanwhile") + ")" : "";
      ctl.dropped = 0;
      ctl.notice = "No answer from the server yet" + dropped + ": press Enter to send the batch again; if it stays silent (the server restarted), reload the page: your ratings are kept.";
      paintBar(ctl);
    }
  }, SUBMIT_TIMEOUT_MS);
  paintBar(ctl);
}

// ---------------------------------------------------------------------------------------------------
function build(ctl) {
  const data = ctl.data, root = ctl.parent;
  let box = root.querySelector(".teach");
  if (!box) {
    box = el("div", "teach");
    root.appendChild(box);
  }
  box.replaceChildren();
  box.setAttribute("data-token", data.token);
  box.setAttribute("data-view", ctl.view);
  const head = el("div", "head");
  const views = el("div", "views");
  ["grid", "focus"].forEach((view) => {
    const b = el("button", "view" + (ctl.view === view ? " on" : ""), view === "grid" ? "Grid" : "Focus");
    b.type = "button";
    b.setAttribute("data-view", view);
    b.addEventListener("click", () => {
      ctl.view = view;
      try { window.localStorage.setItem("fewshot-teach-view", view); } catch (e) { /* kept for this page */ }
      build(ctl);
    });
    views.appendChild(b);
  });
  head.appendChild(views);
  if (data.counters) head.appendChild(buildCounters(data.counters));
  if (data.caption) {
    const caption = el("div", "caption", data.caption);
    caption.setAttribute("title", data.caption);
    box.appendChild(caption);
  }
  box.appendChild(head);
  ctl.cards = [];
  if (!data.items.length) {
    box.appendChild(el("div", "empty", "No items in this batch."));
  } else if (ctl.view === "focus") {
    box.appendChild(buildFocus(ctl));
  } else {
    const grid = el("div", "grid");
    data.items.forEach((item, pos) => grid.appendChild(buildCard(ctl, item, pos)));
    box.appendChild(grid);
  }
  box.appendChild(buildBar(ctl));
  data.items.forEach((_, pos) => paintItem(ctl, pos));
  paintBar(ctl);
}

// Where the concept stands after the last round (app.teach_side.counters): text nodes and one SVG line.
function buildCounters(c) {
  const row = el("div", "counters");
  const stat = (label, value, help) => {
    const span = el("span", "stat", label + " ");
    span.appendChild(el("b", null, value === null || value === undefined ? "–" : value));
    span.setAttribute("title", help);
    row.appendChild(span);
    return span;
  };
  const fixed = (v, digits) => (v === null || v === undefined ? null : Number(v).toFixed(digits));
  stat("Round", c.round, "Batches submitted so far").setAttribute("data-counter", "round");
  const cut = c.predicted_threshold ? "threshold " + (c.predicted_threshold > 0 ? "+" : "")
    + Number(c.predicted_threshold).toFixed(2) + " (the concept's, from the Validate page)" : "p > 0.5";
  const of = c.predicted_of ? " (of all " + Number(c.predicted_of).toLocaleString("en-US")
    + ", train and validation)" : "";
  const predicted = c.predicted_positive === null || c.predicted_positive === undefined ? null
    : Number(c.predicted_positive).toLocaleString("en-US");
  stat("Predicted +", predicted, c.predicted_positive === null || c.predicted_positive === undefined
    ? "Nothing yet: before the first rating the start only ranks the items"
    : "Items of the index" + of + " the classifier calls positive at " + cut);
  stat("Ratings", "+" + c.n_positive + " / −" + c.n_negative, "Items rated above 0 / below 0 so far");
  stat("Loss", fixed(c.loss, 3), "Training loss of this round's fit");
  stat("w moved", c.w_moved === null || c.w_moved === undefined ? null : fixed(c.w_moved, 1) + "°",
       "Angle between w and the previous round's w: how far this round moved the classifier");
  if (c.ap !== null && c.ap !== undefined) {
    const ap = stat("AP", fixed(c.ap, 3) + (c.ap_delta === null || c.ap_delta === undefined ? ""
      : " (" + (Math.abs(c.ap_delta) < 0.0005 ? "±" : c.ap_delta > 0 ? "+" : "−")  // never "−0.000"
        + Math.abs(c.ap_delta).toFixed(3) + ")"),
      "Average precision on the validation split against the ground-truth label"
      + (c.target !== null && c.target !== undefined ? " " + c.target : "") + ", by round");
    ap.setAttribute("data-counter", "ap");
    if ((c.ap_points || []).length > 1) ap.appendChild(sparkline(c.ap_points));
  }
  if (c.timing_ms) stat("next batch", c.timing_ms + " ms", "Last submit to the next batch, on the server");
  return row;
}

function sparkline(points) {
  const ns = "http://www.w3.org/2000/svg", w = 60, h = 14;
  const lo = Math.min(...points), hi = Math.max(...points), span = hi - lo || 1;
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "spark");
  svg.setAttribute("width", String(w));
  svg.setAttribute("height", String(h));
  svg.setAttribute("viewBox", "0 0 " + w + " " + h);
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", points.map((p, i) => (i * w / (points.length - 1)).toFixed(1) + ","
    + (h - 1 - (p - lo) / span * (h - 2)).toFixed(1)).join(" "));
  svg.appendChild(line);
  return svg;
}

function content(item, big) {
  if (item.img) {
    const img = el("img", "thumb" + (big ? " big" : ""));
    img.alt = itemName(item);
    img.setAttribute("src", item.img);
    if (item.pixelated) img.classList.add("pixelated");
    return img;
  }
  const text = el("div", "text" + (big ? " big" : ""), item.text !== null && item.text !== undefined ? item.text : item.id);
  text.setAttribute("title", item.text || "");
  return text;
}

// The item's id as shown (``item.name``: one line, controls made visible), whole in its tooltip: ids are data,
// so they go in through textContent and the title attribute only.
function itemName(item) {
  return item.name !== null && item.name !== undefined ? String(item.name) : String(item.id);
}

// On a card: the folders part ("train/blue/") gives way first, so a long path still shows its file name.
function nameLine(node, item, split) {
  const name = itemName(item);
  setAttr(node, "title", name);
  if (!split) {
    setText(node, name);
  } else if (node.textContent !== name) {
    const cut = name.lastIndexOf("/", name.length - 2);
    node.replaceChildren(...(cut < 0 ? [] : [el("span", "dir", name.slice(0, cut + 1))]),
                         el("span", "base", name.slice(cut + 1)));
  }
  return node;
}

// The meta line with its whole text as a tooltip (a narrow card cuts it with an ellipsis).
function metaLine(node, text) {
  setText(node, text);
  setAttr(node, "title", text);
  return node;
}

function meta(item, showLabel) {
  let text = "score " + (item.score >= 0 ? "+" : "") + item.score.toFixed(2) + " · p " + item.p.toFixed(2);
  if (showLabel && item.label !== null && item.label !== undefined) text += " · label " + item.label;
  return text;
}

// Rating buttons: the grid's cards show -1, +1 and skip (the slider grades); the focus view shows all five.
function ratingButtons(ctl, getPos, compact) {
  const row = el("div", "buttons");
  const choices = BUTTONS.filter(([, value]) => !compact || Math.abs(value) === 1).concat([["skip", null, "space"]]);
  choices.forEach(([label, value, keys]) => {
    const b = el("button", "rate" + (value === null ? " skip" : ""), label);
    b.type = "button";
    b.setAttribute("data-value", value === null ? "skip" : String(value));
    b.setAttribute("title", (value === null ? "Skip: say nothing about this item" : "Rate " + label) + " (" + keys + ")");
    if (!compact) b.appendChild(el("kbd", null, keys));
    b.addEventListener("click", () => rate(ctl, getPos(), value, true));
    row.appendChild(b);
  });
  return row;
}

function select(ctl, pos) {
  const old = ctl.state.pos;
  if (old === pos) return;
  ctl.state.pos = pos;
  paintItem(ctl, old);
  paintItem(ctl, pos);
  paintBar(ctl);
}

function slider(ctl, getPos, status) {
  const input = el("input", "slider");
  input.type = "range";
  input.min = "-1";
  input.max = "1";
  input.step = "0.25";
  input.setAttribute("aria-label", "Graded rating");
  input.addEventListener("input", () => { status().textContent = "rated " + fmt(Number(input.value)); });
  input.addEventListener("change", () => rate(ctl, getPos(), Number(input.value), false));
  return input;
}

function buildCard(ctl, item, pos) {
  const card = el("div", "card");
  card.setAttribute("data-pos", String(pos));
  card.setAttribute("data-id", item.id);
  card.addEventListener("mousedown", () => select(ctl, pos));
  const frame = el("div", "frame");
  frame.appendChild(content(item, false));
  card.appendChild(frame);
  card.appendChild(nameLine(el("div", "name"), item, true));
  card.appendChild(metaLine(el("div", "meta"), meta(item, ctl.data.show_label)));
  card.appendChild(ratingButtons(ctl, () => pos, true));
  const status = el("div", "status");
  const input = slider(ctl, () => pos, () => status);
  card.appendChild(input);
  card.appendChild(status);
  ctl.cards[pos] = {card, status, input};
  return card;
}

function buildFocus(ctl) {
  const wrap = el("div", "focuswrap");
  const strip = el("div", "strip");
  ctl.tiles = ctl.data.items.map((item, pos) => {
    const tile = el("button", "tile", String(pos + 1));
    tile.type = "button";
    tile.setAttribute("data-pos", String(pos));
    tile.addEventListener("click", () => select(ctl, pos));
    strip.appendChild(tile);
    return tile;
  });
  wrap.appendChild(strip);
  const card = el("div", "card focus");
  const status = el("div", "status");
  ctl.focus = {card, frame: el("div", "frame big"), position: el("div", "position"), name: el("div", "name big"),
               meta: el("div", "meta"), label: el("div", "label"), status,
               input: slider(ctl, () => ctl.state.pos, () => status)};
  const side = el("div", "side");
  card.appendChild(ctl.focus.frame);
  [ctl.focus.position, ctl.focus.name, ctl.focus.meta, ctl.focus.label, ctl.focus.status]
    .forEach((x) => side.appendChild(x));
  side.appendChild(ctl.focus.input);
  side.appendChild(ratingButtons(ctl, () => ctl.state.pos, false));
  const moves = el("div", "buttons");
  [["← prev", () => move(ctl, -1)], ["next →", () => move(ctl, 1)], ["undo ⌫", () => undoLast(ctl)]].forEach(([label, fn]) => {
    const b = el("button", "move", label);
    b.type = "button";
    b.addEventListener("click", fn);
    moves.appendChild(b);
  });
  side.appendChild(moves);
  card.appendChild(side);
  wrap.appendChild(card);
  ctl.focusPos = -1;
  return wrap;
}

function statusText(ctl, pos) {
  const value = ctl.state.values[pos];
  if (value === undefined) return ctl.data.prefill ? "at the model's guess" : "not rated";
  if (value === null) return "skipped";
  return "rated " + fmt(value);
}

function paintItem(ctl, pos) {
  const state = ctl.state, data = ctl.data;
  if (pos < 0 || pos >= data.items.length) return;
  const value = state.values[pos];
  const k = value === undefined ? "none" : kind(value);
  if (ctl.view === "focus") {
    const tile = ctl.tiles && ctl.tiles[pos];
    if (tile) {
      setAttr(tile, "data-kind", k);
      tile.classList.toggle("current", pos === state.pos);
    }
    if (pos !== state.pos || !ctl.focus) return;
    const f = ctl.focus, item = data.items[pos];
    if (ctl.focusPos !== pos) {
      f.frame.replaceChildren(content(item, true));
      nameLine(f.name, item, false);
      metaLine(f.meta, meta(item, false));
      f.label.textContent = data.show_label && item.label !== null && item.label !== undefined
        ? "Ground truth: " + item.label : "";
      ctl.focusPos = pos;
    }
    setAttr(f.card, "data-kind", k);
    setText(f.status, statusText(ctl, pos));
    f.input.value = String(value === undefined ? (data.prefill ? guess(item) : 0) : value === null ? 0 : value);
    return;
  }
  const c = ctl.cards[pos];
  if (!c) return;
  setAttr(c.card, "data-kind", k);
  c.card.classList.toggle("current", pos === state.pos);
  setText(c.status, statusText(ctl, pos));
  const item = data.items[pos];
  const shown = String(value === undefined ? (data.prefill ? guess(item) : 0) : value === null ? 0 : value);
  if (c.input.value !== shown) c.input.value = shown;
}

function buildBar(ctl) {
  const bar = el("div", "bar");
  const b = el("button", "submit", "Submit ratings ");
  b.type = "button";
  b.appendChild(el("kbd", null, "enter"));
  b.addEventListener("click", () => submit(ctl));
  bar.appendChild(b);
  ctl.barText = el("span", "progress");
  bar.appendChild(ctl.barText);
  ctl.barKeys = el("span", "keys");
  bar.appendChild(ctl.barKeys);
  ctl.submitButton = b;
  return bar;
}

function paintBar(ctl) {
  const state = ctl.state, data = ctl.data, n = data.items.length;
  const rated = state.order.length;
  const box = ctl.parent.querySelector(".teach");
  if (box) {
    setAttr(box, "data-rated", String(rated));
    box.classList.toggle("submitting", state.submitting);
  }
  if (ctl.view === "focus" && ctl.focus) {
    setText(ctl.focus.position, "Item " + (state.pos + 1) + " of " + n + " · " + rated + " rated"
      + (rated >= n ? " · all rated: Enter submits" : ""));
  }
  if (!ctl.barText) return;
  ctl.submitButton.disabled = state.submitting;
  if (state.submitting) {
    setText(ctl.barText, "Submitting " + n + " items…");
  } else if (ctl.notice) {
    setText(ctl.barText, ctl.notice);
    ctl.notice = null;
  } else {
    setText(ctl.barText, rated >= n ? "All rated: press Enter to submit."
      : rated + " of " + n + " rated · item " + (state.pos + 1));
  }
  ctl.barText.classList.toggle("done", rated >= n && !state.submitting);
  setText(ctl.barKeys, "a +1 · x −1 · 1–5 graded · space skip · ⌫ undo · ←→↑↓ move · enter submit (unrated items "
    + (data.prefill ? "at the model's guess)" : "skipped)"));
}
