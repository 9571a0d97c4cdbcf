// Play, live: the tab's event stream (#live, the htmx SSE extension) brings frames of
// play and news of changes made elsewhere. A frame changes numbers, colours and picture
// sources where they are; frames that arrive between two screen refreshes are merged and
// put in place once, on the next animation frame. A "changed" event makes the tab fetch
// its parts (HTML) when the session moved past the version it shows.
(function () {
  "use strict";
  const NEG = [230, 120, 20], ZERO = [247, 247, 247], POS = [30, 100, 200];  // app/web/format.py
  const TONE = 1000, ZERO_EDGE = "#bbb";  // app/web/diagram.py
  const stats = (window.bpStats = { frames: 0, drawn: 0, bytes: 0, applyMs: 0, steps: [] });
  let pending = null;
  let scheduled = false;
  const cache = new WeakMap();  // #diagram element → its nodes, biases and edges, in order

  // Python's round(): halves to even, so colours match the server's to the unit.
  function round(x) {
    const r = Math.round(x);
    return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
  }
  function toneColour(q) {
    const t = Math.max(-1, Math.min(1, q / TONE)), end = t >= 0 ? POS : NEG, k = Math.abs(t);
    return "rgb(" + ZERO.map((z, i) => round(z + (end[i] - z) * k)).join(",") + ")";
  }
  function ink(q) { return Math.abs(q) / TONE > 0.6 ? "#fff" : "#111"; }
  function edgeColour(q) { return q ? toneColour(q) : ZERO_EDGE; }
  function edgeWidth(q) { return (0.6 + 4.4 * Math.abs(q) / TONE).toFixed(2); }
  window.bpTones = { toneColour, ink, edgeColour, edgeWidth };

  function parts(diagram) {
    let found = cache.get(diagram);
    if (!found) {
      found = {
        nodes: Array.from(diagram.querySelectorAll("g.node:not([data-l='0'])")),
        biases: Array.from(diagram.querySelectorAll("rect.bias")),
        edges: Array.from(diagram.querySelectorAll("line.edge")),
      };
      cache.set(diagram, found);
    }
    return found;
  }

  // A hidden tab gets no animation frames, so its frames merge until it is shown again:
  // past MAX_POINTS new loss points, every other one is dropped (the curve keeps its shape).
  const MAX_POINTS = 512;
  function thin(points) { return points.length > MAX_POINTS ? points.filter((_, i) => i % 2) : points; }

  function merge(into, f) {
    if (!into) return Object.assign({}, f, { trains: f.train ? [f.train] : [], tests: f.test ? [f.test] : [] });
    const text = Object.assign({}, into.text || {}, f.text || {});
    Object.assign(into, f, { text, trains: into.trains, tests: into.tests });
    if (f.train) into.trains.push(f.train);
    if (f.test) into.tests.push(f.test);
    into.trains = thin(into.trains);
    into.tests = thin(into.tests);
    return into;
  }

  function applyDiagram(f) {
    const diagram = document.getElementById("diagram");
    if (!diagram) return;
    const p = parts(diagram);
    if (f.nodes && f.nodes.length === p.nodes.length) {
      f.nodes.forEach(function ([q, text], k) {
        const circle = p.nodes[k].querySelector("circle.neuron");
        if (!circle) return;
        circle.setAttribute("fill", toneColour(q));
        const label = p.nodes[k].querySelector("text.node-val");
        if (label) { label.textContent = text; label.setAttribute("fill", ink(q)); }
      });
    }
    const maps = f.maps || {};
    const painted = (window.bpDiagram &&
      window.bpDiagram.update(diagram, f.edges, f.biases, maps.tiles, maps.out)) || {};
    if (!painted.biases && f.biases && f.biases.length === p.biases.length) {
      f.biases.forEach((q, k) => p.biases[k].setAttribute("fill", toneColour(q)));
    }
    if (!painted.edges && f.edges && f.edges.length === p.edges.length) {
      f.edges.forEach(function (q, k) {
        p.edges[k].setAttribute("stroke", edgeColour(q));
        p.edges[k].setAttribute("stroke-width", edgeWidth(q));
      });
    }
  }

  function applyOutputs(f) {
    if (f.out) {
      const cells = document.querySelectorAll("#outputs td.out");
      if (cells.length === f.out.length) {
        f.out.forEach(function ([text, value], k) {
          const cell = cells[k];
          cell.textContent = text;
          cell.dataset.value = value === null ? "NaN" : String(value);
          cell.title = cell.title.split(" = ")[0] + " = " + (value === null ? "NaN" : value);
        });
      }
    }
    if ("fitted" in f) {
      const fitted = document.getElementById("fitted");
      if (fitted) fitted.hidden = !f.fitted;
    }
    if (f.maps) {
      const out = document.getElementById("output-map");
      if (out && f.maps.out) out.setAttribute("href", f.maps.out);
      // the diagram's tiles and output neuron: painted by static/js/diagram.js
    }
  }

  function showRate(step) {
    const now = performance.now();
    stats.steps.push([now, step]);
    while (stats.steps.length > 2 && now - stats.steps[0][0] > 1000) stats.steps.shift();
    const rate = document.getElementById("rate");
    if (!rate || stats.steps.length < 2) return;
    const [t0, s0] = stats.steps[0];
    const perSecond = (step - s0) / Math.max((now - t0) / 1000, 1e-3);
    rate.textContent = "· " + Math.round(perSecond).toLocaleString() + " steps/s";
  }

  function apply(f) {
    const canvas = document.getElementById("curve");  // first: before the page changes
    if (canvas && window.bpChart && (f.trains.length || f.tests.length)) {
      window.bpChart.append(canvas, f.trains, f.tests);
    }
    for (const [name, text] of Object.entries(f.text || {})) {
      document.querySelectorAll('[data-live="' + name + '"]').forEach(function (el) {
        el.textContent = text;
      });
    }
    if (f.step !== undefined) {
      const counter = document.getElementById("step-counter");
      if (counter) counter.dataset.step = String(f.step);
      showRate(f.step);
    }
    applyDiagram(f);
    applyOutputs(f);
    const version = document.getElementById("version");
    if (version && f.v > Number(version.value)) version.value = String(f.v);
    stats.drawn += 1;
    if (window.bp && window.bp.liveInspector) window.bp.liveInspector();
  }

  function onFrame(ev) {
    const data = ev.data;
    if (!data) return;
    stats.frames += 1;
    stats.bytes += data.length;
    pending = merge(pending, JSON.parse(data));
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(function () {
      scheduled = false;
      const f = pending;
      pending = null;
      const began = performance.now();
      if (f) apply(f);
      stats.applyMs += performance.now() - began;
    });
  }

  // News of a change: fetch the parts when the session moved past the version shown. While
  // this tab's own requests are in flight, wait for them: their answers may bring it.
  let inFlight = 0, awaited = 0;
  function catchUp(v) {
    const shown = document.getElementById("version");
    if (shown && v <= Number(shown.value)) return;
    if (inFlight > 0) { awaited = Math.max(awaited, v); return; }
    stats.steps = [];
    if (window.bp) window.bp.refresh();
  }
  function onChanged(ev) {
    const data = ev.detail && ev.detail.data;
    if (data) catchUp(Number(JSON.parse(data).v));
  }
  document.addEventListener("htmx:beforeSend", function () { inFlight += 1; });
  document.addEventListener("htmx:afterRequest", function () {
    inFlight = Math.max(0, inFlight - 1);
    if (inFlight || !awaited) return;
    const v = awaited;
    awaited = 0;
    setTimeout(function () { catchUp(v); }, 50);  // after the answer is swapped in
  });

  function onGone(ev) {
    const data = ev.detail && ev.detail.data;
    if (data && window.bp) window.bp.toast(JSON.parse(data).message, true);
  }

  // Frames come 60 to 90 times a second: heard on the stream itself, not through htmx's
  // event machinery (the extension hands the stream over when it opens it, or again).
  document.addEventListener("htmx:sseOpen", function (ev) {
    const source = ev.detail && ev.detail.source;
    if (source && !source.bpListening) {
      source.bpListening = true;
      source.addEventListener("frame", onFrame);
    }
  });
  document.addEventListener("sse:changed", onChanged);
  document.addEventListener("sse:gone", onGone);
})();
