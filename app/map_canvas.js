// The Map's replay on a canvas (st.components.v2; see app/map_canvas.py and core/replay_canvas.py).
// Every round arrives once, as raw bytes; points are written straight into an ImageData buffer (no GPU
// needed), a round step only swaps which uint8 colour codes are read. Pan (drag in "Pan" mode or with
// Shift), zoom (wheel), lasso (drag) and hover all run here; a lasso sends the chosen point positions
// once, as the trigger value "selection". Text from the data goes into the DOM through textContent only.

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function decode(bytes) {
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const buf = (u8.byteOffset % 4 === 0) ? u8 : u8.slice();  // typed views need aligned offsets
  const magic = String.fromCharCode(buf[0], buf[1], buf[2], buf[3]);
  if (magic !== "FSM1") throw new Error("not a map payload");
  const dv = new DataView(buf.buffer, buf.byteOffset, 8);
  const hlen = dv.getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(buf.subarray(8, 8 + hlen)));
  const arrays = {};
  const kinds = {f4: Float32Array, u4: Uint32Array, u2: Uint16Array, u1: Uint8Array};
  for (const [name, [offset, count, dtype]] of Object.entries(header.arrays)) {
    arrays[name] = new kinds[dtype](buf.buffer, buf.byteOffset + offset, count);
  }
  const [x0, y0, x1, y1] = header.extent;  // positions travel as uint16 steps over this box
  for (const [axis, lo, hi] of [["x", x0, x1], ["y", y0, y1]]) {
    const q = arrays[axis], out = new Float32Array(q.length), step = (hi - lo) / 65535;
    for (let i = 0; i < q.length; i++) out[i] = lo + q[i] * step;
    arrays[axis] = out;
  }
  return {header, arrays};
}

function hexColor(hex) {
  const v = parseInt(hex.slice(1), 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

function palette(stops) {
  // 256 ABGR words (little-endian ImageData): stops[0] at 0, stops[1] at 127.5, stops[2] at 255
  const [a, b, c] = stops.map(hexColor);
  const out = new Uint32Array(256);
  for (let k = 0; k < 256; k++) {
    const t = k / 255;
    const [p, q, u] = t < 0.5 ? [a, b, t * 2] : [b, c, (t - 0.5) * 2];
    const rgb = [0, 1, 2].map((j) => Math.round(p[j] + (q[j] - p[j]) * u));
    out[k] = (255 << 24) | (rgb[2] << 16) | (rgb[1] << 8) | rgb[0];
  }
  return out;
}

function fitView(ctl) {
  const {x, y} = ctl.arrays;
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (let i = 0; i < x.length; i++) {
    const a = x[i], b = y[i];
    if (a < x0) x0 = a; if (a > x1) x1 = a; if (b < y0) y0 = b; if (b > y1) y1 = b;
  }
  for (const w of ctl.header.w_xy) {
    if (!w) continue;
    x0 = Math.min(x0, w[0]); x1 = Math.max(x1, w[0]); y0 = Math.min(y0, w[1]); y1 = Math.max(y1, w[1]);
  }
  if (!isFinite(x0)) { x0 = -1; x1 = 1; y0 = -1; y1 = 1; }
  const W = ctl.cssW, H = ctl.cssH;
  const scale = 0.92 * Math.min(W / ((x1 - x0) || 1), H / ((y1 - y0) || 1));
  ctl.view = {cx: (x0 + x1) / 2, cy: (y0 + y1) / 2, scale};
}

function toScreen(ctl, x, y) {
  const v = ctl.view;
  return [(x - v.cx) * v.scale + ctl.cssW / 2, ctl.cssH / 2 - (y - v.cy) * v.scale];
}

function toData(ctl, sx, sy) {
  const v = ctl.view;
  return [(sx - ctl.cssW / 2) / v.scale + v.cx, v.cy - (sy - ctl.cssH / 2) / v.scale];
}

function paint(ctl) {
  const t0 = performance.now();
  const {header, arrays} = ctl;
  const dpr = ctl.dpr, W = ctl.canvas.width, H = ctl.canvas.height;
  if (!ctl.image || ctl.image.width !== W || ctl.image.height !== H) {
    ctl.image = ctl.ctx.createImageData(W, H);
    ctl.pixels = new Uint32Array(ctl.image.data.buffer);
  }
  const px = ctl.pixels;
  px.fill(0xFFFFFFFF);
  const m = header.m, r = ctl.round, x = arrays.x, y = arrays.y;
  const at = Math.max(0, r - header.codes_from);  // the codes start at round position codes_from
  const codes = arrays.codes.subarray(at * m, (at + 1) * m);
  const pal = ctl.palette, s = Math.max(1, Math.round(header.size * dpr)), half = s >> 1;
  const v = ctl.view, k = v.scale * dpr, ox = W / 2 - v.cx * k, oy = H / 2 + v.cy * k;
  const thr = header.threshold_codes[r];  // each round's codes are over its own span
  for (let pass = 0; pass < 2; pass++) {  // predicted negatives first, positives on top
    for (let i = 0; i < m; i++) {
      const c = codes[i];
      if ((c > thr) !== (pass === 1)) continue;
      const X = (x[i] * k + ox - half) | 0, Y = (oy - y[i] * k - half) | 0;
      if (X < 0 || Y < 0 || X + s > W || Y + s > H) continue;
      const col = pal[c];
      for (let dy = 0; dy < s; dy++) {
        const row = (Y + dy) * W + X;
        for (let dx = 0; dx < s; dx++) px[row + dx] = col;
      }
    }
  }
  if (ctl.selected && ctl.selected.length) {
    const sel = ctl.selected, ss = s + 2 * Math.max(1, Math.round(dpr)), sh = ss >> 1;
    for (let j = 0; j < sel.length; j++) {
      const i = sel[j];
      const X = (x[i] * k + ox - sh) | 0, Y = (oy - y[i] * k - sh) | 0;
      if (X < 0 || Y < 0 || X + ss > W || Y + ss > H) continue;
      for (let dy = 0; dy < ss; dy++) {
        const row = (Y + dy) * W + X;
        for (let dx = 0; dx < ss; dx++) px[row + dx] = 0xFF212121;
      }
    }
  }
  ctl.ctx.putImageData(ctl.image, 0, 0);
  overlay(ctl);
  paintLegend(ctl);
  ctl.caption.textContent = (header.captions[r] || "No rounds yet")
    + (header.codes_from > 0 ? " · loading the other rounds…" : "");
  ctl.slider.value = String(r);
  ctl.roundLabel.textContent = "round " + (header.rounds[r] === undefined ? "–" : header.rounds[r]);
  ctl.root.dataset.round = String(header.rounds[r]);
  ctl.root.dataset.paints = String((Number(ctl.root.dataset.paints) || 0) + 1);
  ctl.root.dataset.paintMs = (performance.now() - t0).toFixed(1);
  ctl.root.dataset.paintedAt = performance.now().toFixed(1);
}

function overlay(ctl) {
  const {header, arrays} = ctl, ctx = ctl.ctx, dpr = ctl.dpr, r = ctl.round;
  ctx.save();
  ctx.scale(dpr, dpr);
  const size = header.size;
  const fa = arrays.flip_at, flips = arrays.flips;
  if (fa && r + 1 < fa.length) {  // flipped since the round before: black open diamonds
    ctx.strokeStyle = "rgba(0,0,0,0.8)";
    ctx.lineWidth = 1;
    ctx.beginPath();
    const d = size + 3;
    for (let j = fa[r]; j < fa[r + 1]; j++) {
      const [sx, sy] = toScreen(ctl, arrays.x[flips[j]], arrays.y[flips[j]]);
      ctx.moveTo(sx, sy - d); ctx.lineTo(sx + d, sy); ctx.lineTo(sx, sy + d); ctx.lineTo(sx - d, sy); ctx.closePath();
    }
    ctx.stroke();
  }
  const path = [];
  for (let j = 0; j <= r; j++) if (header.w_xy[j]) path.push([j, toScreen(ctl, header.w_xy[j][0], header.w_xy[j][1])]);
  if (path.length && header.show_path === false) {  // the trajectory hidden: w at this round only
    const last = path[path.length - 1];
    if (last[0] === r) star(ctx, last[1][0], last[1][1]);
  } else if (path.length) {  // w by round: a line with numbered marks, the current round on a star
    ctx.strokeStyle = "#CC79A7"; ctx.lineWidth = 2;
    ctx.beginPath();
    path.forEach(([, [sx, sy]], i) => (i ? ctx.lineTo(sx, sy) : ctx.moveTo(sx, sy)));
    ctx.stroke();
    ctx.font = "12px sans-serif"; ctx.textBaseline = "bottom";
    for (const [j, [sx, sy]] of path) {
      ctx.beginPath(); ctx.arc(sx, sy, 4.5, 0, 2 * Math.PI);
      ctx.fillStyle = "#CC79A7"; ctx.fill(); ctx.strokeStyle = "#000"; ctx.lineWidth = 1.5; ctx.stroke();
      ctx.fillStyle = "#000"; ctx.fillText(String(header.rounds[j]), sx + 6, sy - 4);
    }
    const last = path[path.length - 1];
    if (last[0] === r) star(ctx, last[1][0], last[1][1]);
  }
  ctx.restore();
}

function drawLasso(ctl) {
  // On its own canvas over the map: a pointer move redraws this path only, never the points.
  const c = ctl.lassoCanvas, ctx = c.getContext("2d"), dpr = ctl.dpr;
  if (c.width !== ctl.canvas.width || c.height !== ctl.canvas.height) {
    c.width = ctl.canvas.width; c.height = ctl.canvas.height;
    c.style.width = ctl.cssW + "px"; c.style.height = ctl.cssH + "px";
  }
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, c.width, c.height);
  if (!ctl.lasso || ctl.lasso.length < 2) return;
  ctx.scale(dpr, dpr);
  ctx.strokeStyle = "#000"; ctx.setLineDash([4, 3]); ctx.lineWidth = 1;
  ctx.beginPath();
  ctl.lasso.forEach(([sx, sy], i) => (i ? ctx.lineTo(sx, sy) : ctx.moveTo(sx, sy)));
  ctx.closePath(); ctx.stroke();
}

function star(ctx, x, y) {
  ctx.beginPath();
  for (let i = 0; i < 10; i++) {
    const rad = i % 2 ? 4 : 10, a = -Math.PI / 2 + i * Math.PI / 5;
    ctx.lineTo(x + rad * Math.cos(a), y + rad * Math.sin(a));
  }
  ctx.closePath();
  ctx.fillStyle = "#CC79A7"; ctx.fill(); ctx.strokeStyle = "#000"; ctx.lineWidth = 2; ctx.stroke();
}

function schedule(ctl) {
  if (ctl.pending) return;
  ctl.pending = true;
  requestAnimationFrame(() => { ctl.pending = false; paint(ctl); });
}

function setRound(ctl, r) {
  if (ctl.header.codes_from > 0) return;  // the other rounds' colours are on their way
  const n = ctl.header.rounds.length;
  ctl.round = Math.max(0, Math.min(n - 1, r | 0));
  try { window.sessionStorage.setItem("fsmap-round-" + ctl.header.uid, String(ctl.round)); } catch (e) { /* off */ }
  schedule(ctl);
}

function keptRound(ctl) {
  if (ctl.header.codes_from > 0) return ctl.header.start;  // only the latest round's colours are here yet
  try {
    const kept = window.sessionStorage.getItem("fsmap-round-" + ctl.header.uid);
    if (kept !== null && Number(kept) >= 0 && Number(kept) < ctl.header.rounds.length) return Number(kept);
  } catch (e) { /* storage off: the latest round */ }
  return ctl.header.start;
}

function reportRound(ctl) {
  // The page's metrics (AP, ratings, flips) follow the round shown here: one rerun per settled step.
  if (ctl.reported === ctl.round + "|" + ctl.header.uid) return;
  ctl.reported = ctl.round + "|" + ctl.header.uid;
  ctl.setTriggerValue("round", {round: ctl.header.rounds[ctl.round], uid: ctl.header.uid, nonce: String(Date.now())});
}

function insidePolygon(poly, x, y) {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i], [xj, yj] = poly[j];
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

function finishLasso(ctl) {
  const poly = ctl.lasso.map(([sx, sy]) => toData(ctl, sx, sy));
  ctl.lasso = null;
  drawLasso(ctl);
  if (poly.length < 3) { schedule(ctl); return; }
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (const [a, b] of poly) { x0 = Math.min(x0, a); x1 = Math.max(x1, a); y0 = Math.min(y0, b); y1 = Math.max(y1, b); }
  const {x, y} = ctl.arrays, picked = [];
  for (let i = 0; i < x.length; i++) {
    const a = x[i], b = y[i];
    if (a < x0 || a > x1 || b < y0 || b > y1) continue;
    if (insidePolygon(poly, a, b)) picked.push(i);
  }
  ctl.selected = picked;
  ctl.root.dataset.selected = String(picked.length);
  schedule(ctl);
  ctl.nonce = (ctl.nonce || 0) + 1;
  ctl.setTriggerValue("selection", {points: picked, uid: ctl.header.uid, nonce: Date.now() + "-" + ctl.nonce});
}

function itemId(ctl, i) {
  const at = ctl.arrays.id_at, bytes = ctl.arrays.id_bytes;
  if (!at || !bytes) return null;
  return new TextDecoder().decode(bytes.subarray(at[i], at[i + 1]));
}

function hover(ctl, sx, sy) {
  const {x, y, codes, label_codes: lc} = ctl.arrays, m = ctl.header.m;
  const off = Math.max(0, ctl.round - ctl.header.codes_from) * m;
  const [dx, dy] = toData(ctl, sx, sy), rad = 6 / ctl.view.scale;
  let best = -1, bestD = rad * rad;
  for (let i = 0; i < m; i++) {
    const a = x[i] - dx; if (a > rad || a < -rad) continue;
    const b = y[i] - dy; if (b > rad || b < -rad) continue;
    const d = a * a + b * b;
    if (d <= bestD) { bestD = d; best = i; }
  }
  if (best < 0) { ctl.tip.style.display = "none"; return; }
  const span = ctl.header.spans[ctl.round], score = ((codes[off + best] / 127.5) - 1) * span;
  const cut = (t) => (t.length > 80 ? t.slice(0, 80) + "…" : t);  // a 3,000-character id drew a 12,000 px tip
  const parts = [cut(itemId(ctl, best) || ("point " + best))];
  if (lc && lc[best] !== 255) parts.push("label " + cut(String(ctl.header.labels[lc[best]])));
  parts.push("score ≈ " + (score >= 0 ? "+" : "") + score.toFixed(2));
  ctl.tip.textContent = parts.join(" · ");
  ctl.tip.style.display = "block";
  ctl.tip.style.left = (sx + 12) + "px";
  ctl.tip.style.top = (sy + 12) + "px";
}

function build(ctl) {
  const root = ctl.parent.querySelector(".fsmap-root") || ctl.parent;
  root.replaceChildren();
  ctl.root = root;
  const bar = el("div", "fsmap-bar");
  ctl.play = el("button", "fsmap-btn", "▶ Play");
  ctl.pause = el("button", "fsmap-btn", "❚❚ Pause");
  ctl.slider = el("input", "fsmap-slider");
  ctl.slider.type = "range"; ctl.slider.min = "0"; ctl.slider.step = "1";
  ctl.slider.setAttribute("aria-label", "Replay round");
  ctl.roundLabel = el("span", "fsmap-round");
  ctl.lassoBtn = el("button", "fsmap-btn fsmap-mode", "Lasso");
  ctl.panBtn = el("button", "fsmap-btn fsmap-mode", "Pan");
  ctl.resetBtn = el("button", "fsmap-btn", "Reset view");
  bar.append(ctl.play, ctl.pause, ctl.slider, ctl.roundLabel, ctl.lassoBtn, ctl.panBtn, ctl.resetBtn);
  ctl.caption = el("div", "fsmap-caption");
  const stage = el("div", "fsmap-stage");
  ctl.canvas = el("canvas", "fsmap-canvas");
  ctl.lassoCanvas = el("canvas", "fsmap-lasso");
  ctl.tip = el("div", "fsmap-tip");
  stage.append(ctl.canvas, ctl.lassoCanvas, ctl.tip);
  ctl.legend = el("div", "fsmap-legend");
  root.append(ctl.caption, stage, bar, ctl.legend);
  ctl.stage = stage;
  ctl.ctx = ctl.canvas.getContext("2d");
  ctl.dragMode = ctl.dragMode || "lasso";

  ctl.slider.addEventListener("input", () => { stop(ctl); setRound(ctl, Number(ctl.slider.value)); });
  ctl.slider.addEventListener("change", () => reportRound(ctl));
  ctl.play.addEventListener("click", () => playRounds(ctl));
  ctl.pause.addEventListener("click", () => { stop(ctl); reportRound(ctl); });
  ctl.lassoBtn.addEventListener("click", () => { ctl.dragMode = "lasso"; modeButtons(ctl); });
  ctl.panBtn.addEventListener("click", () => { ctl.dragMode = "pan"; modeButtons(ctl); });
  ctl.resetBtn.addEventListener("click", () => { fitView(ctl); schedule(ctl); });
  const c = ctl.canvas;
  c.addEventListener("wheel", (e) => {
    e.preventDefault();
    const rect = c.getBoundingClientRect(), sx = e.clientX - rect.left, sy = e.clientY - rect.top;
    const [dx, dy] = toData(ctl, sx, sy), f = Math.exp(-e.deltaY * 0.0015);
    ctl.view.scale *= f;
    const [nx, ny] = toData(ctl, sx, sy);
    ctl.view.cx += dx - nx; ctl.view.cy += dy - ny;
    schedule(ctl);
  }, {passive: false});
  c.addEventListener("pointerdown", (e) => {
    const rect = c.getBoundingClientRect(), sx = e.clientX - rect.left, sy = e.clientY - rect.top;
    c.setPointerCapture(e.pointerId);
    ctl.tip.style.display = "none";
    if (ctl.dragMode === "pan" || e.shiftKey || e.button === 1) ctl.drag = {sx, sy, cx: ctl.view.cx, cy: ctl.view.cy};
    else ctl.lasso = [[sx, sy]];
  });
  c.addEventListener("pointermove", (e) => {
    const rect = c.getBoundingClientRect(), sx = e.clientX - rect.left, sy = e.clientY - rect.top;
    if (ctl.drag) {
      ctl.view.cx = ctl.drag.cx - (sx - ctl.drag.sx) / ctl.view.scale;
      ctl.view.cy = ctl.drag.cy + (sy - ctl.drag.sy) / ctl.view.scale;
      schedule(ctl);
    } else if (ctl.lasso) {
      ctl.lasso.push([sx, sy]);
      if (!ctl.lassoPending) {
        ctl.lassoPending = true;
        requestAnimationFrame(() => { ctl.lassoPending = false; drawLasso(ctl); });
      }
    } else if (!ctl.hoverPending) {
      ctl.hoverPending = true;
      requestAnimationFrame(() => { ctl.hoverPending = false; hover(ctl, sx, sy); });
    }
  });
  c.addEventListener("pointerup", () => {
    if (ctl.drag) ctl.drag = null;
    else if (ctl.lasso) finishLasso(ctl);
  });
  c.addEventListener("pointerleave", () => { ctl.tip.style.display = "none"; });
  c.addEventListener("dblclick", () => {
    ctl.selected = [];
    schedule(ctl);
    ctl.setTriggerValue("selection", {points: [], uid: ctl.header.uid, nonce: Date.now() + "-clear"});
  });
  ctl.resize = new ResizeObserver(() => { if (size(ctl)) schedule(ctl); });
  ctl.resize.observe(stage);
}

function modeButtons(ctl) {
  ctl.lassoBtn.classList.toggle("fsmap-active", ctl.dragMode === "lasso");
  ctl.panBtn.classList.toggle("fsmap-active", ctl.dragMode === "pan");
}

function size(ctl) {
  const w = Math.max(200, ctl.stage.clientWidth || 800), h = ctl.header.height;
  const dpr = window.devicePixelRatio || 1;
  if (w === ctl.cssW && h === ctl.cssH && dpr === ctl.dpr) return false;
  const first = !ctl.cssW;
  ctl.cssW = w; ctl.cssH = h; ctl.dpr = dpr;
  ctl.stage.style.height = h + "px";
  ctl.canvas.style.width = w + "px"; ctl.canvas.style.height = h + "px";
  ctl.canvas.width = Math.round(w * dpr); ctl.canvas.height = Math.round(h * dpr);
  if (first || !ctl.view) fitView(ctl);
  return true;
}

function stop(ctl) {
  clearInterval(ctl.timer);
  ctl.timer = null;
}

function playRounds(ctl) {
  stop(ctl);
  const n = ctl.header.rounds.length;
  if (ctl.round >= n - 1) setRound(ctl, 0);
  ctl.timer = setInterval(() => {
    if (ctl.round >= n - 1) { stop(ctl); reportRound(ctl); return; }
    setRound(ctl, ctl.round + 1);
  }, 900);
}

function legend(ctl) {
  const h = ctl.header, box = ctl.legend;
  box.replaceChildren();
  const bar = el("span", "fsmap-scale");
  bar.style.background = `linear-gradient(to right, ${h.stops[0]}, ${h.stops[1]}, ${h.stops[2]})`;
  ctl.legendLo = el("span", "fsmap-key fsmap-lo");
  ctl.legendHi = el("span", "fsmap-key fsmap-hi");
  ctl.legendShown = null;
  box.append(ctl.legendLo, bar, ctl.legendHi,
             el("span", "fsmap-key fsmap-w", "w by round (★ this round)"),
             el("span", "fsmap-key fsmap-flip", "flipped since the round before"),
             el("span", "fsmap-key", h.m.toLocaleString("en-US") + " points"));
}

// The colour scale's ends for the round shown: each round's colours span its own scores (``Replay.span``).
function paintLegend(ctl) {
  const span = ctl.header.spans[ctl.round];
  if (!ctl.legendLo || span === undefined || ctl.legendShown === span) return;
  const fmt = (v) => (v >= 0 ? "+" : "−") + (Math.abs(v) >= 0.01 ? Math.abs(v).toFixed(2) : Math.abs(v).toPrecision(1));
  ctl.legendLo.textContent = "score (logit) " + fmt(-span);
  ctl.legendHi.textContent = fmt(span) + " (this round's scores)";
  ctl.legendShown = span;
}

export default function (component) {
  const {data, parentElement, setTriggerValue} = component;
  let ctl = parentElement.__fewshotMap;
  if (!ctl) {
    ctl = {parent: parentElement};
    parentElement.__fewshotMap = ctl;
  }
  ctl.setTriggerValue = setTriggerValue;
  if (!data) return undefined;
  const t0 = performance.now();
  if (ctl.root) ctl.root.dataset.receivedAt = t0.toFixed(1);
  const view = ArrayBuffer.isView(data) || data instanceof ArrayBuffer ? data : null;
  if (!view) return undefined;
  // Same points as drawn already (a rerun: a lasso, a toggle): keep the view, the round and the selection.
  const head = decode(view);
  const fresh = !ctl.header || ctl.header.uid !== head.header.uid;
  const moved = !ctl.header || ctl.header.start !== head.header.start;
  const upgraded = !fresh && ctl.header.codes_from > 0 && head.header.codes_from === 0;
  ctl.header = head.header; ctl.arrays = head.arrays;
  if (fresh) {
    ctl.palette = palette(ctl.header.stops);
    if (!ctl.root || !ctl.root.isConnected) build(ctl);
    ctl.selected = [];
    ctl.view = null; ctl.cssW = 0;
    ctl.slider.max = String(Math.max(0, ctl.header.rounds.length - 1));
    size(ctl);
    legend(ctl);
    modeButtons(ctl);
  }
  if (fresh || upgraded) {
    ctl.round = keptRound(ctl);
    ctl.reported = ctl.round + "|" + ctl.header.uid;
    ctl.play.disabled = ctl.pause.disabled = ctl.slider.disabled = ctl.header.rounds.length < 2
      || ctl.header.codes_from > 0;
  } else if (moved) ctl.round = ctl.header.start;
  ctl.root.dataset.codesFrom = String(ctl.header.codes_from);
  ctl.root.dataset.decodeMs = (performance.now() - t0).toFixed(1);
  ctl.root.dataset.receivedAt = t0.toFixed(1);
  ctl.root.dataset.points = String(ctl.header.m);
  ctl.root.dataset.rounds = String(ctl.header.rounds.length);
  paint(ctl);
  if (ctl.header.codes_from > 0 && ctl.asked !== ctl.header.uid) {  // the map is up: now every round's colours
    ctl.asked = ctl.header.uid;
    setTimeout(() => ctl.setTriggerValue("rounds", {uid: ctl.header.uid, nonce: String(Date.now())}), 0);
  }
  return () => {
    stop(ctl);
    if (ctl.resize) ctl.resize.disconnect();
    delete parentElement.__fewshotMap;
  };
}
