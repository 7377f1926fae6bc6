// The visit form on a phone: it survives a lost signal. What is typed is kept on the phone
// (localStorage, keyed by household and form token) and sent with fetch; if the network
// fails or the portal answers 5xx, the draft stays, a message says so, and it is resent
// when the phone is back online or on "Resend". The token goes with it, so a visit that did
// reach the portal is not recorded twice. Without JavaScript the form posts as usual.
(function () {
  "use strict";
  var HEADER = "X-Visit-Draft";
  var KEEP_DAYS = 14;
  var store = (function () {
    try {
      var probe = "visit-draft-probe";
      window.localStorage.setItem(probe, "1");
      window.localStorage.removeItem(probe);
      return window.localStorage;
    } catch (error) {
      return null;  // private mode or storage off: the form still sends, without a draft
    }
  })();

  function skipped(element) {
    return !element.name || element.name === "csrfmiddlewaretoken" ||
      element.type === "submit" || element.type === "button";
  }

  function init() {
    var form = document.querySelector("form.visit-form");
    if (!form) { return; }
    var base = form.dataset.draftKey;
    var status = document.getElementById("draft-status");
    var resendBox = document.getElementById("draft-resend-box");
    var resend = document.getElementById("draft-resend");
    var sending = false;

    function token() { return form.elements.token ? form.elements.token.value : ""; }
    function key() { return base + ":" + token(); }
    function show(message) { status.textContent = message || ""; status.hidden = !message; }

    function collect() {
      var fields = {};
      Array.prototype.forEach.call(form.elements, function (element) {
        if (skipped(element)) { return; }
        if ((element.type === "checkbox" || element.type === "radio") && !element.checked) {
          return;
        }
        (fields[element.name] = fields[element.name] || []).push(element.value);
      });
      return fields;
    }

    function save() {
      if (!store || !token()) { return; }
      try {
        store.setItem(key(), JSON.stringify({ saved: Date.now(), fields: collect() }));
      } catch (error) { /* storage full: the form still sends */ }
    }

    function clear() {
      if (store) { store.removeItem(key()); }
    }

    function apply(fields) {
      Array.prototype.forEach.call(form.elements, function (element) {
        if (skipped(element)) { return; }
        var values = fields[element.name] || [];
        if (element.type === "checkbox" || element.type === "radio") {
          element.checked = values.indexOf(element.value) !== -1;
        } else {
          element.value = values.length ? values[0] : "";
        }
      });
    }

    // A draft of this household not sent yet (another page load): its token comes back with
    // it, so if it had reached the portal after all, resending it records nothing new.
    function restore() {
      if (!store) { return; }
      var newest = null;
      var names = [];
      for (var index = 0; index < store.length; index += 1) { names.push(store.key(index)); }
      names.forEach(function (name) {
        if (!name || name.indexOf(base + ":") !== 0) { return; }
        try {
          var draft = JSON.parse(store.getItem(name));
          if (Date.now() - draft.saved > KEEP_DAYS * 86400000) {
            store.removeItem(name);  // personal notes do not stay on a phone for ever
          } else if (!newest || draft.saved > newest.saved) {
            newest = draft;
          }
        } catch (error) { store.removeItem(name); }
      });
      if (!newest || !newest.fields.token) { return; }
      if (newest.fields.token[0] === token()) { return; }  // this page is the answer to it
      apply(newest.fields);
      show(form.dataset.msgRestored);
      resendBox.hidden = false;
    }

    function failed(message) {
      save();
      show(message);
      resendBox.hidden = false;
      window.addEventListener("online", send, { once: true });
    }

    // The portal's answer to a form it could not take (a field to fix, the household
    // changed meanwhile): the page it drew, in place of this one, with this script again.
    function replacePage(html) {
      var page = new DOMParser().parseFromString(html, "text/html");
      var main = page.querySelector("main");
      if (!main) { return; }
      document.querySelector("main").replaceWith(document.adoptNode(main));
      if (page.title) { document.title = page.title; }
      init();
      window.scrollTo(0, 0);
    }

    function answered(response) {
      if (response.status >= 500) { failed(form.dataset.msgServer); return null; }
      var type = response.headers.get("Content-Type") || "";
      if (type.indexOf("application/json") !== -1) {
        return response.json().then(function (body) {
          clear();
          window.location.assign(body.location);
        });
      }
      if (response.redirected) {  // signed out meanwhile: the draft waits for the login
        save();
        window.location.assign(response.url);
        return null;
      }
      return response.text().then(replacePage);
    }

    function send() {
      if (sending) { return; }
      sending = true;
      save();
      show(form.dataset.msgSending);
      form.classList.add("is-sending");
      var headers = {};
      headers[HEADER] = "1";
      fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        credentials: "same-origin",
        headers: headers
      }).then(answered, function () {
        failed(form.dataset.msgNotSent);
      }).then(function () {
        sending = false;
        form.classList.remove("is-sending");
      });
    }

    // Only what the outcome calls for: who was seen, needs and a next step after a visit
    // where someone was at home; the date only for a revisit.
    function follow() {
      var outcome = form.querySelector("input[name=outcome]:checked");
      var visited = !outcome || outcome.value === "visited";
      [".seen-section", ".needs-section", ".next-step-section"].forEach(function (selector) {
        var section = form.querySelector(selector);
        if (section) { section.hidden = !visited; }
      });
      var step = form.querySelector("input[name=next_step]:checked");
      var date = document.getElementById("field-revisit_on");
      if (date) { date.hidden = !(visited && step && step.value === "revisit"); }
    }

    form.addEventListener("input", save);
    form.addEventListener("change", function () { follow(); save(); });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      send();
    });
    if (resend) { resend.addEventListener("click", send); }
    restore();
    follow();
  }

  init();
})();
