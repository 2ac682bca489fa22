// Live refresh: every few seconds the page is fetched again and its <main> swapped in,
// unless the operator is in the middle of something (a box ticked, a field being typed in).
// Without JavaScript the pages work the same; reload to refresh.
(function () {
  var every = 5000;
  var live = document.getElementById("live");
  function busy() {
    var active = document.activeElement;
    if (active && (active.tagName === "INPUT" || active.tagName === "TEXTAREA")) return true;
    return document.querySelector("main input[type=checkbox]:checked") !== null;
  }
  function refresh() {
    if (busy() || document.hidden) return;
    fetch(window.location.href, { credentials: "same-origin", headers: { "X-Console-Refresh": "1" } })
      .then(function (r) {
        if (r.redirected || !r.ok) throw new Error("status " + r.status);
        return r.text();
      })
      .then(function (text) {
        var next = new DOMParser().parseFromString(text, "text/html").querySelector("main");
        if (next && !busy()) document.querySelector("main").replaceWith(next);
        if (live) live.textContent = "live: updated " + new Date().toLocaleTimeString();
      })
      .catch(function (e) {
        if (live) live.textContent = "live refresh paused (" + e.message + "); reload the page";
      });
  }
  if (live) live.textContent = "live: refreshes every " + every / 1000 + " s";
  setInterval(refresh, every);
})();
