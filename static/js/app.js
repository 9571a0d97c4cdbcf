// The little the page needs beyond htmx: remember recent sessions in this browser,
// copy to the clipboard, keep the matrix editor on the chosen layer, fade the toast,
// keep other tabs in sync (a slow poll that asks only "has the version moved?").
(function () {
  "use strict";
  const KEY = "bp.recent";
  const bp = (window.bp = {});

  bp.showAll = function () {
    const field = document.querySelector('#view input[name="v_all"]');
    if (field) { field.value = "1"; field.dispatchEvent(new Event("change", { bubbles: true })); }
  };

  function remember(root) {
    const el = root.querySelector && root.querySelector("[data-session]");
    if (!el || el.dataset.readonly === "1") return;
    let list = [];
    try { list = JSON.parse(localStorage.getItem(KEY) || "[]"); } catch (e) { list = []; }
    list = list.filter((x) => x.id !== el.dataset.session);
    list.unshift({ id: el.dataset.session, title: el.dataset.title, at: Date.now() });
    localStorage.setItem(KEY, JSON.stringify(list.slice(0, 12)));
  }

  function showRecent() {
    const box = document.getElementById("recent");
    if (!box) return;
    let list = [];
    try { list = JSON.parse(localStorage.getItem(KEY) || "[]"); } catch (e) { list = []; }
    if (!list.length) return;
    const ul = document.getElementById("recent-list");
    for (const item of list) {
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = "/s/" + encodeURIComponent(item.id);
      a.textContent = item.title || item.id;
      li.appendChild(a);
      li.appendChild(document.createTextNode(" · " + new Date(item.at).toLocaleString()));
      ul.appendChild(li);
    }
    box.hidden = false;
  }

  document.addEventListener("click", function (ev) {
    const btn = ev.target.closest("[data-copy], [data-copy-from]");
    if (!btn) return;
    const text = btn.dataset.copy !== undefined ? btn.dataset.copy
      : btn.parentElement.querySelector("textarea").value;
    const done = () => { btn.textContent = "copied ✓"; };
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).then(done, done);
    else { const t = btn.parentElement.querySelector("textarea"); if (t) { t.select(); document.execCommand("copy"); } done(); }
  });

  document.addEventListener("change", function (ev) {
    if (ev.target.name === "transition" && ev.target.closest(".matrix-editor")) {
      const t = ev.target.value;
      ev.target.closest("form").querySelectorAll("[data-transition]").forEach((el) => {
        el.hidden = el.dataset.transition !== t;
      });
    }
  });

  let toastTimer = null;
  document.addEventListener("htmx:oobAfterSwap", function (ev) {
    if (ev.detail.target && ev.detail.target.id === "toast") {
      clearTimeout(toastTimer);
      toastTimer = setTimeout(function () {
        const toast = document.getElementById("toast");  // the swap replaced the element
        if (toast) toast.classList.remove("show");
      }, 4500);
    }
  });

  // A frame of play that never arrived (network hiccup, a restarting server) is sent
  // again, so playing re-joins instead of silently stopping.
  function retryFrame(ev) {
    const cfg = ev.detail.requestConfig || {};
    if (!cfg.path || !/\/play$/.test(cfg.path) || ev.detail.xhr && ev.detail.xhr.status === 404) return;
    setTimeout(function () {
      const frame = document.querySelector("#player [hx-trigger]");
      if (!frame) return;  // paused meanwhile
      const again = frame.cloneNode(true);  // a fresh element fires its "load" trigger
      frame.replaceWith(again);
      htmx.process(again);
    }, 1000);
  }
  document.addEventListener("htmx:sendError", retryFrame);
  document.addEventListener("htmx:responseError", retryFrame);

  function startSync() {
    const el = document.querySelector("[data-session]");
    if (!el) return;
    const sid = el.dataset.session;
    setInterval(function () {
      if (document.hidden || document.querySelector("#player [hx-trigger]")) return;
      const version = document.getElementById("version");
      if (!version || !window.htmx) return;
      const prefs = new URLSearchParams(new FormData(document.getElementById("view")));
      prefs.set("version", version.value);
      if (el.dataset.readonly === "1") prefs.set("readonly", "1");
      htmx.ajax("GET", "/s/" + sid + "/sync?" + prefs.toString(), { swap: "none" });
    }, 3000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    remember(document);
    showRecent();
    startSync();
  });
})();
