// PromptLab's own script: small enhancements; every page works without it.
(function () {
  "use strict";

  // On load, focus goes to what the page came to say, most urgent first: an error
  // summary (GOV.UK), then what the page asks to focus (a new API token), then its
  // messages (signed in, saved…), which a screen reader then reads out.
  document.addEventListener("DOMContentLoaded", function () {
    var first = document.querySelector("[data-error-summary]") ||
      document.querySelector("[data-focus-on-load]") || document.querySelector("[data-messages]");
    if (first) first.focus();
  });

  // Copy buttons: <button data-copy="#id" data-copy-status="#id" data-copied-text=…
  // data-copy-failed-text=…>, hidden in the page (they need this script); the status
  // element is a live region that exists before it changes, so the result is announced.
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      button.hidden = false;
    });
  });
  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-copy]");
    if (!button) return;
    var source = document.querySelector(button.dataset.copy);
    var status = document.querySelector(button.dataset.copyStatus);
    if (!source) return;
    var say = function (text) {
      if (status) status.textContent = text;
    };
    var text = source.textContent.trim();
    if (status) status.textContent = "";
    var selectSource = function () {
      var range = document.createRange();
      range.selectNodeContents(source);
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
    };
    var fallback = function () {
      // Without the asynchronous clipboard (an insecure origin), the older command.
      selectSource();
      var copied = false;
      try {
        copied = document.execCommand("copy");
      } catch (error) {
        copied = false;
      }
      say(copied ? button.dataset.copiedText : button.dataset.copyFailedText);
    };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(function () {
        say(button.dataset.copiedText);
      }, fallback);
    } else {
      fallback();
    }
  });

  // The account menu (a <details>) closes with Escape, focus back on its toggle.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var menu = document.querySelector("details[data-account-menu][open]");
    if (!menu || !menu.contains(document.activeElement)) return;
    menu.open = false;
    menu.querySelector("summary").focus();
  });

  document.addEventListener("DOMContentLoaded", function () {
    var summary = document.querySelector("[data-error-summary]");
    if (!summary) return;
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
