// The loss curve: train (and test) loss against the step, drawn on a canvas from the
// points the page carries (<script type="application/json"> beside the canvas) and the
// points each frame of play adds. Hover shows a point's step and exact loss.
(function () {
  "use strict";
  const MAX_POINTS = 3000;  // past this, every other point is dropped (the ends kept)
  const charts = new WeakMap();  // canvas → {train, test, edits, log, hover}

  function styleOf(canvas) {
    const css = getComputedStyle(canvas);
    return {
      ink: css.getPropertyValue("--muted").trim() || "#5b6470",
      line: css.getPropertyValue("--line").trim() || "#d9dde3",
      train: css.getPropertyValue("--accent").trim() || "#1e64c8",
      test: css.getPropertyValue("--neg").trim() || "rgb(230,120,20)",
      mark: css.getPropertyValue("--warn-line").trim() || "#e6a23c",
    };
  }

  function label(v, log) {
    const value = log ? Math.pow(10, v) : v;
    if (value === 0) return "0";
    const a = Math.abs(value);
    return a >= 1e4 || a < 1e-3 ? value.toExponential(2) : value.toPrecision(3);
  }

  function thin(points) {
    if (points.length <= MAX_POINTS) return points;
    const kept = points.filter((_, i) => i % 2 === 0);
    if (kept[kept.length - 1] !== points[points.length - 1]) kept.push(points[points.length - 1]);
    return kept;
  }

  function shown(points, log) {
    const out = [];
    for (const [x, y] of points) {
      if (!Number.isFinite(y) || (log && y <= 0)) continue;
      out.push([x, log ? Math.log10(y) : y, y]);
    }
    return out;
  }

  // The canvas's size and colours, read when it is set up or resized, never while frames
  // come: a read of layout or style after the page changed forces the browser to lay out
  // the whole page at once.
  function measure(canvas, st) {
    st.w = canvas.clientWidth || 380;
    st.h = canvas.clientHeight || 150;
    st.colours = styleOf(canvas);
  }

  function draw(canvas) {
    const st = charts.get(canvas);
    if (!st) return;
    if (!st.colours) measure(canvas, st);
    const ratio = window.devicePixelRatio || 1;
    const w = st.w, h = st.h;
    const g = canvas.getContext("2d");
    if (canvas.width !== Math.round(w * ratio) || canvas.height !== Math.round(h * ratio)) {
      canvas.width = Math.round(w * ratio);  // resets the context's state: set it again
      canvas.height = Math.round(h * ratio);
      // Setting a font resolves styles, and after the page changed that restyles the
      // whole page at once: so only here, not on every frame.
      g.font = "11px system-ui, sans-serif";
    }
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, w, h);
    const c = st.colours;
    const left = 52, right = w - 10, top = 8, bottom = h - 20;
    g.strokeStyle = c.line; g.lineWidth = 1;
    g.beginPath(); g.moveTo(left, top); g.lineTo(left, bottom); g.lineTo(right, bottom); g.stroke();
    const train = shown(st.train, st.log), test = shown(st.test, st.log);
    const all = train.concat(test);
    if (!all.length) {
      g.fillStyle = c.ink; g.textAlign = "center";
      const readOnly = canvas.closest("[data-readonly='1']");
      g.fillText(readOnly ? "No training yet." : "No training yet: press Step or Play.",
                 (left + right) / 2, (top + bottom) / 2);
      canvas.setAttribute("aria-label", "Loss curve: no training yet");
      st.geometry = null;
      return;
    }
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (const [x, y] of all) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
    if (x1 === x0) { x1 = x0 + 1; }
    if (y1 === y0) { y0 -= 0.5; y1 += 0.5; }
    const px = (x) => left + (x - x0) / (x1 - x0) * (right - left);
    const py = (y) => bottom - (y - y0) / (y1 - y0) * (bottom - top);
    g.fillStyle = c.ink; g.textAlign = "right";
    g.fillText(label(y1, st.log), left - 4, top + 8);
    g.fillText(label((y0 + y1) / 2, st.log), left - 4, (top + bottom) / 2 + 4);
    g.fillText(label(y0, st.log), left - 4, bottom);
    g.textAlign = "left"; g.fillText("step " + x0, left, h - 5);
    g.textAlign = "right"; g.fillText("step " + x1, right, h - 5);
    g.strokeStyle = c.mark; g.setLineDash([4, 3]);
    for (const e of st.edits) {
      if (e < x0 || e > x1) continue;
      g.beginPath(); g.moveTo(px(e), top); g.lineTo(px(e), bottom); g.stroke();
    }
    g.setLineDash([]);
    for (const [points, colour, dash] of [[train, c.train, []], [test, c.test, [6, 3]]]) {
      if (!points.length) continue;
      g.strokeStyle = colour; g.fillStyle = colour; g.lineWidth = 2; g.setLineDash(dash);
      if (points.length === 1) {
        g.beginPath(); g.arc(px(points[0][0]), py(points[0][1]), 3, 0, 2 * Math.PI); g.fill();
        continue;
      }
      g.beginPath();
      points.forEach(([x, y], i) => (i ? g.lineTo(px(x), py(y)) : g.moveTo(px(x), py(y))));
      g.stroke();
    }
    g.setLineDash([]);
    st.geometry = { px, py, left, right, top, bottom, train };
    const last = (train.length ? train : test)[(train.length ? train : test).length - 1];
    canvas.setAttribute("aria-label", "Loss curve over " + all.length + " points; at step " +
      last[0] + " the loss is " + last[2] + (st.log ? " (log scale)" : ""));
    if (st.hover) hoverAt(canvas, st.hover);
  }

  function hoverAt(canvas, x) {
    const st = charts.get(canvas);
    if (!st || !st.geometry || !st.geometry.train.length) return;
    const geo = st.geometry;
    let best = geo.train[0];
    for (const p of geo.train) if (Math.abs(geo.px(p[0]) - x) < Math.abs(geo.px(best[0]) - x)) best = p;
    const g = canvas.getContext("2d");
    g.fillStyle = st.colours.train;
    g.beginPath(); g.arc(geo.px(best[0]), geo.py(best[1]), 4, 0, 2 * Math.PI); g.fill();
    canvas.title = "step " + best[0] + ": loss " + best[2];
  }

  function init(root) {
    (root || document).querySelectorAll("figure.chart").forEach(function (fig) {
      const canvas = fig.querySelector("canvas.curve"), data = fig.querySelector("script");
      if (!canvas || !data) return;
      const d = JSON.parse(data.textContent);
      charts.set(canvas, { train: d.train, test: d.test, edits: d.edits, log: d.log, hover: null });
      if (!canvas.dataset.bound) {
        canvas.dataset.bound = "1";
        canvas.addEventListener("mousemove", function (ev) {
          const st = charts.get(canvas);
          if (!st) return;
          st.hover = ev.offsetX; draw(canvas);
        });
        canvas.addEventListener("mouseleave", function () {
          const st = charts.get(canvas);
          if (st) { st.hover = null; draw(canvas); }
        });
      }
      draw(canvas);
    });
  }

  // Add the newest points of a frame (each [step, loss]); a step behind the last one is
  // left to the refresh that a reset or an undo brings.
  function append(canvas, train, test) {
    const st = charts.get(canvas);
    if (!st) return;
    for (const [list, points] of [[st.train, train], [st.test, test]]) {
      for (const p of points || []) {
        if (!list.length || p[0] > list[list.length - 1][0]) list.push(p);
      }
    }
    st.train = thin(st.train); st.test = thin(st.test);
    draw(canvas);
  }

  function points(canvas) {
    const st = charts.get(canvas);
    return st ? { train: st.train.slice(), test: st.test.slice() } : null;
  }

  window.bpChart = { init, append, draw, points };
  window.addEventListener("resize", function () {
    document.querySelectorAll("canvas.curve").forEach(function (canvas) {
      const st = charts.get(canvas);
      if (st) { st.colours = null; draw(canvas); }
    });
  });
})();
