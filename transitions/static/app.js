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
    liveSeats();
  });
})();
