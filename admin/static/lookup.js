// Inputs that ask for an id (data-lookup="<JSON route>", list="<datalist id>"): while the
// agent types a name, number or reference, the datalist offers matching rows; choosing
// one puts its id in the input. The form still sends the id and the server checks it.
// External file because the CSP forbids inline script.
(function () {
  "use strict";
  var DELAY_MS = 200;
  function attach(input) {
    var list = document.getElementById(input.getAttribute("list"));
    var url = input.getAttribute("data-lookup");
    if (!list || !url) { return; }
    var timer = null;
    var asked = "";
    function fill(results) {
      list.textContent = "";
      results.forEach(function (item) {
        var option = document.createElement("option");
        option.value = String(item.id);
        option.label = item.label;
        option.textContent = item.label;
        list.appendChild(option);
      });
    }
    function ask() {
      var query = input.value.trim();
      if (query.length < 2 || query === asked) { return; }
      asked = query;
      fetch(url + "?q=" + encodeURIComponent(query), {
        credentials: "same-origin",
        headers: { "Accept": "application/json" }
      }).then(function (r) { return r.ok ? r.json() : { results: [] }; })
        .then(function (body) { if (input.value.trim() === query) { fill(body.results); } })
        .catch(function () { /* no suggestions this time: typing the id still works */ });
    }
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(ask, DELAY_MS);
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll("input[data-lookup]"), attach);
}());
