// Every page (issue 19): what every form does, after the GOV.UK Design System's patterns.
// - An error summary (templates/includes/form_errors.html) takes the focus when the page
//   loads, so a failed submit is seen and heard at once; its links move the focus to their
//   field (the input, not only the scroll position), with the field's label in view.
// - A form being sent is marked `is-sending` and its submit buttons disabled, so a second
//   tap does nothing; the pressed button's name and value still reach the server (copied
//   into a hidden input, since a disabled button is not sent). Not for forms marked
//   data-no-sending, nor htmx forms (they stay on the page), nor a submit another script
//   cancelled. Coming back to the page (the back button) makes the buttons usable again.
(function () {
  "use strict";

  function focusSummary() {
    var summary = document.querySelector("[data-error-summary]");
    if (!summary) { return; }
    summary.focus();
    summary.scrollIntoView({ block: "start" });
    summary.addEventListener("click", function (event) {
      var link = event.target.closest("a[href^='#']");
      if (!link) { return; }
      var input = document.getElementById(decodeURIComponent(link.hash.slice(1)));
      if (!input) { return; }
      event.preventDefault();
      var box = input.closest(".field") || input;
      box.scrollIntoView({ block: "start" });
      input.focus({ preventScroll: true });
    });
  }

  function buttonsOf(form) {
    var inside = Array.prototype.slice.call(
      form.querySelectorAll("button:not([type=button]):not([type=reset]), input[type=submit]")
    );
    if (form.id) {
      var outside = document.querySelectorAll("[form='" + form.id + "']");
      Array.prototype.forEach.call(outside, function (button) {
        if (button.type === "submit") { inside.push(button); }
      });
    }
    return inside;
  }

  function takesFeedback(form) {
    return !form.hasAttribute("data-no-sending") &&
      !form.hasAttribute("hx-post") && !form.hasAttribute("hx-get") &&
      !form.hasAttribute("data-hx-post") && !form.hasAttribute("data-hx-get") &&
      form.target !== "_blank";
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !takesFeedback(form)) { return; }
    if (form.classList.contains("is-sending")) { event.preventDefault(); return; }
    if (event.defaultPrevented) { return; }
    var submitter = event.submitter;
    if (submitter && submitter.name) {
      var kept = document.createElement("input");
      kept.type = "hidden";
      kept.name = submitter.name;
      kept.value = submitter.value;
      kept.setAttribute("data-submitter", "");
      form.appendChild(kept);
    }
    form.classList.add("is-sending");
    form.setAttribute("aria-busy", "true");
    buttonsOf(form).forEach(function (button) { button.disabled = true; });
  });

  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) { return; }
    document.querySelectorAll("form.is-sending").forEach(function (form) {
      form.classList.remove("is-sending");
      form.removeAttribute("aria-busy");
      form.querySelectorAll("input[data-submitter]").forEach(function (input) { input.remove(); });
      buttonsOf(form).forEach(function (button) { button.disabled = false; });
    });
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", focusSummary);
  } else {
    focusSummary();
  }
})();
