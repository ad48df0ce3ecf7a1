// The ops console's only script (served from /ops/static; the CSP allows nothing inline).
// - auto-refresh: <body data-refresh="N"> reloads the list every N seconds, unless the operator
//   has ticked a row (a reload would lose the selection) or is typing in a field
// - "select all" ticks every row of the page
(function () {
  "use strict";
  function ticked() {
    return document.querySelectorAll("input.row-select:checked").length > 0;
  }
  function typing() {
    var el = document.activeElement;
    return el && (el.tagName === "INPUT" || el.tagName === "SELECT") && el.type !== "checkbox";
  }
  document.addEventListener("DOMContentLoaded", function () {
    var seconds = parseInt(document.body.getAttribute("data-refresh") || "0", 10);
    if (seconds > 0) {
      var tick = function () {
        if (ticked() || typing()) { window.setTimeout(tick, seconds * 1000); return; }
        window.location.reload();
      };
      window.setTimeout(tick, seconds * 1000);
    }
    var all = document.getElementById("select-all");
    if (all) {
      all.addEventListener("change", function () {
        document.querySelectorAll("input.row-select").forEach(function (box) {
          box.checked = all.checked;
        });
      });
    }
  });
})();
