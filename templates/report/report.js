// weightops registry report: pagination + filter for long tables, timeline zoom, a probe that
// says which version held each stage at a moment, and copy buttons. No network, no libraries.
(function () {
  "use strict";
  var fmt = function (t) { return new Date(t * 1000).toISOString().slice(0, 16).replace("T", " ") + " UTC"; };

  // ---- versions tables: page of N rows, filter over the row text
  document.querySelectorAll("table.versions").forEach(function (table) {
    var section = table.closest("section"), size = +table.dataset.page || 25;
    var rows = Array.prototype.slice.call(table.tBodies[0].rows).filter(function (r) { return r.classList.contains("vrow"); });
    var tools = section.querySelector(".table-tools"), pager = section.querySelector(".pager");
    var filter = tools.querySelector(".filter"), page = 0, all = false, shown = rows;
    var texts = rows.map(function (r) { return r.textContent.toLowerCase() + " " + (r.dataset.stages || ""); });
    function draw() {
      var q = filter.value.trim().toLowerCase();
      shown = rows.filter(function (r, i) { return !q || texts[i].indexOf(q) >= 0; });
      var pages = Math.max(1, Math.ceil(shown.length / size));
      page = Math.min(page, pages - 1);
      var lo = all ? 0 : page * size, hi = all ? shown.length : lo + size, visible = {};
      for (var i = lo; i < Math.min(hi, shown.length); i++) visible[rows.indexOf(shown[i])] = 1;
      rows.forEach(function (r, i) { r.hidden = !visible[i]; });
      var info = shown.length ? (lo + 1) + "–" + Math.min(hi, shown.length) + " of " + shown.length : "no match";
      info += shown.length < rows.length ? " (filtered from " + rows.length + ")" : " versions";
      tools.querySelector(".pager-info").textContent = info;
      pager.querySelector(".pager-pos").textContent = all ? "all" : "page " + (page + 1) + " of " + pages;
      pager.hidden = rows.length <= size;
    }
    tools.hidden = false;
    filter.addEventListener("input", function () { page = 0; draw(); });
    pager.addEventListener("click", function (ev) {
      var go = ev.target.dataset && ev.target.dataset.go;
      if (!go) return;
      if (go === "all") { all = !all; ev.target.textContent = all ? "pages" : "show all"; }
      else { all = false; page = Math.max(0, page + (+go)); }
      draw();
    });
    draw();
  });

  // ---- copy the full SHA-256
  document.addEventListener("click", function (ev) {
    var b = ev.target.closest && ev.target.closest("button.copy");
    if (!b) return;
    var text = b.dataset.copy, done = function () { b.classList.add("done"); b.textContent = "copied"; };
    if (navigator.clipboard && window.isSecureContext) { navigator.clipboard.writeText(text).then(done); return; }
    var ta = document.createElement("textarea"); ta.value = text; document.body.appendChild(ta); ta.select();
    try { document.execCommand("copy"); done(); } finally { ta.remove(); }
  });

  // ---- timelines: zoom, pan, probe
  document.querySelectorAll("svg.timeline").forEach(function (svg) {
    var wrap = svg.parentNode, tools = wrap.querySelector(".tl-tools"), tip = wrap.querySelector(".tl-tip");
    var T0 = +svg.dataset.t0, T1 = +svg.dataset.t1, now = +svg.dataset.now, gut = +svg.dataset.gut;
    var W = svg.viewBox.baseVal.width, span = W - gut - (+svg.dataset.pad), a = T0, b = T1;
    var segs = Array.prototype.slice.call(svg.querySelectorAll("g.seg"));
    var marks = Array.prototype.slice.call(svg.querySelectorAll(".mark"));
    var lanes = Array.prototype.slice.call(svg.querySelectorAll("g.lane")).map(function (g) {
      return { stage: g.dataset.stage, segs: Array.prototype.slice.call(g.querySelectorAll("g.seg")).map(function (s) {
        return { a: +s.dataset.a, b: +s.dataset.b, open: s.dataset.open === "1", v: s.dataset.label };
      }) };
    });
    var axis = svg.querySelector("g.axis"), axisY = axis.querySelector("line") ? +axis.querySelector("line").getAttribute("y1") : 22;
    var H = svg.viewBox.baseVal.height, NS = "http://www.w3.org/2000/svg";
    var x = function (t) { return gut + (t - a) * span / (b - a); };
    // Zoomed windows end just after the later of now and the newest event.
    var end = marks.reduce(function (m, el) { return Math.max(m, +el.dataset.t); }, now);
    function ticks() {
      var steps = [3600, 21600, 86400, 604800, 2592000, 7862400, 31536000], s = steps[steps.length - 1];
      for (var i = 0; i < steps.length; i++) if ((b - a) / steps[i] <= 8) { s = steps[i]; break; }
      axis.textContent = "";
      for (var t = (Math.floor(a / s) + 1) * s; t < b; t += s) {
        var l = document.createElementNS(NS, "line"), tx = document.createElementNS(NS, "text");
        l.setAttribute("x1", x(t)); l.setAttribute("x2", x(t)); l.setAttribute("y1", axisY); l.setAttribute("y2", H);
        tx.setAttribute("x", x(t)); tx.setAttribute("y", axisY - 4);
        tx.textContent = s < 86400 ? fmt(t).slice(5, 16) : fmt(t).slice(0, 10);
        axis.appendChild(l); axis.appendChild(tx);
      }
    }
    function layout() {
      svg.dataset.a = a; svg.dataset.b = b;   // the window shown (tests read it, as a person reads the axis)
      segs.forEach(function (g) {
        var sa = Math.max(+g.dataset.a, a), sb = Math.min(+g.dataset.b, b), r = g.querySelector("rect"), txt = g.querySelector("text");
        if (sb <= a || sa >= b) { g.style.display = "none"; return; }
        g.style.display = "";
        var x0 = x(sa), w = Math.max(x(sb) - x0, 1), fits = w > 7 * (g.dataset.label || "?").length + 8;
        r.setAttribute("x", x0); r.setAttribute("width", w);
        if (fits && !txt) {
          txt = document.createElementNS(NS, "text");
          txt.setAttribute("y", +r.getAttribute("y") + (+r.getAttribute("height")) / 2 + 4); g.appendChild(txt);
        }
        if (txt) { txt.setAttribute("x", x0 + 5); txt.textContent = fits ? g.dataset.label : ""; }
      });
      var perLane = {};
      marks.forEach(function (m) { var t = +m.dataset.t; if (t >= a && t <= b) perLane[m.parentNode.dataset.stage] = (perLane[m.parentNode.dataset.stage] || 0) + 1; });
      marks.forEach(function (m) {
        var t = +m.dataset.t, promo = m.classList.contains("promo"), dense = promo && perLane[m.parentNode.dataset.stage] > span / 7;
        m.style.display = t < a || t > b || dense ? "none" : "";
        if (promo) m.setAttribute("d", m.getAttribute("d").replace(/^M[-\d.]+,/, "M" + (x(t) - 4.5) + ","));
        else m.setAttribute("transform", m.getAttribute("transform").replace(/translate\(([-\d.]+),/, "translate(" + x(t) + ","));
      });
      var nl = svg.querySelector("line.now");
      nl.setAttribute("x1", x(now)); nl.setAttribute("x2", x(now)); nl.style.display = now < a || now > b ? "none" : "";
      ticks();
      if (typeof pinned === "number") pin(pinned);
    }
    function zoom(sp) {
      tools.querySelectorAll("button[data-span]").forEach(function (bt) { bt.classList.toggle("on", +bt.dataset.span === sp); });
      if (!sp || sp >= T1 - T0) { a = T0; b = T1; } else { b = Math.min(T1, end + sp / 30); a = b - sp; }
      layout();
    }
    function holders(t) {
      return lanes.map(function (l) {
        var lo = 0, hi = l.segs.length - 1, idx = -1;
        while (lo <= hi) { var mid = (lo + hi) >> 1; if (l.segs[mid].a <= t) { idx = mid; lo = mid + 1; } else hi = mid - 1; }
        var found = idx >= 0 && (t < l.segs[idx].b || l.segs[idx].open) ? l.segs[idx] : null;
        return { stage: l.stage, v: found ? found.v : null };
      });
    }
    tools.hidden = false;
    tools.addEventListener("click", function (ev) {
      var d = ev.target.dataset || {};
      if (d.span !== undefined) zoom(+d.span);
      if (d.pan) { var w = b - a, sh = (+d.pan) * w / 2; a = Math.max(T0, Math.min(a + sh, T1 - w)); b = a + w; layout(); }
    });
    var at = tools.querySelector("input.at"), out = tools.querySelector("output.at-out"), pinned = null;
    var probe = svg.querySelector("line.probe");
    function pin(t) {
      pinned = t;
      if (t === null) { out.textContent = ""; return; }
      out.textContent = "→ " + holders(t).map(function (h) { return h.stage + ": " + (h.v || "—"); }).join(" · ");
      out.dataset.t = t;
      probe.setAttribute("x1", x(t)); probe.setAttribute("x2", x(t));
      probe.setAttribute("visibility", t >= a && t <= b ? "visible" : "hidden");
    }
    at.addEventListener("change", function () {
      var t = Date.parse(at.value + "Z") / 1000;
      pin(isNaN(t) ? null : t);
    });
    svg.addEventListener("mousemove", function (ev) {
      var r = svg.getBoundingClientRect(), vx = (ev.clientX - r.left) * W / r.width;
      if (vx < gut || vx > gut + span) { probe.setAttribute("visibility", "hidden"); tip.hidden = true; return; }
      var t = a + (vx - gut) * (b - a) / span;
      probe.setAttribute("x1", vx); probe.setAttribute("x2", vx); probe.setAttribute("visibility", "visible");
      tip.innerHTML = "";
      var head = document.createElement("div"); head.textContent = fmt(Math.round(t)); tip.appendChild(head);
      holders(t).forEach(function (h) {
        var d = document.createElement("div"), bold = document.createElement("b");
        bold.textContent = h.stage; d.appendChild(bold); d.appendChild(document.createTextNode(": " + (h.v || "—"))); tip.appendChild(d);
      });
      tip.hidden = false;
      var wr = wrap.getBoundingClientRect(), left = ev.clientX - wr.left + 14;
      if (left + tip.offsetWidth > wr.width) left = ev.clientX - wr.left - tip.offsetWidth - 14;
      tip.style.left = left + "px"; tip.style.top = (ev.clientY - wr.top + 12) + "px";
    });
    svg.addEventListener("mouseleave", function () { tip.hidden = true; pin(pinned); if (pinned === null) probe.setAttribute("visibility", "hidden"); });
    // The timeline opens on the widest window (all, 1 year, 90, 30, 7 days) that is readable:
    // at most ~300 events (one sliver per assignment is not), and the newest event's bar at
    // least 8% of the width, so what holds a stage now is seen, not a sliver beside years of
    // history.
    var spans = [0, 31536000, 7776000, 2592000, 604800], pick = 604800;
    var newest = marks.reduce(function (m, el) { return Math.max(m, +el.dataset.t); }, -Infinity);
    for (var k = 0; k < spans.length; k++) {
      var to = spans[k] ? Math.min(T1, end + spans[k] / 30) : T1, from = spans[k] ? to - spans[k] : T0;
      var sliver = newest > -Infinity && (Math.max(now, newest) - newest) < 0.08 * (to - from);
      if (marks.filter(function (m) { return +m.dataset.t >= from; }).length <= 300 && !sliver) { pick = spans[k]; break; }
    }
    zoom(pick);
    // A link can ask the question: registry.html#at=2026-03-01 (or 2026-03-01T12:00), UTC.
    var asked = /(?:^#|&)at=(\d{4}-\d\d-\d\d(?:T\d\d:\d\d(?::\d\d)?)?)/.exec(location.hash);
    if (asked) {
      at.value = asked[1].length === 10 ? asked[1] + "T00:00" : asked[1];
      var t = Date.parse(at.value + "Z") / 1000;
      if (t < a || t > b) zoom(0);
      pin(t);
    }
  });
  document.body.dataset.ready = "1";
})();
