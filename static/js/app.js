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
      // A textarea the code editor stands in for is hidden: focus the editor instead.
      var editor = control.hidden && document.querySelector("[data-code-editor-for='" + control.id + "'] [contenteditable]");
      (editor || control).focus({ preventScroll: true });
    });
  });

  // --- The template editor ------------------------------------------------

  // Before leaving with unsaved changes, the browser asks (not when the form itself is
  // submitted). Unsaved: the form differs from what the page loaded with, or the page
  // shows a posted form again (data-warn-unsaved="changed": nothing of it was saved).
  function formSnapshot(form) {
    var pairs = [];
    new FormData(form).forEach(function (value, name) {
      if (name === "csrfmiddlewaretoken" || name === "preview_language") return;
      pairs.push([name, typeof value === "string" ? value : value.name + ":" + value.size]);
    });
    return JSON.stringify(pairs);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector("form[data-warn-unsaved]");
    if (!form) return;
    var initial = formSnapshot(form);
    var submitting = false;
    form.addEventListener("submit", function () {
      submitting = true;
    });
    window.addEventListener("pageshow", function () {
      submitting = false;  // back from the next page (the back/forward cache)
    });
    window.addEventListener("beforeunload", function (event) {
      if (submitting) return;
      if (form.dataset.warnUnsaved !== "changed" && formSnapshot(form) === initial) return;
      event.preventDefault();
      event.returnValue = "";  // older browsers ask only when it is set
    });
  });

  // Ctrl+Enter (Cmd+Enter) in the editor form updates the preview at once: a "change" on
  // the schema, whose section's htmx request includes the prompt texts. (The code
  // editor binds the same keys and prevents the default, so it is not seen twice.)
  function refreshPreview(form) {
    var schema = form.querySelector("textarea[data-code-editor='schema']");
    if (schema) schema.dispatchEvent(new Event("change", { bubbles: true }));
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector("form[data-editor-form]");
    if (!form) return;
    document.querySelectorAll("[data-js-hint]").forEach(function (hint) {
      hint.hidden = false;
    });
    form.addEventListener("keydown", function (event) {
      if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey) || event.defaultPrevented) return;
      if (!event.target.matches("textarea, input")) return;
      event.preventDefault();
      refreshPreview(form);
    });
  });

  // Theme colours: a colour picker beside each hex field, kept in step both ways. The hex
  // field is what the form submits (and all there is without JavaScript); an empty one
  // shows its default in the picker, and a hex the picker can't show leaves it alone.
  function longHex(value) {
    var hex = (value || "").trim();
    if (/^#[0-9a-fA-F]{3}$/.test(hex)) hex = "#" + hex[1] + hex[1] + hex[2] + hex[2] + hex[3] + hex[3];
    return /^#[0-9a-fA-F]{6}$/.test(hex) ? hex.toLowerCase() : null;
  }

  function shownColour(field) {
    var own = longHex(field.value);
    if (own) return own;
    if (!field.value.trim()) {
      var inherited = field.dataset.colourInherits && document.getElementById(field.dataset.colourInherits);
      if (inherited) return shownColour(inherited);
      return longHex(field.placeholder);
    }
    return null;
  }

  document.addEventListener("DOMContentLoaded", function () {
    var pickers = document.querySelectorAll("input[type=color][data-colour-picker]");
    var sync = function () {
      pickers.forEach(function (picker) {
        var field = document.getElementById(picker.dataset.colourPicker);
        var colour = field && shownColour(field);
        if (colour && picker.value !== colour) picker.value = colour;
      });
    };
    pickers.forEach(function (picker) {
      var field = document.getElementById(picker.dataset.colourPicker);
      if (!field) return;
      picker.hidden = false;
      picker.addEventListener("input", function () {
        field.value = picker.value;
        field.dispatchEvent(new Event("input", { bubbles: true }));
      });
    });
    // One listener for all: a light colour typed also changes the dark pickers that inherit it.
    document.addEventListener("input", function (event) {
      if (event.target.matches("input[data-colour-inherits], .colour-field input[type=text]")) sync();
    });
    sync();
  });

  // The preview's "Add as a text parameter" in place: the server appends the parameter to
  // the schema text (nothing saved), the text takes its place, the preview follows. On
  // any failure the button does what it does without JavaScript: submit the form.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-add-parameter]");
    var form = document.getElementById("editor-form");
    if (!button || !form || !form.dataset.addParameterUrl || !window.fetch) return;
    var schema = form.querySelector("textarea[data-code-editor='schema']");
    var format = form.querySelector("[name$='schema_format']:checked");
    var token = form.querySelector("[name=csrfmiddlewaretoken]");
    if (!schema || !format || !token) return;
    event.preventDefault();
    var data = new FormData();
    data.append("csrfmiddlewaretoken", token.value);
    data.append("name", button.value);
    data.append("schema", schema.value);
    data.append("schema_format", format.value);
    fetch(form.dataset.addParameterUrl, { method: "POST", body: data, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("add parameter " + response.status);
        return response.json();
      })
      .then(function (answer) {
        schema.value = answer.schema;
        // The code editor follows the textarea; the "change" refreshes the preview at once.
        schema.dispatchEvent(new Event("change", { bubbles: true }));
        var announcer = document.querySelector("[data-editor-announcer]");
        if (announcer) {
          announcer.className = "message";
          announcer.textContent = answer.message;
        }
        // The button goes with the refreshed preview: focus goes to the schema, at its end.
        var editor = document.querySelector("[data-code-editor-for='" + schema.id + "'] [contenteditable]");
        if (editor) {
          editor.focus();
        } else {
          schema.focus();
          schema.setSelectionRange(schema.value.length, schema.value.length);
        }
      })
      .catch(function () {
        form.requestSubmit(button);
      });
  });

  // --- The job page ---------------------------------------------------------
  // Live updates change only the summary's text and append to the output: the
  // controls live outside both, so focus and a screen reader's reading position stay
  // where they are. The end is announced once, in a live region the page had from the
  // start; the answer and its actions then replace the streaming output.

  var TERMINAL = ["succeeded", "failed", "cancelled"];

  function parseHtml(html) {
    // Our own server's fragments (model output in them is escaped or sanitized there).
    var template = document.createElement("template");
    template.innerHTML = html.trim();
    return template.content;
  }

  function decodeEscapedText(html) {
    // The page's event stream sends output as escaped HTML text: decode it to text.
    var area = document.createElement("textarea");
    area.innerHTML = html;
    return area.value;
  }

  function initResultActions() {
    var copy = document.getElementById("job-copy");
    var raw = document.getElementById("job-output");
    if (copy && raw && navigator.clipboard) {
      var label = copy.textContent;
      var status = document.getElementById("job-copy-status");
      copy.hidden = false;
      copy.addEventListener("click", function () {
        navigator.clipboard.writeText(raw.textContent).then(function () {
          copy.textContent = copy.dataset.copied;
          if (status) status.textContent = copy.dataset.copied;
          setTimeout(function () {
            copy.textContent = label;
            if (status) status.textContent = "";
          }, 4000);
        });
      });
    }
    var toggle = document.getElementById("job-view-toggle");
    var answer = document.getElementById("job-answer");
    var rawView = document.getElementById("job-raw");
    if (toggle && answer && rawView) {
      // Without the script both views show; with it, one at a time.
      var showRaw = function (on) {
        toggle.setAttribute("aria-pressed", on ? "true" : "false");
        answer.hidden = on;
        rawView.hidden = !on;
      };
      toggle.hidden = false;
      showRaw(false);
      toggle.addEventListener("click", function () {
        showRaw(toggle.getAttribute("aria-pressed") !== "true");
      });
    }
  }

  function initJobPage(job) {
    if (job.dataset.terminal === "true") {
      initResultActions();
      return;
    }
    if (job.dataset.workflow === "true") {
      initWorkflowPage();
      return;
    }
    var state = {
      attempt: parseInt(job.dataset.attempt, 10),
      offset: parseInt(job.dataset.offset, 10),
      finished: false,
      finalSummary: null,
    };

    function output() {
      return document.getElementById("job-output");
    }

    function showEstimate() {
      // An estimate (about four characters a token) until the provider's count at the end.
      var estimate = document.getElementById("job-token-estimate");
      var waiting = document.getElementById("job-waiting");
      var length = output().textContent.length;
      if (waiting) waiting.hidden = length > 0;
      if (!estimate) return;
      estimate.hidden = length === 0;
      estimate.textContent = length ? job.dataset.estimateTemplate.replace("{n}", Math.ceil(length / 4)) : "";
    }

    function append(text) {
      if (!text) return;
      output().appendChild(document.createTextNode(text));
      showEstimate();
    }

    function clear() {
      output().textContent = "";
      showEstimate();
    }

    function applySummary(html) {
      var next = parseHtml(html).querySelector("#job-summary");
      var current = document.getElementById("job-summary");
      if (!next || !current) return;
      // Only when something changed: a screen reader inside it keeps its place otherwise.
      if (current.innerHTML !== next.innerHTML) current.innerHTML = next.innerHTML;
      current.dataset.jobStatus = next.dataset.jobStatus;
    }

    function isTerminalSummary(html) {
      var next = parseHtml(html).querySelector("#job-summary");
      return !!next && TERMINAL.indexOf(next.dataset.jobStatus) !== -1;
    }

    function finish(summaryHtml) {
      if (state.finished) return;
      state.finished = true;
      fetch(job.dataset.resultUrl, { credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) throw new Error("result " + response.status);
          return response.text();
        })
        .then(function (html) {
          var next = parseHtml(html).querySelector("#job-result");
          var result = document.getElementById("job-result");
          var controls = document.getElementById("job-controls");
          var focused = document.activeElement;
          var focusId = focused && result.contains(focused) ? focused.id : null;
          var focusWasOnControls = !!(focused && controls && controls.contains(focused));
          result.replaceWith(next);
          if (controls) controls.remove();
          // The final status last: when it says the job ended, everything else has.
          if (summaryHtml) applySummary(summaryHtml);
          initResultActions();
          var announcer = document.getElementById("job-announcer");
          if (announcer) announcer.textContent = next.dataset.announcement || "";
          // Focus was on something that is gone: give it to its successor, not to <body>.
          var target = focusId ? document.getElementById(focusId) : null;
          if (!target && focusWasOnControls) {
            target = document.querySelector("#job-result .job-actions button:not([hidden]), #job-result .job-actions a");
          }
          if (target) target.focus();
        })
        .catch(function () {
          window.location.reload();
        });
    }

    function stream(url) {
      var source = new EventSource(url);
      source.addEventListener("reset", function () {
        clear();
      });
      source.addEventListener("chunk", function (event) {
        append(decodeEscapedText(event.data));
      });
      source.addEventListener("status", function (event) {
        // A final status is held back until the last text and the answer are in.
        if (isTerminalSummary(event.data)) state.finalSummary = event.data;
        else applySummary(event.data);
      });
      source.addEventListener("done", function () {
        source.close();
        finish(state.finalSummary);
      });
    }

    function poll() {
      var url = job.dataset.progressUrl + "?attempt=" + state.attempt + "&offset=" + state.offset;
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) throw new Error("progress " + response.status);
          return response.json();
        })
        .then(function (data) {
          if (data.reset) {
            clear();
            state.offset = 0;
          }
          state.attempt = data.attempt;
          append(data.text);
          state.offset = data.offset;
          if (data.terminal) {
            finish(data.summary);
            return;
          }
          applySummary(data.summary);
          var wait = data.status === "running" ? job.dataset.pollRunning : job.dataset.pollQueued;
          setTimeout(poll, parseInt(wait, 10));
        })
        .catch(function () {
          setTimeout(poll, 2000);
        });
    }

    showEstimate();
    if (job.dataset.eventsUrl) stream(job.dataset.eventsUrl);
    else poll();
  }

  // A workflow run's page is live through htmx alone (the steps' event stream, or
  // polling of the steps fragment): the end swaps in the controls and the result, and
  // this gives them their actions and focus to what took the place of a control that
  // had it (Cancel, gone once the run has ended).
  function initWorkflowPage() {
    var focusWasOnControls = false;
    document.body.addEventListener("htmx:oobBeforeSwap", function (event) {
      var target = event.detail && event.detail.target;
      if (target && target.id === "job-controls" && target.contains(document.activeElement)) {
        focusWasOnControls = true;
      }
    });
    // htmx:load fires on content as it enters the page (the old element is gone by then).
    document.body.addEventListener("htmx:load", function (event) {
      var added = event.target;
      var next = null;
      if (added.id === "job-controls") {
        next = added.querySelector("button");
      } else if (added.id === "job-result" && !added.hasAttribute("hx-get")) {
        initResultActions();
        next = added.querySelector(".job-actions button:not([hidden]), .job-actions a");
      } else {
        return;
      }
      var lost = !document.activeElement || document.activeElement === document.body;
      if (focusWasOnControls && lost && next) {
        next.focus();
        focusWasOnControls = false;
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var job = document.getElementById("job");
    if (job) initJobPage(job);
  });
})();
