import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count

from accounts.demo import DEMO_PASSWORD, DEMO_USERS
from accounts.models import Membership, User
from districts.models import District, SubDistrict
from services.demo import SUB_DISTRICTS_PER_DISTRICT
from services.models import Organisation, ServiceUnit

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(settings):
    """The demo as ``scripts/demo.sh`` seeds it: debug mode, the published credentials."""
    settings.DEBUG = True
    call_command("seed_demo", verbosity=0)


def unit_count_by_type_and_district():
    return {
        (row["unit_type__code"], row["district__code"]): row["n"]
        for row in ServiceUnit.objects.values("unit_type__code", "district__code").annotate(
            n=Count("pk")
        )
    }


def test_every_district_has_the_core_unit_types(seeded):
    counts = unit_count_by_type_and_district()
    for district in District.objects.values_list("code", flat=True):
        for unit_type in ("IFSC", "ICCMW", "DECC", "NEC", "DSC"):
            assert counts.get((unit_type, district), 0) >= 1, (unit_type, district)
    assert sum(n for (t, _), n in counts.items() if t == "IFSC") in range(60, 75)
    assert sum(n for (t, _), n in counts.items() if t == "ICCMW") in range(22, 30)


def test_one_caring_team_per_sub_district_and_452_sub_districts(seeded):
    assert SubDistrict.objects.count() == sum(SUB_DISTRICTS_PER_DISTRICT.values()) == 452
    teams = ServiceUnit.objects.filter(unit_type__code="CARE_TEAM")
    assert teams.count() == 452
    assert not SubDistrict.objects.exclude(catchment_units__in=teams).exists()


def test_ifsc_catchments_partition_their_district(seeded):
    """Every sub-district is served by exactly one demo IFSC of its own district."""
    for area in SubDistrict.objects.select_related("district"):
        serving = ServiceUnit.objects.filter(unit_type__code="IFSC").serving_sub_district(area)
        assert [u.district_id for u in serving] == [area.district_id], area.code


def test_a_prc_may_serve_several_districts(seeded):
    prc = ServiceUnit.objects.get(code="prc-mental-02")
    assert sorted(prc.catchment_districts.values_list("code", flat=True)) == [
        "E",
        "F",
        "G",
        "H",
        "J",
    ]


def test_invented_records_are_marked_as_demo_data(seeded):
    assert not ServiceUnit.objects.filter(is_demo_data=False).exists()
    assert list(Organisation.objects.filter(is_demo_data=False).values_list("code", flat=True)) == [
        "swd"
    ]
    assert not ServiceUnit.objects.exclude(name_en__contains="(demo").exists()
    assert not ServiceUnit.objects.exclude(name_zh__contains="示範").exists()
    assert not ServiceUnit.objects.exclude(email__endswith="@example.org").exists()


def test_demo_users_exist_for_every_role_and_can_log_in(seeded, client):
    roles = set(Membership.objects.values_list("role", flat=True))
    assert roles == set(Membership.Role.values)
    assert User.objects.get(username="admin").is_administrator
    for demo in DEMO_USERS:
        signed_in = client.post("/login/", {"username": demo.username, "password": DEMO_PASSWORD})
        assert signed_in.status_code == 302, demo.username
        home = client.get("/")
        # Roles that need a second factor are held at the code step (their device is seeded).
        if demo.role in ("administrator", "district_officer", "unit_supervisor"):
            assert home["Location"].startswith("/account/two-factor/verify/"), demo.username
        else:
            assert home.status_code == 200, demo.username
        client.post("/logout/")


def directory_row_counts():
    return (
        ServiceUnit.objects.count(),
        SubDistrict.objects.count(),
        Organisation.objects.count(),
        User.objects.count(),
        Membership.objects.count(),
        ServiceUnit.catchment_sub_districts.through.objects.count(),
        ServiceUnit.catchment_districts.through.objects.count(),
    )


def test_running_twice_changes_nothing(seeded):
    before = directory_row_counts()
    snapshot = list(ServiceUnit.objects.order_by("code").values("code", "name_zh", "capacity"))
    call_command("seed_demo", verbosity=0)
    after = directory_row_counts()
    assert after == before
    assert list(ServiceUnit.objects.order_by("code").values("code", "name_zh", "capacity")) == (
        snapshot
    )


def test_refuses_to_run_with_debug_off_unless_told(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="--allow-production"):
        call_command("seed_demo", verbosity=0)
    assert not ServiceUnit.objects.exists()


def test_prints_the_logins(settings, capsys):
    settings.DEBUG = True
    call_command("seed_demo")
    out = capsys.readouterr().out
    assert DEMO_PASSWORD in out
    for demo in DEMO_USERS:
        assert demo.username in out


def test_the_demo_api_clients_get_tokens_with_the_printed_secret(seeded, client):
    import base64

    from accounts.demo import DEMO_CLIENT_SECRET, DEMO_CLIENTS

    for demo in DEMO_CLIENTS:
        basic = base64.b64encode(f"{demo.client_id}:{DEMO_CLIENT_SECRET}".encode()).decode()
        token = client.post(
            "/o/token/",
            {"grant_type": "client_credentials", "scope": " ".join(demo.scopes)},
            HTTP_AUTHORIZATION=f"Basic {basic}",
        )
        assert token.status_code == 200, token.content
        assert sorted(token.json()["scope"].split()) == sorted(demo.scopes)
    call_command("seed_demo", "--referrals", "0", verbosity=0)  # again
    from accounts.models import PartnerClient

    assert PartnerClient.objects.count() == len(DEMO_CLIENTS)  # refreshed, not duplicated
    filing = PartnerClient.objects.get(application__client_id="demo-care-team-app")
    assert filing.intake_team.code == "care-team-f01"


# --- With DEBUG off (issue 14 item 11): random credentials, printed once -------------------


def token_status(client, client_id: str, secret: str) -> int:
    import base64

    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    response = client.post(
        "/o/token/", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=f"Basic {basic}"
    )
    return response.status_code


def test_production_seeding_never_stores_the_published_credentials(settings, capsys, client):
    import base64

    from django_otp.plugins.otp_totp.models import TOTPDevice

    from accounts.demo import DEMO_CLIENT_SECRET, DEMO_CLIENTS, DEMO_TOTP_SECRET

    settings.DEBUG = False
    call_command("seed_demo", "--allow-production")
    out = capsys.readouterr().out
    assert DEMO_PASSWORD not in out and DEMO_TOTP_SECRET not in out
    assert DEMO_CLIENT_SECRET not in out
    published_key = base64.b32decode(DEMO_TOTP_SECRET).hex()
    passwords = set()
    for demo in DEMO_USERS:
        user = User.objects.get(username=demo.username)
        assert not user.check_password(DEMO_PASSWORD), demo.username
        printed = out.split(f"  {demo.username} ", 1)[1].split()
        assert user.check_password(printed[0]), demo.username
        passwords.add(printed[0])
        for device in TOTPDevice.objects.filter(user=user):
            assert device.key != published_key, demo.username
            assert base64.b32encode(device.bin_key).decode() == printed[1], demo.username
    assert len(passwords) == len(DEMO_USERS)  # one each, not one for all
    assert TOTPDevice.objects.filter(user__username="officer.ssp", confirmed=True).exists()
    for demo in DEMO_CLIENTS:
        secret = out.split(f"  {demo.client_id} ", 1)[1].split()[0]
        assert token_status(client, demo.client_id, secret) == 200, demo.client_id
        assert token_status(client, demo.client_id, DEMO_CLIENT_SECRET) == 401, demo.client_id


def test_production_seeding_takes_no_chosen_password(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="--password works only with DEBUG on"):
        call_command("seed_demo", "--allow-production", "--password", DEMO_PASSWORD)
    assert not User.objects.filter(username="admin").exists()


def test_the_demo_has_logins_for_an_elderly_centre_a_prc_the_hotline_and_kwun_tong(seeded, client):
    """Issue 19: the most common paths each have a demo login, in the right unit or office,
    and each of them signs in to a home page naming it."""
    expected = {
        "worker.decc.ssp": ("decc-f-01", "DECC", "F"),
        "worker.prc.ssp": ("prc-ssp", "PRC", "F"),
        "worker.hotline": ("carer-hotline-01", "CARER_HOTLINE", "F"),
        "worker.ifsc.kt": ("ifsc-j-01", "IFSC", "J"),
    }
    for username, (code, unit_type, district) in expected.items():
        [membership] = Membership.objects.filter(user__username=username).select_related(
            "service_unit__unit_type", "service_unit__district"
        )
        unit = membership.service_unit
        assert membership.role == Membership.Role.UNIT_STAFF, username
        assert (unit.code, unit.unit_type.code, unit.district.code) == (code, unit_type, district)
        assert (
            client.post("/login/", {"username": username, "password": DEMO_PASSWORD}).status_code
            == 302
        )
        home = client.get("/")
        assert home.status_code == 200 and unit.name_en in home.content.decode(), username
        client.post("/logout/")
    # The second district's officer: the Kwun Tong office, which covers Kwun Tong (J).
    officer = Membership.objects.get(user__username="officer.kt")
    assert list(officer.welfare_office.districts.values_list("code", flat=True)) == ["J"]
