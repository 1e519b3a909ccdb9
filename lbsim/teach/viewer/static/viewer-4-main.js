/* viewer-4-main.js: the event list, rendering, playback, controls and the API
 * (a part of the viewer's one script: page.py joins viewer-*.js in order.) */
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
    // A topology's drawing is wide: its variants stand one under the other.
    var graphs = V.some(function (v) { return !!v.layout; });
    document.documentElement.style.setProperty("--cols", String(graphs ? 1 : Math.max(1, V.length)));
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
    /* Move the clock to simulated time t, keeping the selected event. */
    seek: function (t) { pause(); now = t; renderAll(); return now; },
    sentences: function (name) {
      var v = V.filter(function (x) { return x.name === name; })[0];
      return v ? v.decisions.map(sentence) : [];
    }
  };
  init();
})();
