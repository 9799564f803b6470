// Live updates: every element with `data-live` (and an id) is refreshed in place from the
// same page, fetched again every few seconds, until the fresh page no longer marks it live
// (its workflows have finished). Nothing else runs on the page.
"use strict";
(function () {
  const EVERY_MS = 2000;
  async function refresh() {
    const live = document.querySelectorAll("[data-live][id]");
    if (live.length === 0) return;
    try {
      const response = await fetch(window.location.href, { credentials: "same-origin", headers: { "X-Farm-Live": "1" } });
      if (response.redirected || !response.ok) return;  // signed out, or gone: stop refreshing
      const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
      for (const element of live) {
        const replacement = fresh.getElementById(element.id);
        if (replacement) element.replaceWith(document.importNode(replacement, true));
      }
    } catch (error) {
      // the server is restarting or the network dropped: try again at the next tick
    }
    setTimeout(refresh, EVERY_MS);
  }
  setTimeout(refresh, EVERY_MS);
})();
