// Referral form: the sub-district and institution lists follow the district; the consent
// basis reveals the details it asks for.
(function () {
  "use strict";
  var form = document.querySelector("form.referral-form");
  if (!form) { return; }

  var district = form.querySelector("select[name=district]");
  var narrowed = ["sub_district", "institution"].map(function (name) {
    return form.querySelector("select[name=" + name + "]");
  }).filter(Boolean);
  function followDistrict() {
    if (!district) { return; }
    var chosen = district.value;
    narrowed.forEach(function (select) {
      Array.prototype.forEach.call(select.options, function (option) {
        var belongs = !option.dataset.district || option.dataset.district === chosen;
        option.hidden = !belongs;
        option.disabled = !belongs;
      });
      var current = select.selectedOptions[0];
      if (current && current.disabled) { select.value = ""; }
    });
  }
  if (district) { district.addEventListener("change", followDistrict); followDistrict(); }

  // Conditional reveal (GOV.UK): the consent basis shows the details it calls for, on load
  // and on change; without the script every field shows and the server checks them.
  var consentFields = ["consent_given_by", "consent_method", "consent_given_at"];
  function followConsent() {
    var basis = form.querySelector("input[name=consent_basis]:checked");
    var exempt = Boolean(basis && basis.value === "urgent_protection");
    consentFields.forEach(function (name) {
      var box = document.getElementById("field-" + name);
      if (box) { box.hidden = exempt; }
    });
    var reason = document.getElementById("field-consent_exemption_reason");
    if (reason) { reason.hidden = !exempt; }
  }
  form.querySelectorAll("input[name=consent_basis]").forEach(function (input) {
    input.setAttribute("aria-controls", input.value === "urgent_protection" ?
      "field-consent_exemption_reason" : consentFields.map(function (name) {
        return "field-" + name;
      }).join(" "));
    input.addEventListener("change", followConsent);
  });
  followConsent();
  // Sending once (is-sending, buttons disabled) is static/js/forms.js's, for every form.
})();
