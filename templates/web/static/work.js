// The workspace and the account page without the mouse: Enter submits a form from any of its
// fields (Shift+Enter: a new line in a note), a form's button is disabled once it is sent (a
// double press sends once), and the timeline's "older" link appends the older items in place.
// Everything works without this file: plain forms and links.
(function () {
  "use strict";

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Enter" || event.shiftKey || event.ctrlKey || event.altKey || event.metaKey) return;
    var field = event.target;
    var form = field && field.form;
    if (!form || !form.hasAttribute("data-enter-submits")) return;
    var tag = field.tagName;
    if (tag !== "SELECT" && tag !== "TEXTAREA") return; // inputs submit on Enter by themselves
    event.preventDefault();
    if (form.requestSubmit) form.requestSubmit(); else form.submit();
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (event.defaultPrevented || (form.method || "").toLowerCase() !== "post") return;
    window.setTimeout(function () {
      form.querySelectorAll("button[type=submit]").forEach(function (button) { button.disabled = true; });
    }, 0);
  });

  // Back to a page the browser kept: its buttons work again.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) return;
    document.querySelectorAll("form button[type=submit][disabled]").forEach(function (button) {
      button.disabled = false;
    });
  });

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[data-more]");
    if (!link || !window.fetch || !window.DOMParser) return;
    event.preventDefault();
    var holder = link.closest("[data-timeline-more]");
    fetch(link.href + "&partial=1", { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.text();
      })
      .then(function (html) {
        var page = new DOMParser().parseFromString(html, "text/html");
        var list = page.querySelector("[data-timeline]");
        var more = page.querySelector("[data-timeline-more]");
        var first = list && list.querySelector("li");
        if (list) holder.parentNode.insertBefore(list, holder);
        if (more) holder.parentNode.insertBefore(more, holder);
        holder.remove();
        if (first) { first.setAttribute("tabindex", "-1"); first.focus(); }
      })
      .catch(function () { window.location.href = link.href; });
  });

  // A part of the page read on its own (the contact panel's live states): loaded into its
  // place; its link stays when it cannot be.
  document.querySelectorAll("[data-fragment]").forEach(function (holder) {
    if (!window.fetch) return;
    fetch(holder.getAttribute("data-fragment"), { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.text();
      })
      .then(function (html) {
        var part = new DOMParser().parseFromString(html, "text/html").body.firstElementChild;
        if (!part) return;
        holder.replaceWith(part);
        if (window.location.hash === "#contact") part.scrollIntoView();
      })
      .catch(function () { /* the link to the panel's own page stays */ });
  });
})();
