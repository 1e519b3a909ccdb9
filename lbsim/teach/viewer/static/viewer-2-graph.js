/* viewer-2-graph.js: the drawing of a topology (tiers of instances, routers, sites)
 * (a part of the viewer's one script: page.py joins viewer-*.js in order.)
 *
 * A variant of a scenario with a topology carries `layout` and placed `nodes`
 * (lbsim/teach/viewer/tier_model.py): each element has x, y in the drawing's
 * units, each tier a box around its instances. Links are lines between the two
 * elements they join; packets move on them as on a star (drawPackets), and the
 * element an event reaches is highlighted (renderAll). */
  var GRAPH_ROLE = {
    "client": "client", "site": "router", "router": "router", "service": "router",
    "balancer": "balancer", "backend": "backend"
  };
  function buildGraphPane(v, vi, box) {
    var L = v.layout, Wd = L.w, H = L.h, nw = L.node[0], nh = L.node[1];
    var s = svg("svg", { "class": "topo graph", viewBox: "0 0 " + Wd + " " + H, role: "img",
      "aria-label": "topology of " + v.name });
    var pos = {};
    v.nodes.forEach(function (n) {
      pos[n.name] = [n.x, n.y];
      // A node standing for several client hosts: their packets start and end there.
      (n.members || []).forEach(function (m) { pos[m] = pos[n.name]; });
    });
    L.tiers.forEach(function (t) {
      var g = svg("g", { "class": "tierbox" + (t.variant ? " variant" : "") });
      g.appendChild(svg("rect", { x: t.x, y: t.y, width: t.w, height: t.h, rx: 8 }));
      t.label.forEach(function (line, k) {
        g.appendChild(svg("text", { x: t.x + t.w / 2, y: t.y + 13 + 13 * k,
          "text-anchor": "middle", "class": k ? "sub" : "" }, line));
      });
      s.appendChild(g);
    });
    var linkEls = {}, drawn = {};
    v.links.forEach(function (l, li) {
      if (!pos[l.from] || !pos[l.to]) { return; }
      var key = [l.from, l.to].sort().join("|");
      if (!drawn[key]) {
        var a = pos[l.from], b = pos[l.to];
        drawn[key] = svg("line", { "class": "link", x1: a[0], y1: a[1], x2: b[0], y2: b[1] });
        drawn[key].appendChild(svg("title", {}, l.from + " \u2194 " + l.to + ": " +
          latency(l.latency) + " \u00b7 " + rate(l.bandwidth) + " \u00b7 MTU " + l.mtu));
        s.appendChild(drawn[key]);
      }
      linkEls[li] = drawn[key];
    });
    var nodeEls = {};
    v.nodes.forEach(function (n) {
      var p = pos[n.name];
      var g = svg("g", { "class": "node " + (GRAPH_ROLE[n.role] || n.role), "data-node": n.name });
      var hh = n.h || nh, compact = hh < 28;
      g.appendChild(svg("rect", { x: p[0] - nw / 2, y: p[1] - hh / 2, width: nw, height: hh, rx: 6 }));
      g.appendChild(svg("text", { x: p[0], y: p[1] + (compact ? 4 : -2), "text-anchor": "middle" }, n.name));
      if (!compact) {
        g.appendChild(svg("text", { "class": "ip", x: p[0], y: p[1] + 11, "text-anchor": "middle" },
          n.role === "site" || n.role === "service" || n.role === "router" ? n.role : n.ip));
      }
      g.appendChild(svg("title", {}, n.name + ": " + n.text));
      s.appendChild(g);
      nodeEls[n.name] = g;
      (n.members || []).forEach(function (m) { nodeEls[m] = g; });
    });
    return finishPane(v, vi, box, s, pos, linkEls, nodeEls);
  }
