// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";

  // Show or hide blocks marked data-show-when="field=value" as radios change.
  function syncConditionals() {
    document.querySelectorAll("[data-show-when]").forEach(function (block) {
      var parts = block.getAttribute("data-show-when").split("=");
      var checked = document.querySelector('input[name="' + parts[0] + '"]:checked');
      var show = !checked || checked.value === parts[1];
      block.hidden = !show;
    });
  }

  // Copy buttons next to PowerShell blocks.
  function initCopy() {
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      if (!navigator.clipboard) { return; }
      button.hidden = false;
      button.addEventListener("click", function () {
        var target = document.querySelector(button.getAttribute("data-copy"));
        if (!target) { return; }
        navigator.clipboard.writeText(target.innerText).then(function () {
          var label = button.textContent;
          button.textContent = "Copied";
          setTimeout(function () { button.textContent = label; }, 2000);
        });
      });
    });
  }

  // Live progress while a slow form (the credential test) is being processed.
  function initProgress() {
    document.querySelectorAll("form[data-progress]").forEach(function (form) {
      form.addEventListener("submit", function () {
        var box = form.querySelector(".progress");
        if (box) {
          box.hidden = false;
          box.innerHTML = '<span class="spinner" aria-hidden="true"></span> ';
          box.appendChild(document.createTextNode(form.getAttribute("data-progress")));
        }
        form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
      });
    });
  }

  function focusErrors() {
    var summary = document.querySelector("[data-focus]");
    if (summary) { summary.focus(); }
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll('input[type="radio"]').forEach(function (radio) {
      radio.addEventListener("change", syncConditionals);
    });
    syncConditionals();
    initCopy();
    initProgress();
    focusErrors();
  });
})();

// Credential test with live progress: start it in the background, poll, list each check as it
// finishes, then show the saved results. Without JavaScript the plain POST does the same.
(function () {
  "use strict";
  var LABELS = { pass: "Pass", warn: "Warning", fail: "Fail", skipped: "Skipped" };

  function renderCheck(list, check) {
    var item = document.createElement("li");
    item.className = "check check--" + check.status;
    var badge = document.createElement("span");
    badge.className = "badge badge--" + check.status;
    badge.textContent = LABELS[check.status] || check.status;
    var title = document.createElement("strong");
    title.textContent = " " + check.title + " ";
    var meta = document.createElement("span");
    meta.className = "muted small";
    meta.textContent = check.duration_ms + " ms" + (check.seen ? " · saw " + check.seen : "");
    item.appendChild(badge); item.appendChild(title); item.appendChild(meta);
    list.appendChild(item);
  }

  function poll(form, url, list, seen) {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (body) {
        (body.checks || []).slice(seen).forEach(function (c) { renderCheck(list, c); });
        seen = (body.checks || []).length;
        if (!body.done) { setTimeout(function () { poll(form, url, list, seen); }, 400); return; }
        if (body.error) {
          var box = form.querySelector(".progress");
          if (box) { box.textContent = body.error; }
          form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = false; });
          return;
        }
        window.location.assign(body.results_url);
      })
      .catch(function () { form.submit(); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-test-start]").forEach(function (form) {
      if (!window.fetch || !window.FormData) { return; }
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        var list = form.querySelector("[data-live-checks]");
        if (list) { list.hidden = false; list.innerHTML = ""; }
        fetch(form.getAttribute("data-test-start"), {
          method: "POST", body: new FormData(form), credentials: "same-origin",
          headers: { Accept: "application/json" }
        }).then(function (r) {
          if (r.status === 400) { HTMLFormElement.prototype.submit.call(form); return null; }
          return r.json().then(function (body) { return { status: r.status, body: body }; });
        }).then(function (res) {
          if (!res) { return; }
          if (res.status !== 202) {
            var box = form.querySelector(".progress");
            if (box) { box.textContent = (res.body.error && res.body.error.message) || "The test could not start."; }
            form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = false; });
            return;
          }
          poll(form, res.body.progress_url, list, 0);
        }).catch(function () { HTMLFormElement.prototype.submit.call(form); });
      });
    });
  });
})();
