// Live inbox: new tickets and customer messages arrive as Server-Sent Events. The inbox
// refreshes its list, the ticket page appends the new messages, the tab title counts the
// tickets with news, and (once allowed) a browser notification tells about tickets
// assigned to you. EventSource reconnects by itself and resumes with Last-Event-ID.
// External file because the CSP forbids inline script.
(function () {
  "use strict";
  var box = document.getElementById("live");
  if (!box || !window.EventSource) { return; }
  var userId = Number(box.getAttribute("data-user"));
  var ticketId = Number(box.getAttribute("data-ticket") || 0);
  var status = document.getElementById("live-status");
  var button = document.getElementById("live-notify");
  var baseTitle = document.title;
  var seen = {};  // message ids already handled (a resumed stream may repeat some)
  var news = {};  // ticket ids with news since the tab was last looked at
  var STORE = "supportdesk.live.notify";

  function showCount() {
    var count = Object.keys(news).length;
    document.title = (count ? "(" + count + ") " : "") + baseTitle;
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") { news = {}; showCount(); }
  });

  // --- refresh what the page shows, one request at a time ---------------------------
  var busy = false;
  var again = false;
  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(window.location.href, {
      credentials: "same-origin",
      headers: { "Accept": "text/html" }
    }).then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html) { apply(new DOMParser().parseFromString(html, "text/html")); }
      })
      .catch(function () { /* offline for a moment: the next event refreshes */ })
      .then(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }

  function replace(doc, selector) {
    var fresh = doc.querySelector(selector);
    var old = document.querySelector(selector);
    if (fresh && old) { old.replaceWith(document.importNode(fresh, true)); }
  }

  function apply(doc) {
    if (ticketId) {
      var thread = document.querySelector("ol.thread");
      doc.querySelectorAll("ol.thread > li").forEach(function (item) {
        if (thread && !document.getElementById(item.id)) {
          var added = document.importNode(item, true);
          added.classList.add("live-new");
          thread.appendChild(added);
        }
      });
      // The new messages are on screen now: a reply may be written against them.
      var version = document.querySelector("input[name=thread_version]");
      var freshVersion = doc.querySelector("input[name=thread_version]");
      if (version && freshVersion) { version.value = freshVersion.value; }
      var stale = document.getElementById("stale-live");
      if (stale) { stale.hidden = true; }
      return;
    }
    replace(doc, "#inbox-counts");
    replace(doc, "#inbox-list");
    document.querySelectorAll("#inbox-list tr[data-ticket]").forEach(function (row) {
      if (news[row.getAttribute("data-ticket")]) { row.classList.add("live-new"); }
    });
  }

  // --- notifications for tickets assigned to me ---------------------------------------
  function notifying() {
    return window.Notification && Notification.permission === "granted" &&
      window.localStorage.getItem(STORE) === "1";
  }

  function showButton() {
    if (!button || !window.Notification) { return; }
    if (Notification.permission === "denied") {
      button.hidden = true;
      status.textContent = box.getAttribute("data-notify-blocked");
      return;
    }
    button.hidden = notifying();
    status.textContent = notifying() ? box.getAttribute("data-notify-on") : "";
  }

  if (button) {
    button.addEventListener("click", function () {
      Notification.requestPermission().then(function (answer) {
        if (answer === "granted") { window.localStorage.setItem(STORE, "1"); }
        showButton();
      });
    });
    showButton();
  }

  function notify(kind, item) {
    if (!notifying() || item.assignee_id !== userId) { return; }
    var label = box.getAttribute(kind === "ticket" ? "data-new-ticket" : "data-new-message");
    var shown = new Notification(label + " " + item.reference, {
      body: item.subject,
      tag: "supportdesk-" + item.message_id
    });
    shown.onclick = function () { window.focus(); window.location.href = item.url; };
  }

  // --- the stream -----------------------------------------------------------------------
  function handle(kind) {
    return function (event) {
      var item;
      try { item = JSON.parse(event.data); } catch (e) { return; }
      if (seen[item.message_id]) { return; }
      seen[item.message_id] = true;
      news[item.ticket_id] = true;
      showCount();
      notify(kind, item);
      if (!ticketId || item.ticket_id === ticketId) { refresh(); }
    };
  }

  var source = new EventSource(box.getAttribute("data-url"));
  // Connected (again): what a test or a style can wait on.
  source.onopen = function () { box.dataset.state = "open"; };
  source.onerror = function () { box.dataset.state = "reconnecting"; };
  source.addEventListener("ticket", handle("ticket"));
  source.addEventListener("message", handle("message"));
}());
