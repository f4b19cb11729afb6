// PromptLab's optional listener for a page that embeds a form:
//   <iframe src="https://…/t/<slug>/embed/" data-promptlab-embed …></iframe>
//   <script src="https://…/static/js/embed-parent.js" async></script>
// Each such frame takes the height its content reports. A message counts only when it
// comes from that frame's own window and origin.
(function () {
  "use strict";
  var MAX_HEIGHT = 20000;

  window.addEventListener("message", function (event) {
    var data = event.data;
    if (!data || data.type !== "promptlab:height" || typeof data.height !== "number") return;
    var frames = document.querySelectorAll("iframe[data-promptlab-embed]");
    for (var i = 0; i < frames.length; i++) {
      var frame = frames[i];
      if (frame.contentWindow !== event.source) continue;
      var origin;
      try {
        origin = new URL(frame.src, window.location.href).origin;
      } catch (error) {
        return;
      }
      if (event.origin !== origin) return;
      frame.style.height = Math.max(0, Math.min(Math.ceil(data.height), MAX_HEIGHT)) + "px";
      return;
    }
  });
})();
