/* Step-down transitions: small progressive enhancements. Every page works without this file. */
(function () {
  "use strict";

  function ready(fn) {
    if (document.readyState !== "loading") { fn(); } else { document.addEventListener("DOMContentLoaded", fn); }
  }

  // Availability grid: quick fills, and click-and-drag to mark a run of hours.
  function availabilityGrid() {
    var grid = document.getElementById("availability-grid");
    if (!grid) { return; }
    var tools = document.querySelector(".grid-tools");
    var boxes = grid.querySelectorAll("input[type=checkbox]");
    function timesMode() {
      var radio = document.querySelector("input[name=availability_mode][value=times]");
      if (radio) { radio.checked = true; }
    }
    if (tools) {
      tools.hidden = false;
      tools.addEventListener("click", function (event) {
        var button = event.target.closest("button");
        if (!button) { return; }
        if (button.hasAttribute("data-fill-clear")) {
          boxes.forEach(function (box) { box.checked = false; });
          return;
        }
        var days = button.getAttribute("data-fill-days").split(",");
        var hours = button.getAttribute("data-fill-hours").split(",");
        days.forEach(function (day) {
          hours.forEach(function (hour) {
            var box = grid.querySelector("input[value='" + day + "-" + hour + "']");
            if (box) { box.checked = true; }
          });
        });
        timesMode();
      });
    }
    var painting = null;
    grid.addEventListener("mousedown", function (event) {
      var box = event.target.closest("td") && event.target.closest("td").querySelector("input");
      if (!box) { return; }
      event.preventDefault();
      painting = !box.checked;
      box.checked = painting;
      timesMode();
    });
    grid.addEventListener("mouseover", function (event) {
      if (painting === null) { return; }
      var cell = event.target.closest("td");
      var box = cell && cell.querySelector("input");
      if (box) { box.checked = painting; }
    });
    document.addEventListener("mouseup", function () { painting = null; });
    // Keyboard and assistive-technology toggles still go through the native checkbox.
    grid.addEventListener("click", function (event) {
      if (event.detail === 0 && event.target.matches("input")) { timesMode(); }
      else if (event.target.matches("input")) { event.preventDefault(); }
    });
    dayButtons(grid, timesMode);
    weekGridKeys(grid, timesMode);
    // The skip link focuses the first control after the grid: following the fragment alone leaves Chromium's next
    // Tab where the link was.
    var skip = document.querySelector(".skip-grid");
    if (skip) {
      skip.addEventListener("click", function (event) {
        var controls = document.querySelectorAll("a[href], button, input, select, textarea");
        var next = Array.prototype.find.call(controls, function (el) {
          return !grid.contains(el) && !el.disabled && el.tabIndex >= 0 && el.offsetParent !== null &&
            (grid.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING);
        });
        if (next) { event.preventDefault(); next.focus(); }
      });
    }
  }

  // The week grid as one Tab stop (a roving tabindex): arrow keys move between hours (and up to the day buttons),
  // Home/End to the row's ends, Space marks (the native checkbox), Shift+arrow marks each hour it moves onto.
  // The fields posted are unchanged.
  function weekGridKeys(grid, timesMode) {
    var rows = Array.prototype.map.call(grid.querySelectorAll("thead tr, tbody tr"), function (row) {
      return Array.prototype.slice.call(row.querySelectorAll("input[type=checkbox], button.day-toggle"));
    });
    if (rows.length < 2) { return; }
    var current = grid.querySelector("tbody input:checked") || rows[1][0];
    var hint = document.getElementById("grid-keys");
    rows.forEach(function (row) {
      row.forEach(function (box) {
        box.tabIndex = box === current ? 0 : -1;
        if (hint && box.matches("input")) { box.setAttribute("aria-describedby", "grid-keys"); }
      });
    });
    function focus(box) {
      current.tabIndex = -1;
      box.tabIndex = 0;
      current = box;
      box.focus();
    }
    var cells = "tbody input, thead button.day-toggle";
    grid.addEventListener("focusin", function (event) {
      if (event.target.matches(cells) && event.target !== current) { focus(event.target); }
    });
    grid.addEventListener("keydown", function (event) {
      if (!event.target.matches(cells)) { return; }
      var r = -1, c = -1;
      rows.some(function (row, index) { c = row.indexOf(event.target); r = index; return c !== -1; });
      if (c === -1) { return; }
      var moves = {ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1]};
      var next = null;
      if (moves[event.key]) {
        var nr = Math.min(rows.length - 1, Math.max(0, r + moves[event.key][0]));
        var nc = Math.min(rows[nr].length - 1, Math.max(0, c + moves[event.key][1]));
        next = rows[nr][nc];
      } else if (event.key === "Home") { next = rows[r][0]; }
      else if (event.key === "End") { next = rows[r][rows[r].length - 1]; }
      if (!next) { return; }
      event.preventDefault();
      if (event.shiftKey && moves[event.key] && event.target.matches("input") && next.matches("input")) {
        event.target.checked = true;
        next.checked = true;
        timesMode();
        grid.dispatchEvent(new Event("change"));
      }
      focus(next);
    });
  }

  // Each day's heading becomes a button: it clears the day when any hour of it is marked, or else marks the hours
  // marked on the other days (so "Weekday evenings" then "Fri" leaves Monday to Thursday evenings).
  function dayButtons(grid, timesMode) {
    grid.querySelectorAll("thead th[data-day]").forEach(function (heading) {
      var day = heading.getAttribute("data-day");
      var name = heading.textContent.trim();
      var button = document.createElement("button");
      button.type = "button";
      button.className = "day-toggle";
      button.textContent = name;
      function boxes() { return grid.querySelectorAll("tbody input[value^='" + day + "-']"); }
      function marked() { return Array.prototype.some.call(boxes(), function (box) { return box.checked; }); }
      function label() {
        button.setAttribute("aria-pressed", marked() ? "true" : "false");
        button.title = marked() ? "Clear " + name : "Mark the other days' hours on " + name;
      }
      button.addEventListener("click", function () {
        if (marked()) {
          boxes().forEach(function (box) { box.checked = false; });
        } else {
          var hours = {};
          grid.querySelectorAll("tbody input:checked").forEach(function (box) { hours[box.value.split("-")[1]] = true; });
          boxes().forEach(function (box) { if (hours[box.value.split("-")[1]]) { box.checked = true; } });
          timesMode();
        }
        grid.dispatchEvent(new Event("change"));
      });
      grid.addEventListener("change", label);
      heading.textContent = "";
      heading.appendChild(button);
      label();
    });
    var tools = document.querySelector(".grid-tools");
    if (tools) { tools.addEventListener("click", function () { grid.dispatchEvent(new Event("change")); }); }
  }

  // Notes: how many characters are left, beside the field; a form too large for the server is stopped here, with
  // everything typed still on the page.
  function notesCounter() {
    document.querySelectorAll("[data-count-for]").forEach(function (counter) {
      var field = document.getElementById(counter.getAttribute("data-count-for"));
      var max = parseInt(field.getAttribute("maxlength"), 10);
      var last = null;
      function update() {
        var left = max - field.value.length;
        // Said aloud only at the thresholds, not on every key.
        var text = left <= 0 ? "No characters left." : left + " characters left.";
        counter.textContent = text;
        var band = left <= 0 ? 0 : left <= 100 ? 1 : 2;
        counter.setAttribute("aria-live", band === last ? "off" : "polite");
        last = band;
      }
      field.addEventListener("input", update);
      update();
    });
    document.querySelectorAll("form[data-max-body]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        var size = new Blob([new URLSearchParams(new FormData(form)).toString()]).size;
        if (size <= parseInt(form.getAttribute("data-max-body"), 10)) { return; }
        event.preventDefault();
        event.stopImmediatePropagation();
        var note = document.getElementById("too-large") || document.createElement("div");
        note.id = "too-large";
        note.className = "notice notice-error";
        note.setAttribute("role", "alert");
        note.tabIndex = -1;
        note.textContent = "The form is too large to send: shorten the notes (at most " +
          (form.getAttribute("data-notes-max") || "5000") + " characters). Nothing was lost.";
        form.parentNode.insertBefore(note, form);
        note.focus();
      }, true);
    });
  }

  // ICD-10-CM search: results from the app's own endpoint; "Add" appends the code to the diagnoses field.
  function icdSearch() {
    var box = document.querySelector(".icd-search");
    if (!box) { return; }
    box.hidden = false;
    var query = box.querySelector("input[type=search]");
    var list = box.querySelector(".icd-results");
    var status = box.querySelector("[aria-live]");
    var target = document.getElementById(box.getAttribute("data-target"));
    var timer = null;
    var latest = 0;
    function add(code) {
      var codes = target.value.split(/[\s,;]+/).filter(Boolean);
      if (codes.indexOf(code) === -1) { codes.push(code); }
      target.value = codes.join(", ");
      status.textContent = code + " added to the diagnoses.";
    }
    function show(items) {
      list.innerHTML = "";
      items.forEach(function (item) {
        var li = document.createElement("li");
        var button = document.createElement("button");
        button.type = "button";
        button.className = "button secondary small";
        button.textContent = "Add";
        button.setAttribute("aria-label", "Add " + item.code + ", " + item.description);
        button.addEventListener("click", function () { add(item.code); });
        var text = document.createElement("span");
        text.innerHTML = "";
        var code = document.createElement("code");
        code.textContent = item.code;
        text.appendChild(code);
        text.appendChild(document.createTextNode(" " + item.description));
        li.appendChild(button);
        li.appendChild(text);
        list.appendChild(li);
      });
      status.textContent = items.length ? items.length + " codes found." : "No billable code matches.";
    }
    query.addEventListener("input", function () {
      clearTimeout(timer);
      var q = query.value.trim();
      if (q.length < 2) { list.innerHTML = ""; return; }
      timer = setTimeout(function () {
        var ticket = ++latest;
        fetch(box.getAttribute("data-endpoint") + "?q=" + encodeURIComponent(q), {credentials: "same-origin"})
          .then(function (response) { return response.ok ? response.json() : {items: []}; })
          .then(function (body) { if (ticket === latest) { show(body.items || []); } })
          .catch(function () { status.textContent = "The code search is unavailable."; });
      }, 200);
    });
    query.addEventListener("keydown", function (event) {
      if (event.key === "Enter") { event.preventDefault(); }
    });
  }

  // Offers: never more boxes ticked than the referral has free offer slots.
  function offerLimit() {
    var form = document.getElementById("offer-form");
    if (!form) { return; }
    var max = parseInt(form.getAttribute("data-max-select"), 10) || 0;
    var boxes = form.querySelectorAll("input[name=track_id]");
    function update() {
      var ticked = Array.prototype.filter.call(boxes, function (box) { return box.checked; }).length;
      boxes.forEach(function (box) { box.disabled = !box.checked && ticked >= max; });
    }
    boxes.forEach(function (box) { box.addEventListener("change", update); });
    update();
  }

  // Programs: refresh the seat counts every 20 seconds while the page is open.
  function liveSeats() {
    var table = document.getElementById("seat-table");
    if (!table) { return; }
    var status = document.getElementById("seat-status");
    function refresh() {
      fetch(table.getAttribute("data-endpoint"), {credentials: "same-origin"})
        .then(function (response) {
          // Signed out meanwhile: reload, so the page shows the sign-in form and why.
          if (response.redirected) { window.location.reload(); throw new Error("signed out"); }
          if (!response.ok) { throw new Error(); }
          return response.json();
        })
        .then(function (seats) {
          Object.keys(seats).forEach(function (trackId) {
            var row = table.querySelector("tr[data-track='" + trackId + "']");
            if (!row) { return; }
            ["capacity", "occupied", "held", "open"].forEach(function (key) {
              var cell = row.querySelector("[data-seat=" + key + "]");
              if (cell) { cell.textContent = seats[trackId][key]; }
            });
            var open = row.querySelector("[data-seat=open]");
            if (open) { open.classList.toggle("seats-none", seats[trackId].open <= 0); }
          });
          if (status) { status.textContent = "Seats updated " + new Date().toLocaleTimeString() + "."; }
        })
        .catch(function () { if (status) { status.textContent = "Seat counts could not be refreshed."; } });
    }
    setInterval(refresh, 20000);
  }

  // A second click on a submit button while the page is on its way would post the form twice.
  function submitOnce() {
    document.addEventListener("submit", function (event) {
      var form = event.target;
      if (form.method.toLowerCase() !== "post") { return; }
      setTimeout(function () {
        form.querySelectorAll("button[type=submit]").forEach(function (button) { button.disabled = true; });
      }, 0);
    });
    // Coming back to a page from the history: its buttons work again.
    window.addEventListener("pageshow", function (event) {
      if (event.persisted) {
        document.querySelectorAll("button[type=submit]").forEach(function (button) { button.disabled = false; });
      }
    });
  }

  ready(function () {
    submitOnce();
    availabilityGrid();
    icdSearch();
    offerLimit();
    notesCounter();
    liveSeats();
  });
})();
