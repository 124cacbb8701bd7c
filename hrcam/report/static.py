"""The report page's style sheet and script (inlined into every page: no server, no network).

The script reads the page's JSON (``<script id="report-data">``), draws one page of the grid (rows: images,
columns: the image then one overlay per map source, each with its scores), and keeps the state in the URL
fragment, so a link (or a test) can open any view: ``report.html#sort=gradcam:iou&order=desc&page=2``
(``sort``: ``index``, ``confidence``, ``correct`` or ``<source key>:<metric>``; images without the score
go last). Clicking a thumbnail shows the overlay at the image's resolution. ``<body>`` carries
``data-rows``, ``data-page``, ``data-sort``, ``data-order``, ``data-images-loaded`` and
``data-images-broken`` for tests.
"""

CSS = """
:root { --thumb: 128px; --fg: #1d1d1f; --muted: #6e6e73; --line: #d2d2d7; --accent: #0b57d0; }
* { box-sizing: border-box; }
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
       margin: 0 auto; padding: 16px 24px 48px; max-width: 1600px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 24px 0 8px; }
.meta, .note { color: var(--muted); font-size: 12px; }
a { color: var(--accent); text-decoration: none; } a:hover { text-decoration: underline; }
table.metrics { border-collapse: collapse; font-variant-numeric: tabular-nums; }
table.metrics th, table.metrics td { border-bottom: 1px solid var(--line); padding: 4px 10px;
                                     text-align: right; }
table.metrics th:first-child, table.metrics td:first-child { text-align: left; }
table.metrics td.best { font-weight: 700; }
.top { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
.charts svg { border: 1px solid var(--line); border-radius: 6px; background: #fff; }
.legend { min-width: 260px; }
.legend .bar { height: 14px; border-radius: 3px; border: 1px solid var(--line); }
.legend .ticks { display: flex; justify-content: space-between; font-size: 11px; color: var(--muted); }
.controls { display: flex; flex-wrap: wrap; gap: 12px; align-items: center; margin: 8px 0; }
.controls select, .controls button { font: inherit; padding: 2px 6px; }
.pager a, .pager span { padding: 1px 6px; }
.pager span.current { font-weight: 700; border: 1px solid var(--line); border-radius: 4px; }
table.grid { border-collapse: collapse; }
table.grid th { position: sticky; top: 0; background: #fff; z-index: 1; font-size: 12px;
                border-bottom: 2px solid var(--line); padding: 4px; text-align: left; }
table.grid td { vertical-align: top; padding: 6px 4px; border-bottom: 1px solid var(--line); }
table.grid img { width: var(--thumb); height: auto; display: block; cursor: zoom-in; border-radius: 3px; }
table.grid img.px { image-rendering: pixelated; }
table.grid img.broken { outline: 3px solid #d00; }
.info { font-size: 12px; width: 150px; overflow-wrap: anywhere; }
.info .name { font-weight: 600; }
.ok { color: #137333; } .wrong { color: #c5221f; }
.scores { font-size: 11px; color: var(--muted); font-variant-numeric: tabular-nums; width: var(--thumb); }
.scores span { display: inline-block; margin-right: 6px; }
.scores b { color: var(--fg); font-weight: 600; }
#lightbox { position: fixed; inset: 0; background: rgba(0,0,0,.85); display: none; align-items: center;
            justify-content: center; z-index: 10; cursor: zoom-out; flex-direction: column; color: #eee; }
#lightbox.open { display: flex; }
#lightbox img { max-width: 95vw; max-height: 88vh; image-rendering: auto; }
"""

JS = r"""
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var state = { sort: "index", order: "asc", page: 1 };
  var body = document.body, loaded = 0, broken = 0;

  function value(row, key) {
    if (key === "index") { return row.i; }
    if (key === "confidence") { return row.prob; }
    if (key === "correct") { return row.correct === null ? null : (row.correct ? 1 : 0); }
    var parts = key.split(":"), cell = row.cells[parts[0]];
    if (!cell || cell.scores[parts[1]] === undefined) { return null; }
    return cell.scores[parts[1]];
  }
  function sortKeys() {
    var keys = ["index", "confidence"];
    if (data.has_labels) { keys.push("correct"); }
    data.columns.forEach(function (c) {
      data.metrics.forEach(function (m) { keys.push(c.key + ":" + m.key); });
    });
    return keys;
  }
  function keyLabel(key) {
    if (key === "index") { return "image order"; }
    if (key === "confidence") { return "prediction confidence"; }
    if (key === "correct") { return "correct prediction"; }
    var parts = key.split(":");
    var col = data.columns.filter(function (c) { return c.key === parts[0]; })[0];
    var met = data.metrics.filter(function (m) { return m.key === parts[1]; })[0];
    return col.title + ": " + met.label;
  }
  function readHash() {
    var p = new URLSearchParams(location.hash.replace(/^#/, ""));
    var keys = sortKeys();
    state.sort = keys.indexOf(p.get("sort")) >= 0 ? p.get("sort") : "index";
    state.order = p.get("order") === "desc" ? "desc" : "asc";
    var page = parseInt(p.get("page") || "1", 10);
    state.page = isNaN(page) ? 1 : page;
  }
  function go(changes) {
    var next = { sort: state.sort, order: state.order, page: state.page };
    Object.keys(changes).forEach(function (k) { next[k] = changes[k]; });
    location.hash = "sort=" + encodeURIComponent(next.sort) + "&order=" + next.order + "&page=" + next.page;
  }
  function sortedRows() {
    var dir = state.order === "desc" ? -1 : 1;
    return data.rows.slice().sort(function (a, b) {
      var va = value(a, state.sort), vb = value(b, state.sort);
      if (va === null && vb === null) { return a.i - b.i; }
      if (va === null) { return 1; }
      if (vb === null) { return -1; }
      return (va - vb) * dir || a.i - b.i;
    });
  }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  function picture(entry, caption) {
    var img = el("img", { src: entry.src, alt: caption, loading: "lazy", decoding: "async", title: caption });
    if (entry.px) { img.className = "px"; }
    img.addEventListener("load", function () { loaded += 1; body.dataset.imagesLoaded = loaded; });
    img.addEventListener("error", function () {
      img.classList.add("broken"); broken += 1; body.dataset.imagesBroken = broken;
    });
    img.addEventListener("click", function () { openBox(entry.full || entry.src, caption); });
    return img;
  }
  function fmt(v) { return v === null ? "n/a" : v.toFixed(2); }
  function infoCell(row) {
    var td = el("td", { "class": "info" });
    td.appendChild(picture(row.image, row.name));
    td.appendChild(el("div", { "class": "name" }, row.name));
    if (row.label_name !== null) { td.appendChild(el("div", {}, "true: " + row.label_name)); }
    var pred = el("div", {}, "predicted: " + row.pred_name + " (" + row.prob.toFixed(2) + ")");
    if (row.correct !== null) { pred.className = row.correct ? "ok" : "wrong"; }
    td.appendChild(pred);
    td.appendChild(el("div", { "class": "note" }, "map of: " + row.explained_name));
    return td;
  }
  function mapCell(row, col) {
    var cell = row.cells[col.key];
    var td = el("td", { "class": "cell", "data-source": col.key });
    td.appendChild(picture(cell, row.name + " / " + col.title));
    var scores = el("div", { "class": "scores" });
    data.metrics.forEach(function (m) {
      var v = cell.scores[m.key] === undefined ? null : cell.scores[m.key];
      var span = el("span", { "data-metric": m.key, "data-value": v === null ? "" : String(v),
                              title: m.help });
      span.appendChild(document.createTextNode(m.label + " "));
      span.appendChild(el("b", {}, fmt(v)));
      scores.appendChild(span);
    });
    if (cell.note) { scores.appendChild(el("div", {}, cell.note)); }
    td.appendChild(scores);
    return td;
  }
  function pager(pages) {
    var nav = document.getElementById("pager");
    nav.textContent = "";
    for (var p = 1; p <= pages; p++) {
      if (p === state.page) { nav.appendChild(el("span", { "class": "current" }, String(p))); continue; }
      var a = el("a", { href: "#", "data-page": String(p) }, String(p));
      a.addEventListener("click", function (e) { e.preventDefault(); go({ page: +this.dataset.page }); });
      nav.appendChild(a);
    }
  }
  function render() {
    var rows = sortedRows(), size = data.page_size;
    var pages = Math.max(1, Math.ceil(rows.length / size));
    state.page = Math.min(Math.max(1, state.page), pages);
    var tbody = document.getElementById("rows");
    tbody.textContent = "";
    rows.slice((state.page - 1) * size, state.page * size).forEach(function (row) {
      var tr = el("tr", { "class": "row", "data-index": String(row.i) });
      tr.appendChild(infoCell(row));
      data.columns.forEach(function (col) { tr.appendChild(mapCell(row, col)); });
      tbody.appendChild(tr);
    });
    pager(pages);
    document.getElementById("sort-key").value = state.sort;
    document.getElementById("sort-order").textContent = state.order === "desc" ? "descending" : "ascending";
    document.getElementById("showing").textContent = "page " + state.page + " of " + pages + ", " +
      rows.length + " images, sorted by " + keyLabel(state.sort) + " (" + state.order + ")";
    body.dataset.rows = String(tbody.children.length);
    body.dataset.page = String(state.page);
    body.dataset.sort = state.sort;
    body.dataset.order = state.order;
  }
  function openBox(src, caption) {
    var box = document.getElementById("lightbox");
    box.textContent = "";
    box.appendChild(el("img", { src: src, alt: caption }));
    box.appendChild(el("div", {}, caption));
    box.className = "open";
  }
  document.getElementById("lightbox").addEventListener("click", function () { this.className = ""; });
  var select = document.getElementById("sort-key");
  sortKeys().forEach(function (k) { select.appendChild(el("option", { value: k }, keyLabel(k))); });
  select.addEventListener("change", function () { go({ sort: select.value, page: 1 }); });
  document.getElementById("sort-order").addEventListener("click", function () {
    go({ order: state.order === "desc" ? "asc" : "desc", page: 1 });
  });
  window.addEventListener("hashchange", function () { readHash(); render(); });
  body.dataset.imagesLoaded = "0";
  body.dataset.imagesBroken = "0";
  readHash();
  render();
})();
"""
