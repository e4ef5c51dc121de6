// Arrears' pages work without this file; it adds keyboard shortcuts, the language switch on
// change, and confirmation of irreversible actions. No inline script: the CSP allows only 'self'.
(function () {
  "use strict";

  function typing(target) {
    var tag = target && target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }

  function shortcut(event) {
    var key = event.key;
    if (event.shiftKey && key.length === 1 && key !== "?" && key.toUpperCase() === key) {
      key = "Shift+" + key;
    }
    return key;
  }

  // Every element with aria-keyshortcuts is its own shortcut: a link or button is clicked, a
  // field is focused. The attribute is also what a screen reader announces.
  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Escape" && typing(event.target)) { event.target.blur(); return; }
    if (typing(event.target)) return;
    var key = shortcut(event);
    var found = null;
    document.querySelectorAll("[aria-keyshortcuts]").forEach(function (element) {
      if (!found && element.getAttribute("aria-keyshortcuts").split(" ").indexOf(key) >= 0 && element.offsetParent !== null) {
        found = element;
      }
    });
    if (!found) return;
    event.preventDefault();
    var tag = found.tagName;
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT") {
      found.focus();
      if (found.scrollIntoView) found.scrollIntoView({ block: "center" });
    } else if (tag === "DETAILS") {
      found.open = true;
      var first = found.querySelector("input:not([type=hidden]), select, textarea, button");
      if (first) first.focus();
    } else {
      found.click();
    }
  });

  document.addEventListener("change", function (event) {
    if (event.target.hasAttribute && event.target.hasAttribute("data-autosubmit")) {
      event.target.form.submit();
    }
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });

  var help = document.querySelector("[data-shortcuts-help]");
  var dialog = document.getElementById("shortcuts-dialog");
  if (help && dialog && dialog.showModal) {
    help.addEventListener("click", function () {
      var list = document.getElementById("shortcuts-list");
      list.textContent = "";
      document.querySelectorAll("[aria-keyshortcuts]").forEach(function (element) {
        if (element === help || element.offsetParent === null) return;
        var row = document.createElement("tr");
        var key = document.createElement("td");
        var kbd = document.createElement("kbd");
        kbd.textContent = element.getAttribute("aria-keyshortcuts");
        key.appendChild(kbd);
        var what = document.createElement("td");
        what.textContent = element.getAttribute("aria-label") || element.textContent.trim() || element.getAttribute("name");
        row.appendChild(key);
        row.appendChild(what);
        list.appendChild(row);
      });
      dialog.showModal();
    });
  }
})();
