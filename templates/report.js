// hardbox HTML report: filter, sort and page the tables. Vanilla JS, no requests. Inlined
// into the report at render time; must not contain a closing-tag sequence (html.py refuses
// one). Only the first PAGE matching rows of a table are displayed (more on request): the
// filter itself is a string search over cached row text, and the browser lays out a few
// hundred rows however many thousand the image has.
(function () {
  "use strict";
  var PAGE = 250;

  function setup(controls) {
    var table = document.getElementById(controls.getAttribute("data-table"));
    if (!table || !table.tBodies.length) { return; }
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    // Lower-cased row text, computed once.
    var texts = rows.map(function (r) { return r.textContent.toLowerCase(); });
    // A row's severity for the filter; "unrated" picks the rows whose advisory gave none
    // (they are medium too, as the counts are).
    var sevs = rows.map(function (r) { return r.getAttribute("data-sev") || ""; });
    var unrated = rows.map(function (r) { return r.hasAttribute("data-unrated"); });
    // What each row shows now: "" (shown), "hidden" (filtered out) or "paged" (past the page).
    var states = rows.map(function (r) {
      return r.classList.contains("paged") ? "paged" : "";
    });
    var input = controls.querySelector(".filter");
    var select = controls.querySelector(".sev-filter");
    var shown = controls.querySelector(".shown");
    var limit = PAGE;
    var pending = 0;
    var pager = makePager();

    function makePager() {
      var div = document.createElement("div");
      div.className = "pager";
      var more = document.createElement("button");
      more.type = "button";
      more.className = "more";
      more.addEventListener("click", function () { limit += PAGE; apply(); });
      var all = document.createElement("button");
      all.type = "button";
      all.className = "all";
      all.textContent = "Show all";
      all.addEventListener("click", function () { limit = Infinity; apply(); });
      div.appendChild(more);
      div.appendChild(all);
      var holder = table.parentNode;
      holder.parentNode.insertBefore(div, holder.nextSibling);
      return { div: div, more: more };
    }

    function setState(i, state) {
      if (states[i] === state) { return; }  // touch only rows that change
      if (states[i]) { rows[i].classList.remove(states[i]); }
      if (state) { rows[i].classList.add(state); }
      states[i] = state;
    }

    function apply() {
      pending = 0;
      var words = (input.value || "").toLowerCase().split(/\s+/).filter(Boolean);
      var sev = select ? select.value : "";
      var matching = 0;
      for (var i = 0; i < rows.length; i++) {
        var ok = !sev || (sev === "unrated" ? unrated[i] : sevs[i] === sev);
        for (var w = 0; ok && w < words.length; w++) {
          ok = texts[i].indexOf(words[w]) !== -1;
        }
        if (ok) { matching++; }
        setState(i, !ok ? "hidden" : matching > limit ? "paged" : "");
      }
      var displayed = Math.min(matching, limit);
      if (rows.length) {
        shown.textContent = displayed < matching
          ? "showing " + displayed + " of " + matching + " matching (" + rows.length + " rows)"
          : matching + " of " + rows.length + " shown";
      }
      var rest = matching - displayed;
      pager.div.hidden = rest <= 0;
      pager.more.textContent = "Show " + Math.min(rest, PAGE) + " more";
    }

    function schedule() {
      if (!pending) { pending = window.requestAnimationFrame(apply); }
    }

    input.addEventListener("input", function () { limit = PAGE; schedule(); });
    if (select) { select.addEventListener("change", function () { limit = PAGE; apply(); }); }
    apply();

    var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
    heads.forEach(function (th, col) {
      var button = th.querySelector("button");
      if (!button) { return; }
      button.addEventListener("click", function () {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        sortRows(col, th.getAttribute("data-type") === "num", ascending);
        apply();
      });
    });

    function key(row, col, numeric) {
      var cell = row.cells[col];
      var raw = cell.hasAttribute("data-v") ? cell.getAttribute("data-v") : cell.textContent;
      if (numeric) {
        var n = parseFloat(raw);
        return isNaN(n) ? -Infinity : n;
      }
      return raw.trim().toLowerCase();
    }

    function sortRows(col, numeric, ascending) {
      var order = rows.map(function (r, i) { return { row: r, key: key(r, col, numeric), i: i }; });
      order.sort(function (a, b) {
        var c = a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
        return (ascending ? c : -c) || a.i - b.i;
      });
      var fragment = document.createDocumentFragment();
      order.forEach(function (o) { fragment.appendChild(o.row); });
      body.appendChild(fragment);
      rows = order.map(function (o) { return o.row; });
      texts = order.map(function (o) { return texts[o.i]; });
      sevs = order.map(function (o) { return sevs[o.i]; });
      unrated = order.map(function (o) { return unrated[o.i]; });
      states = order.map(function (o) { return states[o.i]; });
    }
  }

  Array.prototype.forEach.call(document.querySelectorAll(".controls[data-table]"), setup);

  // On paper every finding's detail and fix should show: open the collapsed rows for printing.
  window.addEventListener("beforeprint", function () {
    Array.prototype.forEach.call(document.querySelectorAll("details"), function (d) {
      d.open = true;
    });
  });
})();
