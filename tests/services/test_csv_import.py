"""Headquarters maintains the directory by importing a CSV of units in the admin."""

import pytest
from django.contrib.admin.sites import site
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from services.models import ServiceUnit
from tests import factories

pytestmark = pytest.mark.django_db

HEADER = (
    "code,name_en,name_zh,unit_type,organisation,district,address_en,address_zh,phone,email,"
    "languages,capacity,current_load,is_active,catchment_districts,catchment_sub_districts\n"
)


def csv_format_index():
    formats = site._registry[ServiceUnit].get_import_formats()
    return next(i for i, fmt in enumerate(formats) if fmt().get_title() == "csv")


def upload(client, text: str):
    return client.post(
        reverse("admin:services_serviceunit_import"),
        {
            "format": csv_format_index(),
            "resource": 0,
            "import_file": SimpleUploadedFile("units.csv", text.encode("utf-8"), "text/csv"),
        },
    )


def confirm(client, preview):
    assert "confirm_form" in preview.context, preview.content.decode()[:2000]
    return client.post(
        reverse("admin:services_serviceunit_process_import"),
        preview.context["confirm_form"].initial,
        follow=True,
    )


@pytest.fixture
def operator(db):
    return factories.OrganisationFactory(code="sample-ngo")


@pytest.fixture
def areas(db):
    return [
        factories.SubDistrictFactory(code="F01", district=factories.district("F")),
        factories.SubDistrictFactory(code="F02", district=factories.district("F")),
    ]


def test_importing_units_creates_them_with_their_catchment(client, admin_user, operator, areas):
    client.force_login(admin_user)
    preview = upload(
        client,
        HEADER + "ifsc-new,New IFSC,新綜合家庭服務中心,IFSC,sample-ngo,F,1 Sample St,樣本街1號,"
        "+852 2345 6789,new@example.org,yue;eng,500,20,1,,F01;F02\n"
        + "prc-new,New PRC,新家長資源中心,PRC,sample-ngo,G,,,,,yue,80,0,1,G;F;E,\n",
    )
    assert not ServiceUnit.objects.filter(code__in=["ifsc-new", "prc-new"]).exists()  # preview
    confirm(client, preview)
    ifsc = ServiceUnit.objects.get(code="ifsc-new")
    assert (ifsc.name_zh, ifsc.unit_type.code, ifsc.district.code) == (
        "新綜合家庭服務中心",
        "IFSC",
        "F",
    )
    assert ifsc.languages == ["yue", "eng"]
    assert ifsc.phone.as_e164 == "+85223456789"
    assert sorted(ifsc.catchment_sub_districts.values_list("code", flat=True)) == ["F01", "F02"]
    prc = ServiceUnit.objects.get(code="prc-new")
    assert sorted(prc.catchment_districts.values_list("code", flat=True)) == ["E", "F", "G"]


def test_importing_again_updates_by_code_instead_of_duplicating(client, admin_user, operator):
    client.force_login(admin_user)
    row = "ifsc-x,IFSC X,中心X,IFSC,sample-ngo,F,,,,,yue,{capacity},0,1,F,\n"
    confirm(client, upload(client, HEADER + row.format(capacity=100)))
    confirm(client, upload(client, HEADER + row.format(capacity=250)))
    assert ServiceUnit.objects.filter(code="ifsc-x").count() == 1
    assert ServiceUnit.objects.get(code="ifsc-x").capacity == 250


@pytest.mark.parametrize(
    ("bad_row", "message"),
    [
        ("bad-1,Bad,壞,IFSC,sample-ngo,ZZ,,,,,yue,1,0,1,,\n", "Unknown district code"),
        ("bad-2,Bad,壞,NOPE,sample-ngo,F,,,,,yue,1,0,1,,\n", "Unknown unit_type code"),
        ("bad-3,Bad,壞,IFSC,sample-ngo,F,,,,,yue,1,0,1,,F99\n", "Unknown catchment_sub_districts"),
        ("bad-4,Bad,壞,IFSC,sample-ngo,F,,,,,klingon,1,0,1,,\n", "Unknown language code"),
        (
            "bad-5,Bad,壞,IFSC,sample-ngo,F,,,not-a-phone,,yue,1,0,1,,\n",
            "phone number entered is not valid",
        ),
        ("bad-6,Bad,壞,IFSC,sample-ngo,F,,,,,yue,-3,0,1,,\n", "greater than or equal to 0"),
    ],
)
def test_a_bad_row_is_reported_and_nothing_is_imported(
    client, admin_user, operator, areas, bad_row, message
):
    client.force_login(admin_user)
    good_row = "good-1,Good,好,IFSC,sample-ngo,F,,,,,yue,1,0,1,,F01\n"
    response = upload(client, HEADER + good_row + bad_row)
    assert response.status_code == 200
    assert "confirm_form" not in response.context
    assert message in response.content.decode()
    assert not ServiceUnit.objects.filter(code__in=["good-1", bad_row.split(",")[0]]).exists()


def test_only_administrators_can_import(client, district_officer):
    client.force_login(district_officer)
    response = client.get(reverse("admin:services_serviceunit_import"))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


def test_the_load_column_is_exported_but_never_imported(client, admin_user, operator):
    """The load counts the unit's referrals (kept by the referral services): a number in the
    sheet changes neither an existing unit's counter nor a new unit's."""
    from services.resources import ServiceUnitResource

    existing = factories.ServiceUnitFactory(code="ifsc-x", organisation=operator, current_load=4)
    client.force_login(admin_user)
    confirm(
        client,
        upload(
            client,
            HEADER
            + "ifsc-x,IFSC X,中心X,IFSC,sample-ngo,F,,,,,yue,250,90,1,F,\n"
            + "ifsc-y,IFSC Y,中心Y,IFSC,sample-ngo,F,,,,,yue,100,77,1,F,\n",
        ),
    )
    existing.refresh_from_db()
    assert (existing.capacity, existing.current_load) == (250, 4)  # the row was applied
    assert ServiceUnit.objects.get(code="ifsc-y").current_load == 0
    exported = ServiceUnitResource().export(ServiceUnit.objects.filter(code="ifsc-x"))
    row = exported.dict[0]
    assert (row["capacity"], row["current_load"]) == ("250", "4")  # still in the export
