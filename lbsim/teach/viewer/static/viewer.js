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
    "l4-proxy": "L4 proxy", "l7": "L7 balancer"
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

  /* ---------------------------------------------------------- topology */
  var panes = [];
  function buildPane(v, vi) {
    var box = el("div", { "class": "variant", "data-variant": v.name });
    var h = el("h2", null, v.name);
    h.appendChild(el("span", { "class": "tag" }, (ROLE_TEXT[v.kind] || v.label) + ", " + v.algorithm));
    box.appendChild(h);
    var used = {};
    var e = v.events;
    for (var i = 0; i < v.count; i++) { used[S[e.from[i]]] = 1; used[S[e.at[i]]] = 1; }
    var clients = v.nodes.filter(function (n) { return n.role === "client" && used[n.name]; });
    var backends = v.nodes.filter(function (n) { return n.role === "backend"; });
    var lb = v.nodes.filter(function (n) { return n.role === "balancer"; })[0];
    var router = v.nodes.filter(function (n) { return n.role === "router"; })[0];
    var rows = Math.max(clients.length, backends.length, 3);
    var step = Math.max(22, Math.min(46, 300 / rows));
    var H = Math.max(200, rows * step + 70 + (router ? 60 : 0));
    var Wd = 640;
    var s = svg("svg", { "class": "topo", viewBox: "0 0 " + Wd + " " + H, role: "img",
      "aria-label": "topology of " + v.name });
    var pos = {};
    var top = 40;
    function place(list, x) {
      var gap = (H - top - 20 - (router ? 60 : 0)) / Math.max(list.length, 1);
      list.forEach(function (n, k) { pos[n.name] = [x, top + gap * (k + 0.5)]; });
    }
    place(clients, 78);
    place(backends, Wd - 78);
    var midY = top + (H - top - 20 - (router ? 60 : 0)) / 2;
    pos[lb.name] = [Wd / 2, midY];
    if (router) { pos[router.name] = [Wd / 2, H - 34]; }
    var linkEls = {};
    var drawn = {};
    v.links.forEach(function (l, li) {
      if (!pos[l.from] || !pos[l.to]) { return; }
      var key = [l.from, l.to].sort().join("|");
      if (!drawn[key]) {
        var a = pos[l.from], b = pos[l.to];
        drawn[key] = svg("line", { "class": "link", x1: a[0], y1: a[1], x2: b[0], y2: b[1] });
        s.appendChild(drawn[key]);
      }
      linkEls[li] = drawn[key];
    });
    // One label per side when its links agree, else one per link.
    ["client", "backend"].forEach(function (side) {
      var ls = v.links.filter(function (l) { return l.side === side && pos[l.from] && pos[l.to]; });
      if (!ls.length) { return; }
      var text = function (l) { return latency(l.latency) + " \u00b7 " + rate(l.bandwidth) + " \u00b7 MTU " + l.mtu; };
      var same = ls.every(function (l) { return text(l) === text(ls[0]); });
      var x = side === "client" ? Wd * 0.3 : Wd * 0.7;
      if (same) {
        s.appendChild(svg("text", { "class": "linklabel", x: x, y: 16, "text-anchor": "middle" },
          side + " links: " + text(ls[0])));
      } else {
        ls.forEach(function (l) {
          var a = pos[l.from], b = pos[l.to];
          s.appendChild(svg("text", { "class": "linklabel", x: (a[0] + b[0]) / 2,
            y: (a[1] + b[1]) / 2 - 4, "text-anchor": "middle" }, text(l)));
        });
      }
    });
    var nodeEls = {};
    function node(n, w) {
      var p = pos[n.name];
      var g = svg("g", { "class": "node " + n.role });
      var hh = n.role === "balancer" || n.role === "router" ? 40 : Math.min(34, step - 4);
      g.appendChild(svg("rect", { x: p[0] - w / 2, y: p[1] - hh / 2, width: w, height: hh, rx: 6 }));
      var label = n.role === "router" ? "router" : n.name;
      var compact = hh < 28;
      g.appendChild(svg("text", { x: p[0], y: p[1] + (compact ? 4 : -2), "text-anchor": "middle" }, label));
      if (!compact || n.role === "balancer") {
        g.appendChild(svg("text", { "class": "ip", x: p[0], y: p[1] + 12, "text-anchor": "middle" },
          n.role === "balancer" ? n.ip.replace(" / inside ", " | ") : n.ip));
      } else {
        g.appendChild(svg("title", {}, n.ip));
      }
      s.appendChild(g);
      nodeEls[n.name] = g;
    }
    clients.forEach(function (n) { node(n, 140); });
    backends.forEach(function (n) { node(n, 130); });
    node(lb, 250);
    if (router) { node(router, 150); }
    var pkts = svg("g", {});
    s.appendChild(pkts);
    box.appendChild(s);
    var detail = el("div", { "class": "detail" });
    box.appendChild(detail);
    $("variants").appendChild(box);
    return { v: v, vi: vi, svg: s, pos: pos, links: linkEls, nodes: nodeEls, pkts: pkts,
      pool: [], detail: detail, box: box, shown: -2 };
  }

  function inFlight(pane, t) {
    var e = pane.v.events, n = pane.v.count, out = [];
    // Events are in trace order (send time non-decreasing): scan back from t.
    var lo = 0, hi = n;
    while (lo < hi) { var mid = (lo + hi) >> 1; if (e.t[mid] <= t) { lo = mid + 1; } else { hi = mid; } }
    for (var i = lo - 1; i >= 0 && out.length < 400; i--) {
      if (t - e.t[i] > 1.0) { break; }
      if (e.ta[i] !== null && e.ta[i] > t) { out.push(i); }
    }
    return out;
  }

  function drawPackets(pane, selected) {
    var list = inFlight(pane, now);
    var e = pane.v.events;
    while (pane.pool.length < list.length) {
      var c = svg("circle", { "class": "pkt", r: 6 });
      pane.pkts.appendChild(c); pane.pool.push(c);
    }
    for (var k = 0; k < pane.pool.length; k++) {
      var c2 = pane.pool[k];
      if (k >= list.length) { c2.setAttribute("display", "none"); continue; }
      var i = list[k];
      var link = pane.v.links[e.link[i]];
      var a = pane.pos[link.from], b = pane.pos[link.to];
      if (!a || !b) { c2.setAttribute("display", "none"); continue; }
      var f = (now - e.t[i]) / (e.ta[i] - e.t[i]);
      // Two directions of one link: opposite sides of the line.
      var dx = b[0] - a[0], dy = b[1] - a[1], len = Math.sqrt(dx * dx + dy * dy) || 1;
      var off = 5;
      var x = a[0] + dx * f + (-dy / len) * off, y = a[1] + dy * f + (dx / len) * off;
      c2.setAttribute("display", "");
      c2.setAttribute("cx", x.toFixed(1)); c2.setAttribute("cy", y.toFixed(1));
      c2.setAttribute("fill", KIND_COLOURS[S[e.kind[i]]] || "#1f77b4");
      c2.setAttribute("r", i === selected ? 9 : 6);
      c2.setAttribute("class", i === selected ? "pkt sel" : "pkt");
    }
  }

  /* ------------------------------------------------------------ sentences */
  /* The same words as lbsim/teach/sentences.py (a browser test compares them). */
  var WHY = {
    "round_robin": "next in rotation",
    "weighted_round_robin": "next in weighted rotation",
    "least_connections": "fewest connections",
    "least_request": "fewest requests in flight",
    "random": "random pick",
    "two_choices": "the less loaded of two random picks",
    "p2c": "the less loaded of two random picks",
    "peak_ewma": "lowest peak-EWMA latency",
    "source_hash": "hash of the client address",
    "consistent_hash": "hash ring position of the key",
    "maglev": "Maglev lookup table"
  };
  function algo(values) {
    return values.algorithm + ": " + (WHY[values.algorithm] || "chosen by the algorithm");
  }
  function sentence(d) {
    var v = d.values || {};
    switch (d.reason) {
      case "table_miss":
        return (v.mode === "dsr" ? "DSR" : "NAT") + " table miss: new entry \u2192 " + d.backend +
          " (" + algo(v) + ", " + v.candidates + " candidates)";
      case "mss_clamp":
        return "MSS option clamped " + v.before + " \u2192 " + v.after;
      case "l7_pick":
        return "request complete (" + v.bytes + " B): " + v.method + " " + v.path + " \u2192 " +
          algo(v) + " picked " + d.backend + (v.new_upstream ? "; opens a new connection to it"
          : "; reuses a pooled connection") + (v.tries > 1 ? "; " + v.tries + " tries" : "");
      case "cache_hit":
        return "cache hit: answered " + (v.path || "") + " without a backend";
      case "proxy_pick":
        return "new client connection: " + algo(v) + " picked " + d.backend +
          "; the proxy opens its own connection to it";
      case "rule_match":
        return "rule " + v.rule + " matched \u2192 group " + v.group + " \u2192 " + algo(v) +
          " picked " + d.backend;
      case "backend_down":
        return "backend " + d.backend + " marked down: skipped";
      default:
        return d.reason + " " + JSON.stringify(v);  // (Python: the values as a dict)
    }
  }
  function missFor(pane, conn) {
    var ds = pane.v.decisions;
    for (var k = 0; k < ds.length; k++) {
      if (ds[k].reason === "table_miss" && ds[k].conn === conn) { return ds[k]; }
    }
    return null;
  }
  function explanations(pane, i) {
    var v = pane.v, e = v.events, out = [];
    e.dec[i].forEach(function (k) {
      var d = v.decisions[k];
      out.push([sentence(d), !!(d.values && d.values.derived)]);
    });
    var at = S[e.at[i]], from = S[e.from[i]];
    var o = e.out[i];
    if (at === v.name && (v.kind === "l4-nat" || v.kind === "l4-dsr")) {
      if (!out.length && from !== "router") {
        var miss = missFor(pane, S[e.conn[i]]);
        if (miss) {
          out.push(["table hit: existing entry \u2192 " + miss.backend, false]);
        } else if (o >= 0 && v.kind === "l4-nat" && S[e.src[i]] !== S[e.src[o]]) {
          out.push(["reverse NAT: source " + S[e.src[i]] + ":" + e.sp[i] + " \u2192 VIP " +
            S[e.src[o]] + ":" + e.sp[o] + " (the entry made for this connection)", false]);
        } else if (o >= 0) {
          out.push(["table hit: entry made before this page's window \u2192 " + S[e.at[o]], false]);
        }
      }
    }
    if (at === "router") {
      out.push(["router: forwards towards the client: new MAC addresses, TTL " + e.ttl[i] +
        (o >= 0 ? " \u2192 " + e.ttl[o] : " \u2192 " + (e.ttl[i] - 1)) +
        "; the source stays the VIP (direct server return: the balancer never sees the answer)", false]);
    }
    if (e.drop[i]) { out.unshift(["dropped: the link's queue was full", false]); }
    return out;
  }

  /* --------------------------------------------------------------- layers */
  function headLines(text) {
    if (!text || text.charAt(0) === "(") { return [text || "", ""]; }
    var lines = text.split("\r\n");
    // Long values (cookies, tokens) are cut so the table stays readable.
    var shown = lines.slice(1).filter(Boolean).map(function (l) {
      return l.length > 72 ? l.slice(0, 56) + "\u2026 (" + l.length + " chars)" : l;
    });
    return [lines[0], shown.join("\n")];
  }
  function fields(v, i, isOut) {
    var e = v.events, link = v.links[e.link[i]];
    var h = headLines(S[e.l7[i]]);
    var opts = [];
    if (e.mss[i] > 0) { opts.push("MSS " + e.mss[i]); opts.push("WS " + e.wscale[i]); }
    var rseq = e.rseq[i] >= 0 ? " (rel " + e.rseq[i] + ")" : "";
    var rack = e.rack[i] >= 0 ? " (rel " + e.rack[i] + ")" : "";
    return [
      ["L7", "http.line", "HTTP", h[0] || (e.len[i] ? "(body bytes)" : "")],
      ["L7", "http.headers", "headers", h[1]],
      ["L6", "tls", "TLS", S[e.l6[i]]],
      ["L4", "tcp.sport", "src port", String(e.sp[i])],
      ["L4", "tcp.dport", "dst port", String(e.dp[i])],
      ["L4", "tcp.seq", "seq", e.seq[i] + rseq],
      ["L4", "tcp.ack", "ack", e.ack[i] + rack],
      ["L4", "tcp.flags", "flags", S[e.fl[i]] || "(none)"],
      ["L4", "tcp.window", "window", String(e.win[i])],
      ["L4", "tcp.options", "options", opts.join(", ")],
      ["L4", "tcp.len", "payload", e.len[i] + " B"],
      ["L4", "tcp.checksum", "checksum", hex(e.tcpsum[i], 4)],
      ["L3", "ip.src", "src IP", S[e.src[i]]],
      ["L3", "ip.dst", "dst IP", S[e.dst[i]]],
      ["L3", "ip.ttl", "TTL", e.ttl[i] < 0 ? "" : String(e.ttl[i])],
      ["L3", "ip.len", "total length", e.iplen[i] < 0 ? "" : e.iplen[i] + " B"],
      ["L3", "ip.id", "ID", hex(e.ipid[i], 4)],
      ["L3", "ip.checksum", "checksum", hex(e.ipsum[i], 4)],
      ["L2", "eth.src", "src MAC", str(e.smac[i])],
      ["L2", "eth.dst", "dst MAC", str(e.dmac[i])],
      ["L1", "link", "link", link.name + " (" + latency(link.latency) + ", " + rate(link.bandwidth) + ", MTU " + link.mtu + ")"],
      ["L1", "wire", "on the wire", e.wire[i] + " B, " + ms(e.t[i]) + " \u2192 " +
        (e.ta[i] === null ? "dropped" : ms(e.ta[i])) + " ms"]
    ];
  }
  var ENDS = {
    "backend": "delivered to the backend's TCP stack (it ends TCP and answers on the same connection)",
    "client": "delivered to the client's TCP stack",
    "l7": "the L7 balancer ends TCP here: bytes are acknowledged and buffered; a request goes on only when complete, on another connection",
    "l4-proxy": "the proxy ends TCP here: the bytes go on in a segment of its own connection",
    "l4-nat": "nothing left the balancer for it in this page",
    "l4-dsr": "nothing left the balancer for it in this page"
  };
  function renderDetail(pane, i, current) {
    var v = pane.v, e = v.events, d = pane.detail;
    d.innerHTML = "";
    if (i < 0) { d.appendChild(el("div", { "class": "note" }, "No " + v.name + " event yet at this time.")); return; }
    var at = S[e.at[i]];
    var head = el("div", { "class": "head" });
    head.appendChild(document.createTextNode("#" + i + " \u00b7 " + ms(e.t[i]) + " ms \u00b7 " +
      S[e.from[i]] + " \u2192 " + at + " \u00b7 " + S[e.kind[i]]));
    if (!current) { head.appendChild(el("span", { "class": "stale" }, "  (latest " + v.name + " event at this time)")); }
    d.appendChild(head);
    var role = at === v.name ? v.kind : (at === "router" ? "router" : null);
    var node = v.nodes.filter(function (n) { return n.name === at; })[0];
    if (!role && node) { role = node.role; }
    d.appendChild(el("div", { "class": "note" }, "At " + at + " (" + (ROLE_TEXT[role] || role || "") +
      "): the packet as it arrived (in) and as the device sent it on (out)."));
    var ex = explanations(pane, i);
    if (!ex.length) { ex.push([null, false]); }
    ex.forEach(function (x) {
      var box = el("div", { "class": "decision" + (x[1] ? " derived" : "") + (x[0] ? "" : " none") },
        x[0] || "no decision: " + (ENDS[role] || "delivered"));
      if (x[1]) { box.appendChild(el("small", null, "  (derived from the request records)")); }
      d.appendChild(box);
    });
    var o = e.out[i];
    var inF = fields(v, i), outF = o >= 0 ? fields(v, o) : null;
    var t = el("table", { "class": "layers" });
    var hr = el("tr");
    hr.appendChild(el("th", { style: "width:34px" }, ""));
    hr.appendChild(el("th", { style: "width:104px" }, "field"));
    hr.appendChild(el("th", null, "in: #" + i + " on " + v.links[e.link[i]].name));
    hr.appendChild(el("th", null, o >= 0 ? "out: #" + o + " on " + v.links[e.link[o]].name : "out"));
    t.appendChild(hr);
    var lastLayer = "";
    for (var k = 0; k < inF.length; k++) {
      var a = inF[k], b = outF ? outF[k] : null;
      if (!a[3] && !(b && b[3])) { continue; }
      var tr = el("tr", { "class": a[0] !== lastLayer ? "lsep" : "" });
      tr.appendChild(el("td", { "class": "layer" }, a[0] !== lastLayer ? a[0] : ""));
      lastLayer = a[0];
      tr.appendChild(el("td", { "class": "f" }, a[2]));
      var changed = b && a[1] !== "link" && a[1] !== "wire" && a[3] !== b[3];
      var tdIn = el("td", { "class": "v", "data-field": a[1], "data-side": "in" });
      var tdOut = el("td", { "class": "v" + (changed ? " changed" : ""), "data-field": a[1], "data-side": "out" });
      if (a[1] === "http.headers") {
        tdIn.appendChild(el("pre", null, a[3]));
        tdOut.appendChild(el("pre", null, b ? b[3] : ""));
      } else {
        tdIn.textContent = a[3];
        tdOut.textContent = b ? b[3] : (k === 0 ? "\u2014" : "");
      }
      if (changed) { tdIn.className += " was"; }
      tr.appendChild(tdIn); tr.appendChild(tdOut);
      t.appendChild(tr);
    }
    d.appendChild(t);
    if (o < 0 && ex[0][0]) { d.appendChild(el("div", { "class": "note" }, "out: " + (ENDS[role] || "delivered"))); }
  }

  /* -------------------------------------------------------------- list */
  var list = $("evlist"), spacer = $("evspacer");
  var rowPool = [];
  function renderList(scroll) {
    if (scroll && cursor >= 0) {
      var y = cursor * ROW;
      if (y < list.scrollTop || y > list.scrollTop + list.clientHeight - ROW) {
        list.scrollTop = Math.max(0, y - list.clientHeight / 2);
      }
    }
    var first = Math.floor(list.scrollTop / ROW);
    var count = Math.ceil(list.clientHeight / ROW) + 1;
    for (var k = 0; k < Math.max(count, rowPool.length); k++) {
      var r = rowPool[k];
      if (!r) {
        r = el("div", { "class": "row" });
        r.addEventListener("click", onRowClick);
        spacer.appendChild(r); rowPool.push(r);
      }
      var n = first + k;
      if (k >= count || n >= filtered.length) { r.style.display = "none"; continue; }
      var g = filtered[n], vi = all[g][0], i = all[g][1];
      r.style.display = ""; r.style.top = (n * ROW) + "px";
      r.setAttribute("data-n", String(n));
      r.className = n === cursor ? "row sel" : "row";
      var kind = S[ev(vi, i, "kind")];
      var rq = ev(vi, i, "req");
      r.innerHTML = "";
      r.appendChild(el("span", { "class": "c-n" }, String(n)));
      r.appendChild(el("span", { "class": "c-t" }, ms(ev(vi, i, "t"))));
      r.appendChild(el("span", { "class": "c-v" }, V[vi].name));
      r.appendChild(el("span", { "class": "c-from" }, S[ev(vi, i, "from")]));
      r.appendChild(el("span", { "class": "c-at" }, S[ev(vi, i, "at")]));
      var ks = el("span", { "class": "c-k" });
      var badge = el("span", { "class": "kind" }, kind);
      badge.style.background = KIND_COLOURS[kind] || "#555";
      ks.appendChild(badge);
      r.appendChild(ks);
      r.appendChild(el("span", { "class": "c-c" }, S[ev(vi, i, "conn")]));
      r.appendChild(el("span", { "class": "c-r" }, rq >= 0 ? S[rq] : ""));
      r.appendChild(el("span", null, ev(vi, i, "seq") + " / " + ev(vi, i, "ack") + " / " + ev(vi, i, "len") +
        (ev(vi, i, "drop") ? "  DROPPED" : "")));
    }
  }
  function onRowClick(evt) {
    pause();
    select(Number(evt.currentTarget.getAttribute("data-n")));
  }
  list.addEventListener("scroll", function () { renderList(false); });

  /* ------------------------------------------------------------ render */
  function latestAt(pane, t) {
    var e = pane.v.events, lo = 0, hi = pane.v.count;
    while (lo < hi) { var mid = (lo + hi) >> 1; if (e.t[mid] <= t) { lo = mid + 1; } else { hi = mid; } }
    return lo - 1;
  }
  function renderAll() {
    var sel = cursor >= 0 && filtered.length ? all[filtered[cursor]] : null;
    panes.forEach(function (pane) {
      var i = sel && sel[0] === pane.vi ? sel[1] : latestAt(pane, now);
      var current = !!(sel && sel[0] === pane.vi);
      var key = i + (current ? "c" : "s");
      if (pane.shown !== key) { renderDetail(pane, i, current); pane.shown = key; }
      Object.keys(pane.nodes).forEach(function (n) { pane.nodes[n].setAttribute("class", pane.nodes[n].getAttribute("class").replace(" active", "")); });
      Object.keys(pane.links).forEach(function (l) { pane.links[l].setAttribute("class", "link"); });
      if (i >= 0) {
        var at = S[pane.v.events.at[i]];
        if (pane.nodes[at]) { pane.nodes[at].setAttribute("class", pane.nodes[at].getAttribute("class") + " active"); }
        var le = pane.links[pane.v.events.link[i]];
        if (le) { le.setAttribute("class", "link active"); }
      }
      drawPackets(pane, i);
    });
    $("clock").textContent = "t = " + ms(now) + " ms";
    var total = W[W.length - 1] || 1;
    $("seek").value = String(Math.round(toWarp(now) / total * 100000));
  }
  function select(n) {
    if (!filtered.length) { return; }
    cursor = Math.max(0, Math.min(filtered.length - 1, n));
    now = col(filtered[cursor], "t");
    renderList(true);
    renderAll();
  }
  function cursorAt(t) {
    var lo = 0, hi = filtered.length;
    while (lo < hi) { var mid = (lo + hi) >> 1; if (col(filtered[mid], "t") <= t) { lo = mid + 1; } else { hi = mid; } }
    return lo - 1;
  }

  /* --------------------------------------------------------- playback */
  var warped = 0, lastFrame = null;
  var BASE = { warp: 0.00045, linear: 0.006 }; // simulated (warped) seconds per wall second at 1x
  function frame(ts) {
    if (!playing) { return; }
    if (lastFrame !== null) {
      var speed = Number($("speed").value);
      warped += (ts - lastFrame) / 1000 * BASE[$("warp").value] * speed;
      var total = W[W.length - 1];
      if (warped >= total) { warped = total; pause(); }
      now = fromWarp(warped);
      var c = cursorAt(now);
      if (c !== cursor && c >= 0) { cursor = c; renderList(true); }
      renderAll();
    }
    lastFrame = ts;
    if (playing) { window.requestAnimationFrame(frame); }
  }
  function play() {
    if (playing) { return; }
    playing = true; lastFrame = null; warped = toWarp(now);
    $("btn-play").className = "on";
    window.requestAnimationFrame(frame);
  }
  function pause() { playing = false; $("btn-play").className = ""; }

  /* ------------------------------------------------------------- setup */
  function init() {
    buildClock("warp");
    now = B[0];
    var sub = M.scenario + " \u00b7 seed " + M.seed + " \u00b7 " + M.limits + " \u00b7 " +
      V.map(function (v) { return v.name + ": " + v.count + " events"; }).join(", ");
    $("subtitle").textContent = sub;
    document.documentElement.style.setProperty("--cols", String(Math.max(1, V.length)));
    V.forEach(function (v, vi) { panes.push(buildPane(v, vi)); });
    setupFilters();
    $("btn-play").addEventListener("click", play);
    $("btn-pause").addEventListener("click", pause);
    $("btn-fwd").addEventListener("click", function () { pause(); select(cursor + 1); });
    $("btn-back").addEventListener("click", function () { pause(); select(cursor - 1); });
    $("warp").addEventListener("change", function () {
      buildClock($("warp").value); warped = toWarp(now); renderAll();
    });
    $("seek").addEventListener("input", function () {
      pause();
      var total = W[W.length - 1];
      warped = Number($("seek").value) / 100000 * total;
      now = fromWarp(warped);
      var c = cursorAt(now);
      cursor = c;
      renderList(true); renderAll();
    });
    document.addEventListener("keydown", function (evt) {
      if (evt.target && evt.target.tagName === "SELECT") { return; }
      if (evt.key === "ArrowRight") { pause(); select(cursor + 1); evt.preventDefault(); }
      else if (evt.key === "ArrowLeft") { pause(); select(cursor - 1); evt.preventDefault(); }
      else if (evt.key === " ") { if (playing) { pause(); } else { play(); } evt.preventDefault(); }
    });
    $("footer").textContent = M.footer;
    applyFilters();
    if (filtered.length) { select(0); }
  }

  /* Programmatic access (tests, notebooks): indices are positions in the filtered list. */
  window.lbsimViewer = {
    count: function () { return filtered.length; },
    select: function (n) { pause(); select(n); return cursor; },
    cursor: function () { return cursor; },
    current: function () {
      if (cursor < 0) { return null; }
      var p = all[filtered[cursor]];
      return { variant: V[p[0]].name, index: p[1] };
    },
    setFilter: function (name, value) {
      var s = $("f-" + name); s.value = value; applyFilters(); return filtered.length;
    },
    time: function () { return now; },
    sentences: function (name) {
      var v = V.filter(function (x) { return x.name === name; })[0];
      return v ? v.decisions.map(sentence) : [];
    }
  };
  init();
})();
