"""End-to-end (issue 16): a hospital notice for a carer's two elders reaches the carers'
hotline's inbox; on a phone, the hotline worker closes one as "reached, no urgent need" in
one step and the other stays with both units."""

import uuid

from playwright.sync_api import expect

from accounts.models import Membership
from referrals.models import Status
from referrals.notices import Person, notice_receive
from services.models import NeedCategory
from tests import factories
from tests.e2e.conftest import log_in, save_screenshot
from tests.referrals.partners import partner_client


def test_the_hotline_closes_a_notice_with_no_urgent_need_in_one_step_on_a_phone(
    phone_page, live_server, ssp_area, eager_tasks
):
    hotline = factories.ServiceUnitFactory(
        code="carer-hotline",
        name_en="Carer Support Hotline 182183 test",
        unit_type=factories.unit_type("CARER_HOTLINE"),
        catchment_districts=[ssp_area.district],
    )
    factories.ServiceUnitFactory(
        code="decc-f-01", unit_type=factories.unit_type("DECC"), catchment_sub_districts=[ssp_area]
    )
    worker = factories.MembershipFactory(
        user=factories.UserFactory(username="hotline-worker"),
        role=Membership.Role.UNIT_STAFF,
        service_unit=hotline,
    ).user
    organisation = factories.OrganisationFactory(code="swd-relay")
    desk = factories.ServiceUnitFactory(code="dswo-relay", organisation=organisation)
    partner = partner_client(organisation, scopes=("notices:write",), intake_team=desk).partner
    needs = list(NeedCategory.objects.filter(code="elderly_care"))
    people = [
        Person(
            values={
                "district": ssp_area.district,
                "sub_district": ssp_area,
                "subject_name_zh": name,
                "address": "Room 5, 12/F, Synthetic House",
            },
            needs=needs,
        )
        for name in ("陳大文", "李美玉")
    ]
    intake = notice_receive(
        partner=partner,
        key="e2e-notice",
        fingerprint="e2e",
        carer_name="李美華",
        people=people,
        token_for=lambda index: uuid.uuid4(),
    )
    first, second = intake.referrals

    log_in(phone_page, live_server, worker.username)
    phone_page.goto(f"{live_server.url}/inbox/")
    rows = phone_page.locator("#inbox-rows tr.referral")
    expect(rows).to_have_count(2)
    rows.filter(has_text=first.reference).get_by_role(
        "link", name=first.reference, exact=True
    ).click()
    contact = phone_page.locator("#contact")
    expect(contact).to_be_visible()
    contact.get_by_label("Why no urgent support is needed").select_option("family_caring")
    contact.get_by_role("button", name="Reached – no urgent need: close").click()

    expect(phone_page.locator(".messages")).to_contain_text("Reached – no urgent need")
    expect(phone_page.locator("#status")).to_have_text("Completed")
    expect(phone_page.locator("#contact")).to_have_count(0)
    save_screenshot(phone_page, "e2e-notice-closed.png")
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == Status.COMPLETED
    assert second.status == Status.ASSIGNED and second.tasks.open().count() == 2
