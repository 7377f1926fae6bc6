"""Headquarters maintains routing rules and webhook endpoints in the admin, and re-sends
failed deliveries; nobody else reaches those pages."""

import pytest
from django.urls import reverse

from referrals.models import Delivery, RoutingRule, WebhookEndpoint
from services.models import NeedCategory, UnitType
from tests import factories

pytestmark = pytest.mark.django_db


def rule_form(**overrides) -> dict:
    data = {
        "code": "hoarding",
        "name_en": "Hoarding → IFSC",
        "name_zh": "囤積 → 綜合家庭服務中心",
        "priority": "15",
        "is_active": "on",
        "needs": [NeedCategory.objects.get(code="housing").pk],
        "risk_levels": ["priority", "urgent"],
        "risk_factors": ["unsafe_home"],
        "households": [],
        "district": "",
        "unit_types": [UnitType.objects.get(code="IFSC").pk],
        "sla_amount": "8",
        "sla_unit": "business_hours",
        "when_overdue": "escalate",
    }
    return data | overrides


def test_an_administrator_adds_a_rule_with_ticked_criteria(client, admin_user):
    client.force_login(admin_user)
    response = client.post(reverse("admin:referrals_routingrule_add"), rule_form())
    assert response.status_code == 302, response.context["adminform"].form.errors
    rule = RoutingRule.objects.get(code="hoarding")
    assert rule.risk_levels == ["priority", "urgent"]
    assert rule.risk_factors == ["unsafe_home"]
    assert [t.code for t in rule.unit_types.all()] == ["IFSC"]
    assert (rule.sla_amount, rule.sla_unit, rule.when_overdue) == (8, "business_hours", "escalate")


def test_a_rule_with_an_unknown_risk_level_or_no_unit_type_is_refused(client, admin_user):
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:referrals_routingrule_add"),
        rule_form(risk_levels=["catastrophic"], unit_types=[]),
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "risk_levels" in errors
    assert "unit_types" in errors
    assert not RoutingRule.objects.filter(code="hoarding").exists()


def test_the_shipped_rules_are_listed_for_editing(client, admin_user):
    client.force_login(admin_user)
    response = client.get(reverse("admin:referrals_routingrule_changelist"))
    assert response.status_code == 200
    assert response.context["cl"].result_count == RoutingRule.objects.count() >= 12


def test_a_webhook_endpoint_gets_a_generated_secret(client, admin_user):
    organisation = factories.OrganisationFactory()
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:referrals_webhookendpoint_add"),
        {
            "organisation": organisation.pk,
            "url": "partner.example.org/hooks",
            "events": ["referral.assigned"],
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.url == "https://partner.example.org/hooks"
    assert len(endpoint.secret) >= 40
    assert WebhookEndpoint(organisation=organisation).secret != endpoint.secret


def test_failed_deliveries_can_be_sent_again_but_sent_ones_stay_sent(client, admin_user):
    failed = Delivery.objects.create(
        key="k1", to="a@example.org", subject="s", body="b", state="failed", attempts=8
    )
    sent = Delivery.objects.create(
        key="k2", to="b@example.org", subject="s", body="b", state="sent"
    )
    client.force_login(admin_user)
    client.post(
        reverse("admin:referrals_delivery_changelist"),
        {"action": "send_again", "_selected_action": [failed.pk, sent.pk]},
    )
    failed.refresh_from_db()
    sent.refresh_from_db()
    assert (failed.state, failed.attempts) == ("pending", 0)
    assert sent.state == "sent"


@pytest.mark.parametrize(
    "name",
    [
        "admin:referrals_routingrule_changelist",
        "admin:referrals_webhookendpoint_changelist",
        "admin:referrals_delivery_changelist",
        "admin:referrals_notification_changelist",
    ],
)
@pytest.mark.parametrize("persona", ["unit_worker", "district_officer", "referrer"])
def test_only_administrators_reach_these_admin_pages(client, request, name, persona):
    client.force_login(request.getfixturevalue(persona))
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))
