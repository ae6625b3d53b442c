// Aerie dashboard: auto-refresh of the host page and the logs page's live
// tail. Everything else works without script.
(function () {
  "use strict";
  var body = document.body;
  var refresh = parseInt(body.getAttribute("data-refresh") || "0", 10);
  if (refresh > 0) {
    setTimeout(function () { window.location.reload(); }, refresh);
  }

  var tail = document.getElementById("live-tail");
  if (!tail) { return; }
  var rows = document.getElementById("log-rows");
  var timer = null;
  function newest() {
    var first = rows.querySelector("tr[data-ts]");
    return first ? first.getAttribute("data-ts") : "";
  }
  function cell(text, className) {
    var td = document.createElement("td");
    if (className) { td.className = className; }
    td.textContent = text;
    return td;
  }
  function add(line) {
    var tr = document.createElement("tr");
    tr.setAttribute("data-ts", line.ts);
    tr.className = "fresh level-" + line.level;
    tr.appendChild(cell(line.at, "nowrap"));
    tr.appendChild(cell(line.host));
    tr.appendChild(cell(line.level));
    var td = document.createElement("td");
    var pre = document.createElement("pre");
    pre.textContent = line.message;
    pre.title = line.file;
    td.appendChild(pre);
    tr.appendChild(td);
    rows.insertBefore(tr, rows.firstChild);
  }
  function poll() {
    var url = tail.getAttribute("data-url");
    var after = newest();
    if (after) { url += (url.indexOf("?") < 0 ? "?" : "&") + "after=" + encodeURIComponent(after); }
    fetch(url, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : { lines: [] }; })
      .then(function (data) {
        var lines = data.lines || [];
        for (var i = lines.length - 1; i >= 0; i--) { add(lines[i]); }
        var none = document.getElementById("no-lines");
        if (none && lines.length) { none.remove(); }
      })
      .catch(function () {})
      .then(function () { if (tail.checked) { timer = setTimeout(poll, 2000); } });
  }
  tail.addEventListener("change", function () {
    if (timer) { clearTimeout(timer); timer = null; }
    if (tail.checked) { poll(); }
  });
})();
