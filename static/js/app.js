// The page beyond htmx: preferences and tabs kept in the URL, refreshes of the parts,
// the inspector and the cells it marks, remembered open/closed notes, copy buttons, the
// toast, and the sessions this browser opened.
(function () {
  "use strict";
  const bp = (window.bp = {});
  const RECENT = "bp.recent";
  const EVERY = "controls,data,network,output,view";  // the stream (#live) stays connected
  const session = () => document.querySelector("[data-base]");
  // where this page reads its parts: /s/<id> (the session link) or /v/<token> (read-only)
  const base = () => (session() ? session().dataset.base : "");
  const prefsQuery = (extra) => {
    const q = new URLSearchParams(new FormData(document.getElementById("prefs")));
    for (const [k, v] of Object.entries(extra || {})) q.set(k, v);
    return q.toString();
  };

  // ---------------------------------------------------------------- refreshes
  let refreshing = false, again = null;
  bp.refresh = function (which) {
    if (!base() || !window.htmx) return;
    if (refreshing) {  // one more refresh when this one is done, of every part asked for
      const asked = new Set((again ? again + "," : "").concat(which || EVERY).split(","));
      again = Array.from(asked).join(",");
      return;
    }
    refreshing = true;
    htmx.ajax("GET", base() + "/panels?" + prefsQuery({ parts: which || EVERY }), { swap: "none" })
      .finally(function () {
        refreshing = false;
        if (again) { const next = again; again = null; bp.refresh(next); }
      });
  };

  bp.toast = function (text, error) {
    const toast = document.getElementById("toast");
    if (!toast) return;
    toast.textContent = text;
    toast.className = "show" + (error ? " error" : "");
    fade();
  };
  let toastTimer = null;
  function fade() {
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () {
      const toast = document.getElementById("toast");
      if (toast) toast.classList.remove("show");
    }, 4500);
  }

  // ---------------------------------------------------------------- preferences
  function setPref(name, value) {
    const field = document.querySelector('#prefs [name="' + name + '"]');
    if (field) field.value = value;
  }
  document.addEventListener("change", function (ev) {
    const el = ev.target;
    if (el.matches("[data-pref]")) {
      setPref(el.name, el.type === "checkbox" ? (el.checked ? "1" : "0") : el.value);
      bp.refresh(EVERY + ",live");  // frames depend on the preferences too
    } else if (el.id === "play-speed") {
      bp.refresh("live");
    } else if (el.matches("[data-scheme]")) {
      const fields = (el.selectedOptions[0].dataset.fields || "").split(" ");
      el.closest("form").querySelectorAll(".init-field[data-field]").forEach(function (label) {
        label.hidden = !fields.includes(label.dataset.field);
      });
    } else if (el.matches("[data-transition-picker]")) {
      el.closest("form").querySelectorAll("[data-transition]").forEach(function (x) {
        x.hidden = x.dataset.transition !== el.value;
      });
    } else if (el.type === "range" && el.nextElementSibling && el.nextElementSibling.tagName === "OUTPUT") {
      el.nextElementSibling.textContent = el.value + " %";
    }
  });
  document.addEventListener("input", function (ev) {
    const el = ev.target;
    if (el.type === "range" && el.nextElementSibling && el.nextElementSibling.tagName === "OUTPUT") {
      el.nextElementSibling.textContent = el.value + " %";
    }
  });

  // ---------------------------------------------------------------- tabs
  function openTab(name) {
    setPref("tab", name);
    const url = new URL(window.location.href);
    if (name) url.searchParams.set("tab", name); else url.searchParams.delete("tab");
    history.replaceState(null, "", url);
    document.querySelectorAll("[data-tab][role=tab]").forEach(function (tab) {
      const open = tab.dataset.tab === name;
      tab.classList.toggle("open", open);
      tab.setAttribute("aria-selected", open ? "true" : "false");
    });
    htmx.ajax("GET", base() + "/views/" + (name || "none") + "?" + prefsQuery(),
      { target: "#view-body", swap: "outerHTML" }).then(function () {
      const body = document.getElementById("view-body");
      if (name && body) body.scrollIntoView({ behavior: "smooth", block: "start" });
    });
  }

  // ---------------------------------------------------------------- inspector
  let inspected = null;  // the query of the unit shown
  function inspect(query) {
    inspected = query;
    htmx.ajax("GET", base() + "/inspect?" + query + "&" + prefsQuery(),
      { target: "#inspector", swap: "innerHTML" });
  }
  let lastLive = 0;
  bp.liveInspector = function () {  // during play: at most four refreshes a second
    const now = performance.now();
    if (!inspected || now - lastLive < 250) return;
    lastLive = now;
    inspect(inspected);
  };
  function unitOf(target) {
    const node = target.closest("#diagram g.node");
    if (node) return "unit=neuron&layer=" + node.dataset.l + "&index=" + node.dataset.i;
    const edge = target.closest("#diagram line.edge");
    if (edge) return "unit=weight&transition=" + edge.dataset.t + "&row=" + edge.dataset.r + "&column=" + edge.dataset.c;
    return null;
  }
  function mark() {
    document.querySelectorAll(".inspected").forEach((el) => el.classList.remove("inspected"));
    const card = document.querySelector("#inspector .inspector-card");
    if (!card) return;
    for (const m of JSON.parse(card.dataset.marks || "[]")) {
      const prod = m.key.startsWith("prod-") ? document.getElementById(m.key) : null;
      if (prod) {
        prod.querySelectorAll("tr").forEach(function (tr) {
          const cells = tr.classList.contains("top") ? Array.from(tr.querySelectorAll("td:not(.blank)"))
            : Array.from(tr.querySelectorAll("td.res"));
          if (cells[m.col]) cells[m.col].classList.add("inspected");
        });
        continue;
      }
      document.querySelectorAll('#view-body figure[data-key="' + m.key + '"] tbody tr').forEach(function (tr, r) {
        if (m.row !== undefined && m.row !== r) return;
        const cells = tr.querySelectorAll("td");
        if (cells[m.col]) cells[m.col].classList.add("inspected");
      });
    }
  }

  // ---------------------------------------------------------------- clicks and keys
  document.addEventListener("click", function (ev) {
    const t = ev.target;
    const tab = t.closest("a[data-tab][role=tab]");
    if (tab && base()) {
      ev.preventDefault();
      openTab(tab.classList.contains("open") ? "" : tab.dataset.tab);
      return;
    }
    if (t.closest("[data-close-view]")) { openTab(""); return; }
    if (t.closest("[data-close-inspector]")) { inspected = null; document.getElementById("inspector").innerHTML = ""; mark(); return; }
    if (t.closest("[data-close-copy]")) { t.closest(".copy-dialog").innerHTML = ""; return; }
    if (t.closest("[data-show-all]")) { setPref("v_all", "1"); bp.refresh(); return; }
    const unit = base() ? unitOf(t) : null;
    if (unit) { inspect(unit); return; }
    const copy = t.closest("[data-copy], [data-copy-from]");
    if (copy) {
      const text = copy.dataset.copy !== undefined ? copy.dataset.copy : copy.parentElement.querySelector("textarea").value;
      const done = () => { copy.textContent = "copied ✓"; };
      if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).then(done, done);
      else { const area = copy.parentElement.querySelector("textarea"); if (area) { area.select(); document.execCommand("copy"); } done(); }
    }
  });
  document.addEventListener("keydown", function (ev) {
    if ((ev.key === "Enter" || ev.key === " ") && ev.target.matches && ev.target.matches("#diagram g.node")) {
      ev.preventDefault();
      inspect(unitOf(ev.target));
    } else if (ev.key === "Escape" && inspected) {
      inspected = null; document.getElementById("inspector").innerHTML = ""; mark();
    }
  });

  // ---------------------------------------------------------------- after swaps
  function remembered(root) {
    (root.querySelectorAll ? root : document).querySelectorAll("details[data-remember]").forEach(function (d) {
      const key = "bp.closed." + d.dataset.remember;
      if (localStorage.getItem(key) === "1") d.open = false;
      if (!d.dataset.bound) {
        d.dataset.bound = "1";
        d.addEventListener("toggle", () => localStorage.setItem(key, d.open ? "0" : "1"));
      }
    });
  }
  function settled(swapped) {
    if (!swapped || !swapped.id) return;
    const el = document.getElementById(swapped.id);  // an outerHTML swap replaced it
    if (!el) return;
    if (el.id === "network" || el.id === "output") {
      remembered(el);
      if (window.bpChart) window.bpChart.init(el);
      if (window.bpDiagram) window.bpDiagram.init(el);
      if (el.id === "network" && inspected) inspect(inspected);
    }
    if (el.id === "view-body" || el.id === "inspector") mark();
    if (el.id === "toast") fade();
  }
  document.addEventListener("htmx:oobAfterSwap", (ev) => settled(ev.detail.target));
  document.addEventListener("htmx:afterSwap", (ev) => settled(ev.detail.target));
  // A control's old error goes when it is sent again; a new one comes back beside it.
  document.addEventListener("htmx:beforeRequest", function (ev) {
    const elt = ev.detail.elt;
    const form = elt && elt.closest ? elt.closest("form") : null;
    const slots = form ? Array.from(form.querySelectorAll(".field-error")) : [];
    for (const id of ((elt && elt.getAttribute && elt.getAttribute("aria-describedby")) || "").split(" ")) {
      const slot = id && document.getElementById(id);
      if (slot && slot.classList.contains("field-error")) slots.push(slot);
    }
    slots.forEach((slot) => { slot.textContent = ""; });
  });

  // ---------------------------------------------------------------- recent sessions
  function remember() {
    const el = session();
    if (!el || !el.dataset.session) return;  // a read-only page is not one of yours
    let list = [];
    try { list = JSON.parse(localStorage.getItem(RECENT) || "[]"); } catch (e) { list = []; }
    list = list.filter((x) => x.id !== el.dataset.session);
    list.unshift({ id: el.dataset.session, title: el.dataset.title, at: Date.now() });
    localStorage.setItem(RECENT, JSON.stringify(list.slice(0, 12)));
  }
  function showRecent() {
    const box = document.getElementById("recent");
    if (!box) return;
    let list = [];
    try { list = JSON.parse(localStorage.getItem(RECENT) || "[]"); } catch (e) { list = []; }
    if (!list.length) return;
    const ul = document.getElementById("recent-list");
    for (const item of list) {
      const li = document.createElement("li"), a = document.createElement("a");
      a.href = "/s/" + encodeURIComponent(item.id);
      a.textContent = item.title || item.id;
      li.appendChild(a);
      li.appendChild(document.createTextNode(" · " + new Date(item.at).toLocaleString()));
      ul.appendChild(li);
    }
    box.hidden = false;
  }

  document.addEventListener("DOMContentLoaded", function () {
    remember();
    showRecent();
    remembered(document);
    if (window.bpChart) window.bpChart.init(document);
    if (window.bpDiagram) window.bpDiagram.init(document);
    mark();
  });
})();
