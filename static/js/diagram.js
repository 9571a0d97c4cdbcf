// The network diagram, painted: its weights and its neurons' maps are drawn on a canvas
// under the SVG, which keeps the neurons, labels, rings and every click target. A frame
// of play then redraws one canvas (a fraction of a millisecond) instead of restyling
// hundreds of SVG lines (measured: 10 ms a frame for the 184 weights of a 2-8-8-8-1 net).
// Without this script the SVG alone shows the same picture.
(function () {
  "use strict";
  const states = new WeakMap();  // svg → what it paints
  const number = (el, name) => Number(el.getAttribute(name));

  // Load a map; it replaces the one shown once decoded (so no frame shows a blank), unless
  // a newer one was asked for meanwhile.
  function load(st, key, uri) {
    if (!uri) return;
    const img = new Image();
    st.wanted[key] = img;
    img.src = uri;
    img.decode().then(function () {
      if (st.wanted[key] !== img) return;
      st[key] = img;
      draw(st);
    }, () => {});
  }

  function setup(svg) {
    const box = svg.parentElement;
    let canvas = box.querySelector("canvas.diagram-paint");
    if (!canvas) {
      canvas = document.createElement("canvas");
      canvas.className = "diagram-paint";
      canvas.setAttribute("aria-hidden", "true");
      box.insertBefore(canvas, svg);
    }
    const st = {
      svg, canvas, view: svg.viewBox.baseVal, tile: Number(svg.dataset.tile || 0),
      edges: Array.from(svg.querySelectorAll("line.edge")).map((l) => ({
        x1: number(l, "x1"), y1: number(l, "y1"), x2: number(l, "x2"), y2: number(l, "y2"),
        q: Number(l.dataset.q) })),
      tiles: Array.from(svg.querySelectorAll("svg.tile")).map((t) => ({
        x: number(t, "x"), y: number(t, "y"), w: number(t, "width"), h: number(t, "height"),
        col: Number(t.dataset.col), row: Number(t.dataset.row) })),
      outs: Array.from(svg.querySelectorAll("image.output-thumb")).map((i) => ({
        x: number(i, "x"), y: number(i, "y"), w: number(i, "width"), h: number(i, "height") })),
    };
    // Over maps (2-D problems) the biases are painted too, so that nothing of the SVG
    // changes while frames come; over plain neurons the SVG keeps them (a neuron's circle
    // would hide the corner of a square painted below it).
    st.biases = st.tiles.length ? Array.from(svg.querySelectorAll("rect.bias")).map((r) => ({
      x: number(r, "x"), y: number(r, "y"), w: number(r, "width"), h: number(r, "height"),
      q: Number(r.dataset.q) })) : [];
    if (st.biases.length) svg.classList.add("painted-biases");
    st.wanted = {};
    const sheet = svg.querySelector("image.tiles"), out = svg.querySelector("image.output-thumb");
    load(st, "sheet", sheet && sheet.getAttribute("href"));
    load(st, "out", out && out.getAttribute("href"));
    states.set(svg, st);
    svg.classList.add("painted");
    new ResizeObserver(() => { resize(st); draw(st); }).observe(svg);
    resize(st);
    draw(st);
  }

  // Where the SVG's user units land on the canvas (preserveAspectRatio: xMidYMid meet).
  function resize(st) {
    const ratio = window.devicePixelRatio || 1;
    const w = st.svg.clientWidth, h = st.svg.clientHeight;
    st.canvas.style.left = st.svg.offsetLeft + "px";
    st.canvas.style.top = st.svg.offsetTop + "px";
    st.canvas.style.width = w + "px";
    st.canvas.style.height = h + "px";
    st.canvas.width = Math.round(w * ratio);
    st.canvas.height = Math.round(h * ratio);
    const scale = Math.min(w / st.view.width, h / st.view.height) || 1;
    st.transform = [ratio * scale, ratio * (w - st.view.width * scale) / 2,
                    ratio * (h - st.view.height * scale) / 2];
  }

  function draw(st) {
    if (!st.transform) return;
    const g = st.canvas.getContext("2d"), [k, dx, dy] = st.transform, tones = window.bpTones;
    g.setTransform(1, 0, 0, 1, 0, 0);
    g.clearRect(0, 0, st.canvas.width, st.canvas.height);
    g.setTransform(k, 0, 0, k, dx, dy);
    g.lineCap = "butt";
    for (const e of st.edges) {
      g.strokeStyle = tones.edgeColour(e.q);
      g.lineWidth = Number(tones.edgeWidth(e.q));
      g.beginPath();
      g.moveTo(e.x1, e.y1);
      g.lineTo(e.x2, e.y2);
      g.stroke();
    }
    g.imageSmoothingEnabled = true;
    if (st.sheet && st.sheet.complete && st.sheet.naturalWidth) {
      for (const t of st.tiles) {
        g.drawImage(st.sheet, t.col * st.tile, t.row * st.tile, st.tile, st.tile, t.x, t.y, t.w, t.h);
      }
    }
    if (st.out && st.out.complete && st.out.naturalWidth) {
      for (const o of st.outs) g.drawImage(st.out, o.x, o.y, o.w, o.h);
    }
    for (const b of st.biases) {
      g.fillStyle = tones.toneColour(b.q);
      g.fillRect(b.x, b.y, b.w, b.h);
    }
  }

  window.bpDiagram = {
    // Paint every diagram of the part just swapped in (or of the page).
    init(root) {
      (root || document).querySelectorAll("svg.diagram").forEach(function (svg) {
        if (!states.has(svg)) setup(svg);
      });
    },
    // A frame: new tones of the weights (in the order of the SVG's lines) and of the
    // biases, new maps. Return what it painted: {edges, biases}, or null.
    update(svg, edges, biases, sheet, out) {
      const st = states.get(svg);
      if (!st) return null;
      if (edges && edges.length === st.edges.length) edges.forEach((q, i) => { st.edges[i].q = q; });
      const biasesPainted = st.biases.length > 0;
      if (biasesPainted && biases && biases.length === st.biases.length) {
        biases.forEach((q, i) => { st.biases[i].q = q; });
      }
      load(st, "sheet", sheet);
      load(st, "out", out);
      draw(st);
      return { edges: true, biases: biasesPainted };
    },
  };
})();
