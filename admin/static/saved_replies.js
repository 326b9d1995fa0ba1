// Ticket page: the saved-reply picker puts the chosen reply, filled in for this ticket by
// the server, into the reply box at the cursor. Without this script the picker's form
// reloads the page with the reply box prefilled (?saved_reply=ID).
// External file because the CSP forbids inline script.
(function () {
  "use strict";
  var picker = document.getElementById("saved-reply-picker");
  if (!picker) { return; }
  var box = document.getElementById(picker.getAttribute("data-target"));
  var select = picker.querySelector("select[name=saved_reply]");
  if (!box || !select) { return; }
  picker.addEventListener("submit", function (event) {
    var option = select.options[select.selectedIndex];
    if (!option) { return; }
    event.preventDefault();
    fetch(option.getAttribute("data-url"), {
      credentials: "same-origin",
      headers: { "Accept": "application/json" }
    }).then(function (r) {
      if (!r.ok) { throw new Error(String(r.status)); }
      return r.json();
    }).then(function (body) {
      var start = box.selectionStart, end = box.selectionEnd;
      box.setRangeText(body.text, start, end, "end");
      box.focus();
    }).catch(function () {
      picker.submit();  // the server-side way: the page comes back with the reply box filled
    });
  });
}());
