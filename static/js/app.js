// PromptLab's own script: small enhancements; every page works without it.
(function () {
  "use strict";

  // GOV.UK pattern: after a failed submit, move focus to the error summary.
  document.addEventListener("DOMContentLoaded", function () {
    var summary = document.querySelector("[data-error-summary]");
    if (!summary) return;
    summary.focus();
    // A link in the summary focuses its control and scrolls its whole field into
    // view, so the label or legend (the question) is seen too, not only the input.
    summary.addEventListener("click", function (event) {
      var link = event.target.closest("a[href^='#']");
      if (!link) return;
      var control = document.getElementById(link.getAttribute("href").slice(1));
      if (!control) return;
      event.preventDefault();
      var field = control.closest(".field") || control;
      field.scrollIntoView();
      control.focus({ preventScroll: true });
    });
  });
})();
