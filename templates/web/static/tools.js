// The supervisor tools: a job's page that has not finished asks the job's status resource
// every two seconds and reloads when the state has moved on (without JavaScript: the Refresh link).
(function () {
  "use strict";
  const polled = document.querySelector("[data-poll]");
  if (!polled) return;
  const url = polled.getAttribute("data-poll");
  const waiting = ["queued", "running"];
  async function ask() {
    try {
      const answer = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (answer.ok && !waiting.includes((await answer.json()).state)) {
        window.location.reload();
        return;
      }
    } catch (error) {
      // a network blip: ask again
    }
    window.setTimeout(ask, 2000);
  }
  window.setTimeout(ask, 2000);
})();
