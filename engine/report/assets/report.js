// The report's detections table: sortable, filterable, and drawn a screenful at a time so a
// hundred thousand rows stay responsive. Every value goes into the page as text
// (textContent), never as markup: user names, user agents and evidence are attacker-controlled.
(function () {
  "use strict";
  var source = document.getElementById("detections-data");
  var data = JSON.parse(source.textContent);
  var columns = data.columns;
  var rows = data.rows;
  var ROW = 26;
  var scroller = document.getElementById("table-scroller");
  var spacer = document.getElementById("table-spacer");
  var body = document.getElementById("table-body");
  var count = document.getElementById("table-count");
  var filter = document.getElementById("table-filter");
  var typeSelect = document.getElementById("table-type");
  var levelSelect = document.getElementById("table-level");
  var head = document.getElementById("table-head");
  var view = [];
  var sortColumn = 0;
  var sortDescending = false;
  var levelRank = { low: 1, medium: 2, high: 3 };

  function option(select, value) {
    var o = document.createElement("option");
    o.value = value;
    o.textContent = value;
    select.appendChild(o);
  }
  var types = {};
  rows.forEach(function (r) { types[r[1]] = true; });
  Object.keys(types).sort().forEach(function (t) { option(typeSelect, t); });
  ["high", "medium", "low"].forEach(function (l) { option(levelSelect, l); });

  function compare(a, b) {
    var x = rows[a][sortColumn], y = rows[b][sortColumn];
    if (sortColumn === 2) { x = levelRank[x] || 0; y = levelRank[y] || 0; }
    if (x === y) return a - b;
    if (x === null) return 1;
    if (y === null) return -1;
    var order = x < y ? -1 : 1;
    return sortDescending ? -order : order;
  }

  // Each row's cells lowercased once, the first time a filter needs them.
  var lowered = null;
  function haystack(i) {
    if (lowered === null) {
      lowered = rows.map(function (r) {
        return r.map(function (v) { return v === null ? "" : String(v); }).join("\u0001").toLowerCase();
      });
    }
    return lowered[i];
  }

  function refresh() {
    var needle = filter.value.trim().toLowerCase();
    var type = typeSelect.value, level = levelSelect.value;
    view = [];
    for (var i = 0; i < rows.length; i++) {
      var r = rows[i];
      if (type && r[1] !== type) continue;
      if (level && r[2] !== level) continue;
      if (needle && haystack(i).indexOf(needle) < 0) continue;
      view.push(i);
    }
    view.sort(compare);
    count.textContent = view.length + " of " + rows.length + " detections";
    count.setAttribute("data-shown", String(view.length));
    count.setAttribute("data-total", String(rows.length));
    spacer.style.height = view.length * ROW + "px";
    draw(true);
  }

  var drawn = -1;
  function draw(force) {
    var first = Math.max(0, Math.floor(scroller.scrollTop / ROW) - 5);
    if (!force && first === drawn) return;
    drawn = first;
    var last = Math.min(view.length, first + Math.ceil(scroller.clientHeight / ROW) + 10);
    body.parentNode.style.transform = "translateY(" + first * ROW + "px)";
    var fragment = document.createDocumentFragment();
    for (var k = first; k < last; k++) {
      var r = rows[view[k]];
      var tr = document.createElement("tr");
      tr.className = "level-" + r[2];
      for (var c = 0; c < columns.length; c++) {
        var td = document.createElement("td");
        var text = r[c] === null ? "" : String(r[c]);
        td.textContent = text;
        td.title = text;
        tr.appendChild(td);
      }
      fragment.appendChild(tr);
    }
    body.replaceChildren(fragment);
  }

  columns.forEach(function (name, c) {
    var th = document.createElement("th");
    th.textContent = name;
    th.setAttribute("role", "button");
    th.addEventListener("click", function () {
      sortDescending = sortColumn === c ? !sortDescending : false;
      sortColumn = c;
      Array.prototype.forEach.call(head.children, function (h, k) {
        h.setAttribute("aria-sort", k !== c ? "none" : sortDescending ? "descending" : "ascending");
      });
      refresh();
    });
    head.appendChild(th);
  });

  var pending = 0;
  filter.addEventListener("input", function () {
    clearTimeout(pending);
    pending = setTimeout(refresh, 120);
  });
  typeSelect.addEventListener("change", refresh);
  levelSelect.addEventListener("change", refresh);
  scroller.addEventListener("scroll", function () { draw(false); });
  refresh();
  document.body.setAttribute("data-ready", "true");
})();
