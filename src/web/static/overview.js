// The overview refreshes itself: its section is fetched again (rendered by the
// server, like the first time) when an event arrives, at most every second,
// and every 5 s anyway for progress and ETA.
(function () {
  "use strict";
  let due = false, busy = false;
  async function refresh() {
    if (busy) { due = true; return; }
    busy = true; due = false;
    try {
      const r = await fetch(location.pathname, { headers: { Accept: "text/html" } });
      if (r.ok) {
        const doc = new DOMParser().parseFromString(await r.text(), "text/html");
        const fresh = doc.getElementById("live");
        if (fresh) document.getElementById("live").replaceWith(fresh);
      }
    } catch (e) { /* the server restarts: try again next time */ }
    busy = false;
    if (due) setTimeout(refresh, 1000);
  }
  const events = new EventSource("/api/v1/events");
  events.onmessage = function () { if (!due) { due = true; setTimeout(() => { due = false; refresh(); }, 1000); } };
  setInterval(refresh, 5000);
})();
