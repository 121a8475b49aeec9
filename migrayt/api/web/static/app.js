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

  // The user picker: search the Jira site as one types, a click puts the chosen accountId in the field.
  function picker(input) {
    var list = input.parentElement.querySelector(".picks");
    var timer = null;
    input.addEventListener("input", function () {
      clearTimeout(timer);
      var query = input.value.trim();
      if (query.length < 2) { list.hidden = true; return; }
      timer = setTimeout(function () {
        fetch(input.dataset.userSearch + "?query=" + encodeURIComponent(query), { cache: "no-store" })
          .then(function (r) { return r.json(); })
          .then(function (users) {
            list.innerHTML = "";
            (Array.isArray(users) ? users : []).forEach(function (u) {
              var item = document.createElement("li");
              var button = document.createElement("button");
              button.type = "button";
              button.className = "pick";
              button.dataset.accountId = u.account_id;
              button.textContent = (u.display_name || u.account_id) + (u.email ? " <" + u.email + ">" : "");
              button.addEventListener("click", function () {
                input.value = u.account_id;
                list.hidden = true;
                var shown = input.closest("tr").querySelector(".account");
                if (shown) {
                  shown.textContent = (u.display_name || u.account_id) + (u.email ? " <" + u.email + ">" : "") +
                    " (not saved yet)";
                  shown.title = "accountId " + u.account_id;
                }
              });
              item.appendChild(button);
              list.appendChild(item);
            });
            if (!list.children.length) list.innerHTML = "<li class=\"muted small\">no Jira user matches</li>";
            list.hidden = false;
          });
      }, 250);
    });
  }

  function wire(root) {
    root.querySelectorAll("input[data-user-search]").forEach(picker);
    if (root.dataset && root.dataset.live) poll(root);
    root.querySelectorAll("[data-live]").forEach(poll);
    root.querySelectorAll("form[data-inplace]").forEach(inplace);
    if (root.matches && root.matches("form[data-inplace]")) inplace(root);
    root.querySelectorAll("form[data-confirm]:not([data-inplace])").forEach(confirming);
  }

  document.addEventListener("DOMContentLoaded", function () { wire(document.body); });
})();
