// PromptLab's own script: small enhancements; every page works without it.
(function () {
  "use strict";

  // GOV.UK pattern: after a failed submit, move focus to the error summary.
  document.addEventListener("DOMContentLoaded", function () {
    var summary = document.querySelector("[data-error-summary]");
    if (summary) summary.focus();
  });

  // Keep the stream's resume point current, so a reconnect (which reuses the
  // sse-connect URL) continues after the last chunk instead of repeating it.
  document.addEventListener("htmx:sseBeforeMessage", function (event) {
    var message = event.detail;
    if (!message || !message.lastEventId) return;
    var source = event.target.closest("[sse-connect]");
    if (!source) return;
    var url = new URL(source.getAttribute("sse-connect"), window.location.href);
    url.searchParams.set("from", message.lastEventId);
    source.setAttribute("sse-connect", url.pathname + url.search);
  });
})();
