/* viewer-2-topology.js: the topology drawing and the packets moving on it
 * (a part of the viewer's one script: page.py joins viewer-*.js in order.) */
  /* ---------------------------------------------------------- topology */
  var panes = [];
  function buildPane(v, vi) {
    var box = el("div", { "class": "variant", "data-variant": v.name });
    var h = el("h2", null, v.name);
    h.appendChild(el("span", { "class": "tag" }, (ROLE_TEXT[v.kind] || v.label) + ", " + v.algorithm));
    box.appendChild(h);
    if (v.layout) { return buildGraphPane(v, vi, box); }
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
    return finishPane(v, vi, box, s, pos, linkEls, nodeEls);
  }

  /* The pane's packet layer and detail area under its drawing, added to the page:
   * the pane object renderAll and drawPackets work on (star and graph alike). */
  function finishPane(v, vi, box, s, pos, linkEls, nodeEls) {
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
