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
