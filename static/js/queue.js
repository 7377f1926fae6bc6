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
