// The template editor's code fields: CodeMirror 6 in place of each <textarea data-code-editor>,
// with line numbers and highlighting (YAML or JSON for the schema and the steps, Jinja for the prompt).
// Built into static/editor/code-editor.js by `make editor-bundle` (esbuild); the page works
// without it, on the plain textareas, which stay what the form submits.
import { Compartment, EditorState, Prec } from "@codemirror/state";
import { EditorView, keymap, lineNumbers, highlightActiveLineGutter } from "@codemirror/view";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { StreamLanguage, bracketMatching, indentOnInput, syntaxHighlighting } from "@codemirror/language";
import { classHighlighter } from "@lezer/highlight";
import { yaml } from "@codemirror/lang-yaml";
import { json } from "@codemirror/lang-json";
// The legacy Jinja mode, not @codemirror/lang-jinja: that one parses the text around the
// tags as HTML (and closes tags as one types), and a prompt is plain text.
import { jinja2 } from "@codemirror/legacy-modes/mode/jinja2";

const JINJA = StreamLanguage.define(jinja2);

// The page's CSP lets styles carry this response's nonce; CodeMirror's own style element
// gets it through EditorView.cspNonce. (The nonce attribute hides from getAttribute, not
// from the property.)
const NONCE = (document.currentScript && document.currentScript.nonce) || "";

// The radios that say YAML or JSON: the field's own data-code-format (the steps follow the
// parameters' choice), else <prefix>schema_format beside <prefix>schema.
function formatField(textarea) {
  return textarea.dataset.codeFormat || `${textarea.name.slice(0, -"schema".length)}schema_format`;
}

function schemaFormat(textarea) {
  const checked = textarea.form && textarea.form.querySelector(`[name='${formatField(textarea)}']:checked`);
  return checked ? checked.value : "yaml";
}

function languageFor(textarea) {
  if (textarea.dataset.codeEditor === "jinja") return JINJA;
  return schemaFormat(textarea) === "json" ? json() : yaml();
}

function labelFor(textarea) {
  const label = document.querySelector(`label[for='${textarea.id}']`);
  if (label && !label.id) label.id = `${textarea.id}-label`;
  return label;
}

function mount(textarea, hint) {
  const label = labelFor(textarea);
  const language = new Compartment();
  // The editor's content is the control now: it takes the textarea's name, description
  // and error state, and the key hint.
  const attributes = {};
  if (label) attributes["aria-labelledby"] = label.id;
  const described = [textarea.getAttribute("aria-describedby"), hint && hint.id].filter(Boolean).join(" ");
  if (described) attributes["aria-describedby"] = described;
  if (textarea.getAttribute("aria-invalid") === "true") attributes["aria-invalid"] = "true";
  let echoing = false;

  const refresh = () => {
    textarea.dispatchEvent(new Event("change", { bubbles: true }));
    return true;
  };

  const wrapper = document.createElement("div");
  wrapper.className = "code-editor";
  wrapper.dataset.codeEditorFor = textarea.id;
  textarea.after(wrapper);

  const view = new EditorView({
    parent: wrapper,
    state: EditorState.create({
      doc: textarea.value,
      extensions: [
        lineNumbers(),
        highlightActiveLineGutter(),
        history(),
        indentOnInput(),
        bracketMatching(),
        syntaxHighlighting(classHighlighter),
        EditorView.lineWrapping,
        // Before the default keymap, which binds Mod-Enter to "insert a blank line".
        Prec.highest(keymap.of([{ key: "Mod-Enter", run: refresh }])),
        // Tab indents; Escape then Tab moves focus on (CodeMirror's tab focus mode).
        keymap.of([...defaultKeymap, ...historyKeymap, indentWithTab]),
        EditorView.contentAttributes.of(attributes),
        EditorView.cspNonce.of(NONCE),
        language.of(languageFor(textarea)),
        EditorView.updateListener.of((update) => {
          if (!update.docChanged || echoing) return;
          textarea.value = update.state.doc.toString();
          // What typing in the textarea would send: htmx's delayed preview, the unsaved check.
          textarea.dispatchEvent(new Event("input", { bubbles: true }));
        }),
      ],
    }),
  });

  // Text put into the textarea by a script (the preview's "Add") replaces the editor's.
  const follow = () => {
    const text = textarea.value;
    if (text === view.state.doc.toString()) return;
    echoing = true;
    try {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text }, selection: { anchor: text.length } });
    } finally {
      echoing = false;
    }
  };
  textarea.addEventListener("input", follow);
  textarea.addEventListener("change", follow);

  if (textarea.dataset.codeEditor === "schema" && textarea.form) {
    textarea.form.addEventListener("change", (event) => {
      if (event.target.name === formatField(textarea)) {
        view.dispatch({ effects: language.reconfigure(languageFor(textarea)) });
      }
    });
  }
  if (label) {
    label.addEventListener("click", (event) => {
      event.preventDefault();
      view.focus();
    });
  }
  textarea.hidden = true;
  return view;
}

function start() {
  const textareas = document.querySelectorAll("textarea[data-code-editor]");
  if (!textareas.length) return;
  const hint = document.querySelector("[data-code-editor-hint]");
  if (hint) hint.hidden = false;
  textareas.forEach((textarea) => mount(textarea, hint));
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
