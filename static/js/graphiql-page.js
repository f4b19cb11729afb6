// GraphiQL on /graphql, from our own static files (the CSP allows no inline script).
// Queries go to the same address with the session cookie and the CSRF token, as the
// site's own requests do; a token caller can add an Authorization header in GraphiQL.
(function () {
  "use strict";
  var host = document.getElementById("graphiql");
  if (!host || !window.GraphiQL || !window.React || !window.ReactDOM) {
    return;
  }
  var fetcher = window.GraphiQL.createFetcher({
    url: host.dataset.url,
    headers: { "X-CSRFToken": host.dataset.csrfToken },
  });
  // What GraphiQL leaves out for assistive technology (found by axe-core): a name for each
  // editor's text area, and tabs that hold buttons (a tab may not nest controls): the
  // tab roles go, the buttons inside stay and say what they do.
  function repair() {
    host.querySelectorAll(".CodeMirror textarea:not([aria-label])").forEach(function (area) {
      var label = host.dataset.labelTools;
      if (area.readOnly) {
        label = host.dataset.labelResponse;
      } else if (area.closest(".graphiql-query-editor")) {
        label = host.dataset.labelQuery;
      }
      area.setAttribute("aria-label", label);
    });
    host.querySelectorAll('[role="tab"], [role="tablist"]').forEach(function (element) {
      element.removeAttribute("role");
      element.removeAttribute("aria-selected");
      element.removeAttribute("aria-controls");
    });
  }
  new MutationObserver(repair).observe(host, { childList: true, subtree: true });

  window.ReactDOM.createRoot(host).render(
    window.React.createElement(window.GraphiQL, {
      fetcher: fetcher,
      defaultQuery: host.dataset.defaultQuery,
      // Nothing kept in localStorage between visits: another person may sign in here next.
      storage: window.sessionStorage,
    })
  );
})();
