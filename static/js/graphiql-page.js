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
  window.ReactDOM.createRoot(host).render(
    window.React.createElement(window.GraphiQL, {
      fetcher: fetcher,
      defaultQuery: host.dataset.defaultQuery,
      // Nothing kept in localStorage between visits: another person may sign in here next.
      storage: window.sessionStorage,
    })
  );
})();
