"""Referrals filed by a partner system: ``POST /api/v1/referrals/`` with an Idempotency-Key,
checked by the referral form's own rules (``submission_errors``) and routed as the form's
are."""

import threading
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from referrals.models import AccessLog, ApiIntake, Referral, ReferralEvent, Status
from tests import factories
from tests.referrals.conftest import form_data
from tests.referrals.partners import bearer, partner_client, token_for

pytestmark = pytest.mark.django_db

URL = "/api/v1/referrals/"
CONSENT_AT = (timezone.now() - timedelta(hours=1)).replace(second=0, microsecond=0).isoformat()


def body(ssp_area, **overrides) -> dict:
    """The hospital liaison case from the seeds: a carer admitted, her husband alone."""
    data = {
        "district": ssp_area.district.code,
        "sub_district": ssp_area.code,
        "subject_name_zh": "陳大文",
        "subject_name_en": "Chan Tai Man",
        "sex": "male",
        "age": 81,
        "phone": "+852 6123 4567",
        "address": "Room 5, 12/F, Synthetic House, Sham Shui Po",
        "id_type": "hkid",
        "id_number": "G123456(A)",
        "household": "elderly_couple",
        "needs": ["child_family"],
        "risk_factors": ["carer_hospitalised"],
        "situation": "His wife and carer was admitted to hospital today; he is alone at home.",
        "consent_basis": "consent",
        "consent_given_by": "subject",
        "consent_method": "verbal",
        "consent_given_at": CONSENT_AT,
        "referrer_contact": "Medical social worker, ward 7B",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


@pytest.fixture
def liaison(ifsc_unit):
    """A partner system allowed to file referrals, as its organisation's liaison team."""
    team = factories.ServiceUnitFactory(code="liaison-team", organisation=ifsc_unit.organisation)
    return partner_client(
        ifsc_unit.organisation, scopes=("referrals:read", "referrals:write"), intake_team=team
    )


@pytest.fixture
def liaison_token(client, liaison):
    return token_for(client, liaison, scope="referrals:read referrals:write")


def post(client, token, data, key="case-0001", **headers):
    if key is not None:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    return client.post(URL, data, content_type="application/json", **bearer(token), **headers)


def test_a_partner_files_a_referral_that_is_routed_like_the_forms(
    client, liaison, liaison_token, ssp_area, ifsc_unit, eager_tasks,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, liaison_token, body(ssp_area))

    assert response.status_code == 201, response.content
    referral = Referral.objects.get()
    answer = response.json()
    assert answer["reference"] == referral.reference and answer["status"] == "submitted"
    assert response["Location"].endswith(f"/api/v1/referrals/{referral.reference}/")
    assert response["ETag"] == f'"{answer["version"]}"'
    assert "Idempotent-Replayed" not in response
    assert referral.referring_team.code == "liaison-team"
    assert referral.referrer.username == f"api-client-{liaison.partner.pk}"
    assert not referral.referrer.is_active and not referral.referrer.has_usable_password()
    assert referral.id_number_masked == "G12****(*)"
    assert "G123456" not in referral.id_number_encrypted
    assert referral.risk_level == "urgent"
    assert list(referral.needs.values_list("code", flat=True)) == ["child_family"]
    assert ApiIntake.objects.get().referral == referral

    referral.refresh_from_db()
    assert referral.status == Status.ASSIGNED and referral.assigned_unit == ifsc_unit
    assert ReferralEvent.objects.filter(referral=referral, kind="routing").count() == 1

    detail = client.get(response["Location"], **bearer(liaison_token))
    assert detail.status_code == 200 and detail.json()["unit"] == ifsc_unit.code


def test_the_same_key_and_body_again_gives_back_the_same_referral(client, liaison_token, ssp_area):
    first = post(client, liaison_token, body(ssp_area))
    again = post(client, liaison_token, body(ssp_area))

    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["reference"] == first.json()["reference"]
    assert Referral.objects.count() == 1
    assert ReferralEvent.objects.filter(to_status="submitted").count() == 1


def test_the_same_key_with_another_body_is_refused_and_changes_nothing(
    client, liaison_token, ssp_area
):
    post(client, liaison_token, body(ssp_area))
    before = Referral.objects.get()

    response = post(client, liaison_token, body(ssp_area, subject_name_en="Someone Else"))

    assert response.status_code == 422
    assert response.json()["error"] == "idempotency_key_reused"
    assert Referral.objects.get().subject_name_en == before.subject_name_en == "Chan Tai Man"
    assert Referral.objects.get().version == before.version


def test_keys_are_per_client(client, liaison, liaison_token, ssp_area, ifsc_unit):
    other = partner_client(
        ifsc_unit.organisation, scopes=("referrals:write",), intake_team=liaison.partner.intake_team
    )
    other_token = token_for(client, other, scope="referrals:write")

    post(client, liaison_token, body(ssp_area), key="shared-key")
    response = post(client, other_token, body(ssp_area), key="shared-key")

    assert response.status_code == 201 and "Idempotent-Replayed" not in response
    assert Referral.objects.count() == 2


@pytest.mark.parametrize(
    ("key", "field_message"),
    [
        (None, "Send an Idempotency-Key header, e.g. a new UUID."),
        ("x" * 256, "Use 1 to 255 printable ASCII characters."),
        (" padded ", "Use 1 to 255 printable ASCII characters."),
    ],
)
def test_a_missing_or_malformed_key_is_a_400_and_files_nothing(
    client, liaison_token, ssp_area, key, field_message
):
    response = post(client, liaison_token, body(ssp_area), key=key)

    assert response.status_code == 400
    assert response.json()["fields"] == {"Idempotency-Key": [field_message]}
    assert not Referral.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"district": "ZZ"}, "district", "Object with code=ZZ does not exist."),
        ({"needs": ["no_such_need", "housing"]}, "needs", "Unknown need: no_such_need."),
        ({"risk_factors": ["bad"]}, "risk_factors.0", '"bad" is not a valid choice.'),
        ({"age": "eighty"}, "age", "A valid integer is required."),
        ({"subject_name_en": "x" * 101}, "subject_name_en", None),
    ],
)
def test_a_malformed_body_is_a_400_naming_the_field(
    client, liaison_token, ssp_area, overrides, field, message
):
    response = post(client, liaison_token, body(ssp_area, **overrides))

    assert response.status_code == 400
    fields = response.json()["fields"]
    assert list(fields) == [field]
    if message:
        assert fields[field] == [message]
    assert not Referral.objects.exists() and not ApiIntake.objects.exists()


# The form's rules, through the API: each case is posted to the form page and to the API, and
# the API must give the very message the page shows.
FORM_RULES = [
    ("no household", {"household": ""}, "household"),
    ("no consent time", {"consent_given_at": None}, "consent_given_at"),
    ("no name", {"subject_name_zh": "", "subject_name_en": ""}, "subject_name_zh"),
    ("no needs", {"needs": []}, "needs"),
    ("no way to reach", {"phone": "", "address": ""}, "phone"),
    ("no consent basis", {"consent_basis": ""}, "consent_basis"),
    ("consent not recorded", {"consent_method": ""}, "consent_method"),
    ("no exemption reason", {"consent_basis": "urgent_protection"}, "consent_exemption_reason"),
    ("bad check digit", {"id_number": "G123456(7)"}, "id_number"),
    ("no document kind", {"id_type": ""}, "id_type"),
    ("born tomorrow", {"date_of_birth": "tomorrow"}, "date_of_birth"),
    ("consent next week", {"consent_given_at": "next week"}, "consent_given_at"),
    ("consent in year 1", {"consent_given_at": "year 1"}, "consent_given_at"),
    ("age 131", {"age": 131}, "age"),
    ("bad phone", {"phone": "12"}, "phone"),
    ("sub-district elsewhere", {"sub_district": "other"}, "sub_district"),
]


@pytest.mark.parametrize(("case", "change", "field"), FORM_RULES, ids=[c[0] for c in FORM_RULES])
def test_the_api_applies_the_forms_rules_with_the_forms_messages(
    client, liaison_token, referrer, ssp_area, caring_team, case, change, field
):
    elsewhere = factories.SubDistrictFactory(code="K01", district=factories.district("K"))
    tomorrow = timezone.localdate() + timedelta(days=1)
    next_week = timezone.localtime() + timedelta(days=7)
    api_change, page_change = dict(change), dict(change)
    if "date_of_birth" in change:
        api_change["date_of_birth"] = tomorrow.isoformat()
        page_change["date_of_birth"] = tomorrow.isoformat()
    if change.get("consent_given_at") == "next week":
        api_change["consent_given_at"] = next_week.isoformat()
        page_change["consent_given_at"] = next_week.strftime("%Y-%m-%dT%H:%M")
    if change.get("consent_given_at") == "year 1":  # before the first UTC year, either way
        api_change["consent_given_at"] = "0001-01-01T00:00:00+08:00"
        page_change["consent_given_at"] = "0001-01-01T00:00"
    if "sub_district" in change:
        api_change["sub_district"], page_change["sub_district"] = elsewhere.code, elsewhere.pk
    if change.get("needs") == []:
        page_change["needs"] = None

    response = post(client, liaison_token, body(ssp_area, **api_change))
    client.force_login(referrer)
    page = client.post(reverse("referrals:new"), form_data(ssp_area, caring_team, **page_change))
    client.logout()

    assert response.status_code == 400, response.content
    assert page.status_code == 400
    api_messages = response.json()["fields"][field]
    assert api_messages == [str(m) for m in page.context["form"].errors[field]]
    assert not Referral.objects.exclude(status=Status.DRAFT).exists()
    assert not ApiIntake.objects.exists()


def test_the_api_answers_every_broken_rule_at_once_as_the_page_does(
    client, liaison_token, referrer, ssp_area, caring_team
):
    broken = {"needs": [], "consent_basis": "", "id_number": "G123456(7)", "age": 131}
    response = post(client, liaison_token, body(ssp_area, **broken))
    client.force_login(referrer)
    page = client.post(
        reverse("referrals:new"),
        form_data(ssp_area, caring_team, **{**broken, "needs": None}),
    )

    assert response.status_code == page.status_code == 400
    fields = response.json()["fields"]
    assert set(fields) == {"needs", "consent_basis", "id_number", "age"}
    page_errors = page.context["form"].errors
    assert fields == {name: [str(m) for m in page_errors[name]] for name in fields}
    assert not Referral.objects.exists() and not ApiIntake.objects.exists()


def test_errors_are_in_the_callers_language(client, liaison_token, ssp_area):
    response = post(client, liaison_token, body(ssp_area, needs=[]), HTTP_ACCEPT_LANGUAGE="zh-hant")

    assert response.status_code == 400
    assert response.json()["message"] == "部分欄位無效。"
    assert response.json()["fields"]["needs"] == ["請至少剔選一項需要。"]


def test_who_may_file(client, ifsc_unit, liaison, ssp_area, referrer):
    not_set_up = partner_client(ifsc_unit.organisation, scopes=("referrals:write",))
    response = post(client, token_for(client, not_set_up, "referrals:write"), body(ssp_area))
    assert response.status_code == 403
    assert response.json()["error"] == "intake_not_allowed"

    read_only = token_for(client, liaison, scope="referrals:read")
    assert post(client, read_only, body(ssp_area)).status_code == 403

    anonymous = client.post(URL, body(ssp_area), content_type="application/json")
    assert anonymous.status_code == 401

    client.force_login(referrer)
    signed_in = client.post(
        URL, body(ssp_area), content_type="application/json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert signed_in.status_code == 403
    assert not Referral.objects.exists()


def test_what_the_client_filed_it_may_read_but_not_act_on(client, liaison_token, ssp_area):
    reference = post(client, liaison_token, body(ssp_area)).json()["reference"]
    referral = Referral.objects.get()

    listed = client.get(URL, **bearer(liaison_token)).json()["results"]
    accept = client.post(
        f"{URL}{reference}/accept", HTTP_IF_MATCH=f'"{referral.version}"', **bearer(liaison_token)
    )

    assert [row["reference"] for row in listed] == [reference]
    assert accept.status_code == 404  # not assigned to the client's units: nothing to act on
    assert Referral.objects.get().status == Status.SUBMITTED


def test_another_organisation_does_not_see_what_a_client_filed(client, liaison_token, ssp_area):
    reference = post(client, liaison_token, body(ssp_area)).json()["reference"]
    stranger = partner_client(factories.OrganisationFactory(code="stranger"))
    token = token_for(client, stranger)

    assert client.get(f"{URL}{reference}/", **bearer(token)).status_code == 404
    assert client.get(URL, **bearer(token)).json()["results"] == []


def test_the_identity_number_in_full_needs_its_own_scope(client, ifsc_unit, ssp_area, liaison):
    post(client, token_for(client, liaison, "referrals:write"), body(ssp_area))
    referral = Referral.objects.get()
    referral.assigned_unit, referral.status = ifsc_unit, Status.ASSIGNED
    referral.save()
    reader = partner_client(ifsc_unit.organisation, scopes=("referrals:read", "referrals:identity"))
    url = f"{URL}{referral.reference}/"

    masked = client.get(url, **bearer(token_for(client, reader, "referrals:read")))
    full = client.get(url, **bearer(token_for(client, reader, "referrals:read referrals:identity")))

    assert masked.json()["identity_number"] == "G12****(*)"
    assert full.json()["identity_number"] == "G123456A"
    details = list(AccessLog.objects.order_by("at", "pk").values_list("detail", flat=True))
    assert details[-2:] == [
        f"client {reader.client_id}",
        f"client {reader.client_id}, identity number in full",
    ]


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="concurrent requests need PostgreSQL (CI has it)"
)
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_same_key_sent_twice_at_once_files_one_referral(liaison_token, ssp_area):
    from django.test import Client

    key = str(uuid.uuid4())
    start = threading.Barrier(2)
    answers = []

    def send():
        try:
            start.wait(5)
            answers.append(post(Client(), liaison_token, body(ssp_area), key=key))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)

    assert sorted(a.status_code for a in answers) == [201, 201]
    assert len({a.json()["reference"] for a in answers}) == 1
    assert Referral.objects.count() == 1 and ApiIntake.objects.count() == 1


def test_the_admin_ties_a_client_to_a_team_of_its_own_organisation_only(
    client, admin_user, ifsc_unit, other_unit
):
    from oauth2_provider.models import Application

    from accounts.models import PartnerClient

    application = Application.objects.create(
        name="hospital liaison",
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
    )
    client.force_login(admin_user)
    form = {
        "application": application.pk,
        "organisation": ifsc_unit.organisation.pk,
        "scopes": ["referrals:write"],
    }
    url = reverse("admin:accounts_partnerclient_add")

    refused = client.post(url, {**form, "intake_team": other_unit.pk})
    assert refused.status_code == 200
    assert "Choose a team or unit of the client&#x27;s own organisation." in refused.text
    assert not PartnerClient.objects.exists()

    client.post(url, {**form, "intake_team": ifsc_unit.pk})
    assert PartnerClient.objects.get().intake_team == ifsc_unit


@pytest.mark.parametrize("needs", [["child_family"], ["child_family", "elderly_care", "housing"]])
def test_filing_takes_a_fixed_number_of_queries(
    client, liaison_token, ssp_area, needs, django_assert_num_queries
):
    post(client, liaison_token, body(ssp_area), key="warm-up")  # the service account exists
    # 31: the referral, its needs, screening, event, reference, and the outbox row for routing
    # (38 while the body also went through the page's form: its choices and model checks).
    with django_assert_num_queries(31):
        response = post(client, liaison_token, body(ssp_area, needs=needs))
    assert response.status_code == 201


# --- Form tokens: unguessable, and each account's own (issue 14 item 5) -------------------


def test_a_partners_form_token_is_keyed_with_the_servers_secret(liaison, settings):
    """Knowing a partner's Idempotency-Key (they are often sequential) gives nobody its
    form token: the token is a keyed hash, and changes with the key."""
    from referrals.api.intake import submission_token

    partner = liaison.partner
    first = submission_token(partner, "case-0001")
    assert submission_token(partner, "case-0001") == first  # a retry names the same form
    assert submission_token(partner, "case-0002") != first
    settings.SECRET_KEY = "another-secret-" * 4
    assert submission_token(partner, "case-0001") != first


def test_a_referrer_holding_a_partners_token_cannot_block_its_filing(
    client, liaison, liaison_token, ssp_area, referrer, caring_team
):
    """The attack of the finding: a referrer posts the form with the token a partner's next
    submission will use. Tokens are per account, so the referrer gets a draft of their own
    and the partner's referral is filed all the same; nothing answers 500."""
    from referrals.api.intake import submission_token

    squatted = submission_token(liaison.partner, "case-0042")
    client.force_login(referrer)
    page = client.post(
        reverse("referrals:new"),
        form_data(ssp_area, caring_team, token=str(squatted), submit=None, save="1"),
    )
    assert page.status_code == 302
    squatter = Referral.objects.get(referrer=referrer)
    client.logout()

    response = post(client, liaison_token, body(ssp_area), key="case-0042")

    assert response.status_code == 201, response.content
    filed = Referral.objects.get(reference=response.json()["reference"])
    assert filed.pk != squatter.pk and filed.referrer_id != referrer.pk
    assert filed.submission_token == squatted == squatter.submission_token
    squatter.refresh_from_db()
    assert squatter.status == Status.DRAFT and squatter.subject_name_zh == "李美華"
