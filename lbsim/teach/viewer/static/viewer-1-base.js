/* lbsim packet viewer.
 *
 * Theory of operation: the page carries its whole model as JSON (one element,
 * #lbsim-data): per variant, the topology, the decision records and the events as
 * columns (indices into one string table). Every event is one segment on one link,
 * from its sender at time t to its receiver at time ta. All variants' events are
 * merged in time order; the event list shows the ones the filters keep, and the
 * cursor is one of them. The simulated clock T follows the cursor (stepping) or
 * runs (playing); each variant's pane shows the packets on its links at T and, in
 * detail, the selected event (or its own latest event at or before T), so the
 * variants stay synchronised on simulated time.
 *
 * Time warp: link transits range from microseconds to tens of milliseconds and
 * idle gaps from nothing to seconds. Playback runs on a warped clock: between two
 * consecutive instants at which something is sent or arrives (breakpoints), the
 * warped length of an interval dt is TAU * ln(1 + dt / TAU), so a 10 ms transit and
 * a 0.2 ms transit both take visible time and long idle gaps shrink. The mapping is
 * monotonic, so seeking and stepping convert between the clocks exactly.
 *
 * Nothing here fetches anything: no network, no fonts, no external resources.
 */
(function () {
  "use strict";
  var M = JSON.parse(document.getElementById("lbsim-data").textContent);
  var S = M.strings;
  var V = M.variants;
  var TAU = 0.0002;
  var ROW = 24;
  var KIND_COLOURS = {
    "SYN": "#2e8b57", "SYN-ACK": "#2e8b57", "FIN": "#8e44ad", "RST": "#c0392b",
    "ACK": "#7f8c9a", "data": "#1f77b4", "HTTP request": "#e67e22",
    "HTTP response": "#d35400", "TLS record": "#16a0a0"
  };
  var ROLE_TEXT = {
    "l4-nat": "L4 balancer (NAT)", "l4-dsr": "L4 balancer (DSR)",
    "l4-proxy": "L4 proxy", "l7": "L7 balancer",
    "site": "router of a client site", "service": "router in front of a service"
  };

  function $(id) { return document.getElementById(id); }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    if (attrs) { for (var k in attrs) { e.setAttribute(k, attrs[k]); } }
    if (text !== undefined && text !== null) { e.textContent = text; }
    return e;
  }
  function svg(tag, attrs, text) {
    var e = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (var k in attrs) { e.setAttribute(k, attrs[k]); }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  function ms(t) { return (t * 1000).toFixed(3); }
  function str(i) { return i < 0 ? "" : S[i]; }
  function rate(bps) {
    if (bps >= 1e9) { return (bps / 1e9).toFixed(bps % 1e9 ? 1 : 0) + " Gbit/s"; }
    if (bps >= 1e6) { return (bps / 1e6).toFixed(bps % 1e6 ? 1 : 0) + " Mbit/s"; }
    return (bps / 1e3).toFixed(0) + " kbit/s";
  }
  function trim(x) { return String(Number(x.toPrecision(3))); }
  function latency(s) {
    if (s >= 0.001) { return trim(s * 1000) + " ms"; }
    return s >= 1e-4 ? trim(s * 1000) + " ms" : trim(s * 1e6) + " \u00b5s";
  }
  function hex(n, w) { return n < 0 ? "" : "0x" + ("0000" + n.toString(16)).slice(-w); }

  /* ---------------------------------------------------------------- events */
  var all = [];   // [variant index, event index] in time order
  V.forEach(function (v, vi) {
    for (var i = 0; i < v.count; i++) { all.push([vi, i]); }
  });
  all.sort(function (a, b) {
    var ta = V[a[0]].events.t[a[1]], tb = V[b[0]].events.t[b[1]];
    return ta - tb || a[0] - b[0] || a[1] - b[1];
  });
  function col(g, name) { var p = all[g]; return V[p[0]].events[name][p[1]]; }
  function ev(vi, i, name) { return V[vi].events[name][i]; }

  /* ------------------------------------------------------------ time warp */
  var B, W;
  function buildClock(mode) {
    var ts = [];
    V.forEach(function (v) {
      var e = v.events;
      for (var i = 0; i < v.count; i++) {
        ts.push(e.t[i]);
        if (e.ta[i] !== null) { ts.push(e.ta[i]); }
      }
    });
    if (M.window) { ts.push(M.window[0]); }
    ts.sort(function (a, b) { return a - b; });
    var b = [], w = [];
    var last = null, acc = 0;
    for (var k = 0; k < ts.length; k++) {
      if (last !== null && ts[k] - last < 1e-12) { continue; }
      if (last !== null) {
        var dt = ts[k] - last;
        acc += mode === "warp" ? TAU * Math.log(1 + dt / TAU) : dt;
      }
      b.push(ts[k]); w.push(acc); last = ts[k];
    }
    if (!b.length) { b = [0]; w = [0]; }
    B = new Float64Array(b); W = new Float64Array(w);
  }
  function search(arr, x) { // last index with arr[i] <= x (or 0)
    var lo = 0, hi = arr.length - 1;
    if (x < arr[0]) { return 0; }
    while (lo < hi) {
      var mid = (lo + hi + 1) >> 1;
      if (arr[mid] <= x) { lo = mid; } else { hi = mid - 1; }
    }
    return lo;
  }
  function toWarp(t) {
    var i = search(B, t);
    if (i >= B.length - 1 || t <= B[i]) { return W[i] + (t > B[i] && i === B.length - 1 ? 0 : 0); }
    return W[i] + (t - B[i]) / (B[i + 1] - B[i]) * (W[i + 1] - W[i]);
  }
  function fromWarp(w) {
    var i = search(W, w);
    if (i >= W.length - 1 || W[i + 1] === W[i]) { return B[i]; }
    return B[i] + (w - W[i]) / (W[i + 1] - W[i]) * (B[i + 1] - B[i]);
  }

  /* ------------------------------------------------------------- filters */
  var filtered = [];
  var cursor = -1;     // index into filtered
  var now = B ? B[0] : 0;
  var playing = false;
  function fill(select, values, label) {
    select.innerHTML = "";
    select.appendChild(el("option", { value: "" }, "all"));
    values.forEach(function (v) {
      select.appendChild(el("option", { value: v[0] }, label ? label(v) : v[1]));
    });
  }
  function setupFilters() {
    fill($("f-variant"), V.map(function (v) { return [v.name, v.name]; }));
    var kinds = {}, conns = {}, reqs = {};
    for (var g = 0; g < all.length; g++) {
      kinds[str(col(g, "kind"))] = 1;
      conns[col(g, "conn")] = 1;
      var r = col(g, "req");
      if (r >= 0) { reqs[r] = 1; }
    }
    fill($("f-kind"), Object.keys(kinds).sort().map(function (k) { return [k, k]; }));
    fill($("f-conn"), Object.keys(conns).map(Number).sort(function (a, b) {
      return S[a] < S[b] ? -1 : 1; }).map(function (c) { return [S[c], S[c]]; }));
    fill($("f-req"), Object.keys(reqs).map(Number).sort(function (a, b) {
      return S[a] < S[b] ? -1 : 1; }).map(function (r) { return [S[r], S[r]]; }));
    ["f-variant", "f-kind", "f-conn", "f-req"].forEach(function (id) {
      $(id).addEventListener("change", applyFilters);
    });
    var legend = $("legend");
    Object.keys(KIND_COLOURS).forEach(function (k) {
      if (!kinds[k]) { return; }
      var i = el("i"); i.style.background = KIND_COLOURS[k];
      legend.appendChild(i); legend.appendChild(document.createTextNode(k));
    });
  }
  function applyFilters() {
    var fv = $("f-variant").value, fk = $("f-kind").value;
    var fc = $("f-conn").value, fr = $("f-req").value;
    var keepKind = fk === "" ? -1 : S.indexOf(fk);
    filtered = [];
    for (var g = 0; g < all.length; g++) {
      if (fv !== "" && V[all[g][0]].name !== fv) { continue; }
      if (keepKind >= 0 && col(g, "kind") !== keepKind) { continue; }
      if (fc !== "" && S[col(g, "conn")] !== fc) { continue; }
      if (fr !== "" && (col(g, "req") < 0 || S[col(g, "req")] !== fr)) { continue; }
      filtered.push(g);
    }
    $("event-count").textContent = String(filtered.length);
    $("evspacer").style.height = (filtered.length * ROW) + "px";
    cursor = -1;
    for (var k = 0; k < filtered.length; k++) {
      if (col(filtered[k], "t") <= now) { cursor = k; } else { break; }
    }
    if (cursor < 0 && filtered.length) { cursor = 0; }
    renderList(true);
    renderAll();
  }
