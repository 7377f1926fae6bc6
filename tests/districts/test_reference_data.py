import pytest

from districts.models import District, WelfareOffice
from districts.reference_data import load_districts

pytestmark = pytest.mark.django_db


def test_the_18_districts_and_11_offices_are_loaded_with_both_names():
    assert District.objects.count() == 18
    assert WelfareOffice.objects.count() == 11
    ssp = District.objects.select_related("welfare_office").get(code="F")
    assert (ssp.name_en, ssp.name_zh, ssp.region) == ("Sham Shui Po", "深水埗區", "Kowloon")
    assert ssp.welfare_office.code == "SSP"
    cwsi = WelfareOffice.objects.get(code="CWSI")
    assert sorted(cwsi.districts.values_list("code", flat=True)) == ["A", "D", "T"]


def test_every_office_covers_at_least_one_district():
    assert not WelfareOffice.objects.filter(districts__isnull=True).exists()


def test_loading_again_updates_in_place():
    District.objects.filter(code="F").update(name_en="Changed")
    load_districts(welfare_office_model=WelfareOffice, district_model=District)
    assert District.objects.count() == 18
    assert District.objects.get(code="F").name_en == "Sham Shui Po"


def test_name_follows_the_active_language():
    from django.utils import translation

    ssp = District.objects.get(code="F")
    with translation.override("zh-hant"):
        assert str(ssp) == "深水埗區"
    with translation.override("en"):
        assert str(ssp) == "Sham Shui Po"
