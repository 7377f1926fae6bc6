// The review queue (issue 19). No inline script: the Content-Security-Policy forbids it.

// Keep the queue's address short and shareable: filters left empty are not sent (so they
// do not appear in the URL htmx pushes); the page is not reloaded for a filter change.
document.body.addEventListener("htmx:configRequest", (event) => {
  const params = event.detail.parameters;
  for (const name of Object.keys(params)) {
    if (params[name] === "") {
      delete params[name];
    }
  }
});

// "Select every referral on this page": the header's check box ticks every row's box of
// the form it names (data-select-all="bulk"), and follows the rows (ticked when all are,
// half when some are). Listeners sit on the document, so rows htmx swaps in work too.
function rowBoxes(formId) {
  return Array.from(
    document.querySelectorAll(`input[type=checkbox][name=selected][form="${formId}"]`),
  );
}

function showSelection(formId) {
  const boxes = rowBoxes(formId);
  const ticked = boxes.filter((box) => box.checked).length;
  const all = document.querySelector(`input[data-select-all="${formId}"]`);
  if (all) {
    all.checked = boxes.length > 0 && ticked === boxes.length;
    all.indeterminate = ticked > 0 && ticked < boxes.length;
  }
  const count = document.getElementById("selected-count");
  if (count) {
    count.textContent = ticked
      ? count.dataset.some.replace("%(count)s", String(ticked))
      : count.dataset.none;
  }
}

document.addEventListener("change", (event) => {
  const box = event.target;
  if (!(box instanceof HTMLInputElement) || box.type !== "checkbox") {
    return;
  }
  const formId = box.dataset.selectAll;
  if (formId) {
    for (const row of rowBoxes(formId)) {
      row.checked = box.checked;
    }
    showSelection(formId);
  } else if (box.name === "selected" && box.getAttribute("form")) {
    showSelection(box.getAttribute("form"));
  }
});

document.body.addEventListener("htmx:afterSettle", () => showSelection("bulk"));
