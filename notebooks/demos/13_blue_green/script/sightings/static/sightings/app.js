// Bigfoot Sightings: small progressive enhancements, no dependencies.
(function () {
  "use strict";

  // "3 minutes ago" for every <time data-relative datetime="...">.
  var units = [
    ["year", 365 * 24 * 3600],
    ["month", 30 * 24 * 3600],
    ["week", 7 * 24 * 3600],
    ["day", 24 * 3600],
    ["hour", 3600],
    ["minute", 60],
  ];

  function timeAgo(date) {
    var seconds = Math.round((Date.now() - date.getTime()) / 1000);
    var future = seconds < 0;
    seconds = Math.abs(seconds);
    if (seconds < 45) return future ? "in a moment" : "moments ago";  // v2: wording
    for (var i = 0; i < units.length; i++) {
      var count = Math.floor(seconds / units[i][1]);
      if (count >= 1) {
        var label = count + " " + units[i][0] + (count === 1 ? "" : "s");
        return future ? "in " + label : label + " ago";
      }
    }
    return future ? "in a minute" : "1 minute ago";
  }

  function updateTimes() {
    document.querySelectorAll("time[data-relative]").forEach(function (el) {
      var date = new Date(el.getAttribute("datetime"));
      if (isNaN(date.getTime())) return;
      if (!el.title) el.title = el.textContent.trim();
      el.textContent = timeAgo(date);
    });
  }

  // Live character counter under every <textarea data-counter maxlength=N>.
  function addCounters() {
    document.querySelectorAll("textarea[data-counter]").forEach(function (area) {
      var max = parseInt(area.getAttribute("maxlength"), 10);
      var counter = document.createElement("small");
      counter.className = "char-counter";
      counter.setAttribute("aria-live", "polite");
      area.insertAdjacentElement("afterend", counter);
      function update() {
        var used = area.value.length;
        counter.textContent = max ? used + " / " + max : used + " characters";
        counter.classList.toggle("near-limit", max && used > max * 0.9);
      }
      area.addEventListener("input", update);
      update();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    updateTimes();
    addCounters();
    setInterval(updateTimes, 60 * 1000);
  });
})();
