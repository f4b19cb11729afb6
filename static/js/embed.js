// Inside an embedded form's frame (/t/<slug>/embed/): tell the page around it how tall
// the content is, so that its listener (embed-parent.js) can size the frame. The
// message goes only to the sites allowed to frame the form (the body's
// data-embed-origins), never to "*": another page framing it learns nothing.
(function () {
  "use strict";
  if (window.parent === window) return;

  document.addEventListener("DOMContentLoaded", function () {
    var origins = (document.body.dataset.embedOrigins || "").split(" ").filter(Boolean);
    // Where the browser says who the parent is (Chromium, Safari), only that origin.
    var ancestors = window.location.ancestorOrigins;
    if (ancestors && ancestors.length) {
      origins = origins.indexOf(ancestors[0]) === -1 ? [] : [ancestors[0]];
    }
    if (!origins.length) return;
    var last = -1;
    var send = function () {
      var height = Math.ceil(document.body.getBoundingClientRect().height);
      if (height === last) return;
      last = height;
      origins.forEach(function (origin) {
        window.parent.postMessage({ type: "promptlab:height", height: height }, origin);
      });
    };
    if (window.ResizeObserver) new ResizeObserver(send).observe(document.body);
    window.addEventListener("load", send);
    send();
  });
})();
