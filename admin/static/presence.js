// Ticket page: beat every 20 s (and when the tab regains focus), show who else has the
// ticket open, and warn before a reply is written against an older thread.
// External file because the CSP forbids inline script.
(function () {
  "use strict";
  var box = document.getElementById("presence");
  if (!box) { return; }
  var stale = document.getElementById("stale-live");
  var version = document.querySelector("input[name=thread_version]");
  var url = box.getAttribute("data-url");
  var token = box.getAttribute("data-csrf");
  var label = box.getAttribute("data-label");
  function show(body) {
    var others = body.others || [];
    box.textContent = others.length ? label + " " + others.join(", ") : "";
    box.hidden = others.length === 0;
    if (stale && version && body.thread_version > Number(version.value)) {
      stale.hidden = false;
    }
  }
  function beat() {
    fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": token, "Accept": "application/json" }
    }).then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) { if (body) { show(body); } })
      .catch(function () { /* offline for a moment: the next beat retries */ });
  }
  beat();
  window.setInterval(beat, 20000);
  window.addEventListener("focus", beat);
}());
