// A little JS, no build: refresh live regions and submit run controls in place.
// Without it every form still works (POST, then a redirect) and pages can be reloaded by hand.
(function () {
  "use strict";
  var POLL_MS = 1000;

  function swap(el, html) {
    var holder = document.createElement("div");
    holder.innerHTML = html.trim();
    var fresh = holder.querySelector("#" + el.id) || holder.firstElementChild;
    if (!fresh) return el;
    el.replaceWith(fresh);
    wire(fresh);
    return fresh;
  }

  function poll(el) {
    if (!el.dataset.live || el.dataset.polling) return;
    el.dataset.polling = "1";
    var id = el.id;
    setTimeout(function tick() {
      var current = document.getElementById(id);
      if (!current || !current.dataset.live) return;
      fetch(current.dataset.live, { headers: { "X-Fragment": "1" }, cache: "no-store" })
        .then(function (r) { return r.text(); })
        .then(function (html) { swap(current, html); })
        .catch(function () { setTimeout(tick, POLL_MS * 3); });
    }, POLL_MS);
  }

  function inplace(form) {
    form.addEventListener("submit", function (event) {
      if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) { event.preventDefault(); return; }
      event.preventDefault();
      var target = document.getElementById(form.dataset.inplace);
      var button = form.querySelector("button");
      if (button) { button.disabled = true; button.classList.add("busy"); }
      fetch(form.action, { method: "POST", body: new FormData(form), headers: { "X-Fragment": "1" } })
        .then(function (r) {
          if (r.redirected) { window.location = r.url; return null; }
          return r.text();
        })
        .then(function (html) { if (html !== null && target) swap(target, html); })
        .catch(function () { form.submit(); });
    });
  }

  // A plain form that asks first (the CSP allows no inline onsubmit).
  function confirming(form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }

  function wire(root) {
    if (root.dataset && root.dataset.live) poll(root);
    root.querySelectorAll("[data-live]").forEach(poll);
    root.querySelectorAll("form[data-inplace]").forEach(inplace);
    if (root.matches && root.matches("form[data-inplace]")) inplace(root);
    root.querySelectorAll("form[data-confirm]:not([data-inplace])").forEach(confirming);
  }

  document.addEventListener("DOMContentLoaded", function () { wire(document.body); });
})();
