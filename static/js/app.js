// PromptLab's own script: small enhancements; every page works without it.
(function () {
  "use strict";

  // GOV.UK pattern: after a failed submit, move focus to the error summary.
  document.addEventListener("DOMContentLoaded", function () {
    var summary = document.querySelector("[data-error-summary]");
    if (summary) summary.focus();
  });
})();
