// The task pages without this file: every field shown, every form posts. With it: the promise's
// amount and date appear only when the visit's outcome is a promise (and are required then).
(function () {
  "use strict";
  var choices = document.querySelector("[data-promise-toggle]");
  var fields = document.querySelector("[data-promise-fields]");
  if (!choices || !fields) return;
  function update() {
    var chosen = choices.querySelector("input[name=outcome]:checked");
    var promised = !!chosen && chosen.value === "promise";
    fields.hidden = !promised;
    fields.querySelectorAll("input").forEach(function (input) { input.required = promised; });
  }
  choices.addEventListener("change", update);
  update();
})();
