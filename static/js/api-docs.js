/* The API docs page (templates/api_docs/swagger_ui.html): Swagger UI, made accessible.
 *
 * Loaded after Swagger UI's bundle and before drf-spectacular's start-up script, it wraps
 * SwaggerUIBundle so that the page Swagger draws has (axe-core, tests/e2e/test_accessibility.py):
 *  - every part in a landmark: the API's title in a banner, the Authorize button in a named
 *    region, the schemas in an <aside>; Swagger's own <main id="operations"> is the page's main;
 *  - headings in order: a level-two heading over the operations (Swagger's tags are level three);
 *  - no link inside a button: deep links off (each operation's summary is a button, and its
 *    deep link an <a> inside it).
 * The page is in English, as the API's schema and Swagger UI's own labels are.
 */
(function () {
  "use strict";
  const original = window.SwaggerUIBundle;
  if (typeof original !== "function") {
    return;
  }

  function wrapIn(tag, attributes, before) {
    return function (Original, system) {
      const h = system.React.createElement;
      return function (props) {
        return h(tag, attributes, before ? before(h) : null, h(Original, props));
      };
    };
  }

  function landmarks() {
    return {
      wrapComponents: {
        InfoContainer: wrapIn("div", { role: "banner" }),
        AuthorizeBtnContainer: wrapIn("div", { role: "region", "aria-label": "Authorisation" }),
        operations: wrapIn("div", { className: "api-docs-operations" }, function (h) {
          return h("h2", { className: "api-docs-hidden" }, "Operations");
        }),
        Models: wrapIn("aside", { "aria-label": "Schemas" }),
      },
    };
  }

  function accessibleSwaggerUIBundle(options) {
    return original(
      Object.assign({}, options, {
        deepLinking: false,
        plugins: (options.plugins || []).concat([landmarks]),
      }),
    );
  }
  Object.assign(accessibleSwaggerUIBundle, original);
  window.SwaggerUIBundle = accessibleSwaggerUIBundle;
})();
