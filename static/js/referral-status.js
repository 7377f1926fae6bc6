// Referral page: keep the status badge current without a reload, and the "Print" button
// (issue 19; static/css/print.css lays the page out on paper). Without this script the
// button stays hidden: the browser's own print still uses the print layout.
(function () {
  "use strict";
  var print = document.getElementById("print-referral");
  if (print && window.print) {
    print.hidden = false;
    print.addEventListener("click", function () { window.print(); });
  }
  var badge = document.getElementById("status");
  if (!badge || !window.fetch) { return; }
  var unit = document.getElementById("assigned-unit");
  var url = badge.dataset.statusUrl;
  function refresh() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        badge.textContent = data.label;
        badge.className = "status status-" + data.status;
        if (unit && data.assigned_unit) { unit.textContent = data.assigned_unit; }
      })
      .catch(function () { /* offline for a moment: try again on the next tick */ });
  }
  window.setInterval(refresh, 15000);
})();
