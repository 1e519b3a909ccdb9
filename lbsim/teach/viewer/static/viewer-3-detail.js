/* viewer-3-detail.js: decision sentences and the layers-in-and-out table
 * (a part of the viewer's one script: page.py joins viewer-*.js in order.) */
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
  var UPSTREAM = {
    "pooled": "; reuses a pooled connection",
    "new": "; opens a new connection to it",
    "wait": "; waits for a pooled connection to free up"
  };
  var SKIPPED = {"down": "marked down", "ejected": "ejected", "draining": "draining"};
  function load(v) {
    var others = v.others === undefined ? "" : String(v.others);
    return "(" + v.in_flight + " in flight, " +
      (others ? "others " + others + ")" : "no other candidate)");
  }
  function pick(d, v) {
    return algo(v) + " picked " + d.backend + " " + load(v) + (UPSTREAM[v.upstream] || "");
  }
  function sentence(d) {
    var v = d.values || {};
    switch (d.reason) {
      case "table_miss":
        return (v.mode === "dsr" ? "DSR" : "NAT") + " table miss: new entry \u2192 " + d.backend +
          " (" + algo(v) + ", " + v.candidates + " candidates)";
      case "mss_clamp":
        return "MSS option clamped " + v.before + " \u2192 " + v.after;
      case "rule_match":
        return "rule " + v.rule + " matched \u2192 group " + v.group + " \u2192 " + pick(d, v);
      case "l7_pick":
        return "request complete (" + v.bytes + " B): " + v.method + " " + v.path + " \u2192 " +
          pick(d, v);
      case "retry":
        return "retry (try " + v.tries + "): " + pick(d, v);
      case "cache_hit":
        return "cache hit: answered " + (v.path || "") + " without a backend";
      case "refused":
        return "request refused (" + v.why + "): answered " + v.status + " without a backend";
      case "proxy_pick":
        return "new client connection: " + algo(v) + " picked " + d.backend + "; the proxy " +
          (v.warm ? "splices a warm pooled connection to it"
            : "opens its own connection to it (cold connect)") +
          (v.proxy_protocol ? ", writing a PROXY " + v.proxy_protocol +
            " header naming the client first" : "");
      case "backend_down":
        if (v.by === "health_check") {
          return "health checks: " + d.backend + " failed " + v.probes +
            " probes in a row: marked down";
        }
        return "backend " + d.backend + " " + (SKIPPED[v.state] || "marked down") + ": skipped";
      case "backend_up":
        return "health checks: " + d.backend + " passed " + v.probes +
          " probes in a row: marked up again";
      case "ejected":
        return "outlier detection: " + d.backend + " failed " + v.failures +
          " requests in a row: ejected for " + v.ms + " ms";
      case "ecmp_pick":
        return "ECMP: the 5-tuple hashes to bucket " + v.bucket + " of " + v.buckets +
          " \u2192 " + d.backend + " (" + v.alive + " of " + v.hops + " next hops in service)";
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
  /* Data segments of each request at an L7 balancer, in arrival order (built once). */
  function requestParts(pane) {
    if (pane.parts) { return pane.parts; }
    var v = pane.v, e = v.events, parts = {};
    for (var j = 0; j < v.count; j++) {
      if (S[e.at[j]] !== v.name || e.len[j] <= 0 || e.req[j] < 0) { continue; }
      var key = e.req[j] + "|" + e.conn[j];
      (parts[key] = parts[key] || []).push(j);
    }
    pane.parts = parts;
    return parts;
  }
  function buffered(pane, i) {
    var v = pane.v, e = v.events;
    var list = requestParts(pane)[e.req[i] + "|" + e.conn[i]] || [];
    var k = list.indexOf(i);
    if (k < 0 || list.length < 2 || k === list.length - 1) { return null; }
    var got = 0, all = 0;
    list.forEach(function (j, n) { all += e.len[j]; if (n <= k) { got += e.len[j]; } });
    return "request buffered: " + (k + 1) + " of " + list.length + " segments (" +
      (got / 1000).toFixed(1) + " of " + (all / 1000).toFixed(1) + " KB); no backend chosen yet";
  }
  function explanations(pane, i) {
    var v = pane.v, e = v.events, out = [];
    e.dec[i].forEach(function (k) {
      var d = v.decisions[k];
      out.push([sentence(d), false]);
    });
    var at = S[e.at[i]], from = S[e.from[i]];
    var o = e.out[i];
    if (at === v.name && v.kind === "l7" && !out.length && e.len[i] > 0 &&
        S[e.kind[i]] !== "HTTP response") {
      var b = buffered(pane, i);
      if (b) { out.push([b, false]); }
    }
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
    if (v.layout && !out.length && o >= 0) { out.push([graphForward(pane, i, o), false]); }
    if (e.drop[i]) { out.unshift(["dropped: the link's queue was full", false]); }
    return out;
  }
  /* On a topology: what a forwarding element (router, L4 NAT/DSR instance) did. */
  function graphForward(pane, i, o) {
    var v = pane.v, e = v.events, at = S[e.at[i]], next = S[e.at[o]];
    if (S[e.conn[o]] !== S[e.conn[i]] && e.req[i] >= 0) {
      return "ends TCP: the " + (S[e.kind[i]] === "HTTP response" ? "response" : "request") +
        " goes on to " + next + " on another connection";
    }
    var ds = v.decisions;
    for (var k = 0; k < ds.length; k++) {
      var d = ds[k];
      if (d.device === at && d.conn === S[e.conn[i]] && d.backend === next &&
          (d.reason === "table_miss" || d.reason === "ecmp_pick")) {
        return (d.reason === "table_miss" ? "table hit: existing entry"
          : "ECMP: same 5-tuple, same bucket") +
          " \u2192 " + next;
      }
    }
    return "forwards the packet to " + next + " by its destination address";
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
    "l4-dsr": "nothing left the balancer for it in this page",
    "site": "a router: it forwards the packet by its destination address",
    "service": "a router: it forwards the packet by its destination address",
    "router": "a router: it forwards the packet by its destination address"
  };
  function endText(role, kind) {
    var endpoint = role === "l7" || role === "l4-proxy" || role === "backend" || role === "client";
    if (endpoint && kind === "SYN") { return "a TCP endpoint: it accepts the connection and answers with its own SYN-ACK"; }
    if (endpoint && kind === "ACK") { return "a TCP endpoint: the acknowledgement is consumed by its TCP stack"; }
    if (endpoint && kind === "FIN") { return "a TCP endpoint: it acknowledges the close and closes its side"; }
    return ENDS[role] || "delivered";
  }
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
    if (!role && node) { role = node.kind || node.role; }
    d.appendChild(el("div", { "class": "note" }, "At " + at + " (" + (ROLE_TEXT[role] || role || "") +
      "): the packet as it arrived (in) and as the device sent it on (out)."));
    var ending = endText(role, S[e.kind[i]]);
    var ex = explanations(pane, i);
    if (!ex.length) { ex.push([null, false]); }
    ex.forEach(function (x) {
      var box = el("div", { "class": "decision" + (x[0] ? "" : " none") },
        x[0] || "no decision: " + ending);
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
    if (o < 0 && ex[0][0]) { d.appendChild(el("div", { "class": "note" }, "out: " + ending)); }
  }
