"""Error answers: pages for people in their language, the JSON error shape under /api/."""

import json

import pytest
from django.test import RequestFactory
from django.utils import translation

from welfare_portal import errors


@pytest.mark.django_db
def test_an_unknown_page_is_a_translated_404_page(client, referrer):
    client.force_login(referrer)
    client.cookies["django_language"] = "zh-hant"
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "找不到頁面" in response.text and "返回首頁" in response.text


@pytest.mark.django_db
def test_an_unknown_api_path_answers_in_the_error_shape(client):
    response = client.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response.json() == {
        "error": "not_found",
        "message": "Not found, or not yours.",
        "fields": {},
    }


@pytest.mark.parametrize(
    ("language", "heading"), [("en", "Something went wrong"), ("zh-hant", "發生錯誤")]
)
def test_the_500_page_stands_alone_in_the_readers_language(language, heading):
    request = RequestFactory().get("/queue/")
    with translation.override(language):
        response = errors.server_error(request)
    body = response.content.decode()
    assert response.status_code == 500
    assert heading in body and "<script" not in body


def test_a_server_error_under_the_api_is_json():
    response = errors.server_error(RequestFactory().get("/api/v1/referrals/"))
    assert response.status_code == 500
    assert json.loads(response.content)["error"] == "server_error"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/api/v1/no-such-thing/", "/api/v1/referrals/X/nothing", "/api/x"]
)
def test_an_unknown_api_path_answers_in_the_callers_language(client, path):
    """issue 14 item 13: under /api/ a 404 is the API's JSON error, translated."""
    response = client.get(path, HTTP_ACCEPT_LANGUAGE="zh-Hant")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "error": "not_found",
        "message": "找不到，或不屬於你的機構。",
        "fields": {},
    }


@pytest.mark.django_db
@pytest.mark.parametrize("token", [None, "not-a-token"])
def test_the_apis_401_is_in_the_callers_language(client, token):
    """issue 14 item 13: DRF's zh_Hant catalogue lacks "Authentication credentials were not
    provided.", so the 401 was English; the API's exception handler says it in its own
    (translated) words."""
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    english = client.get("/api/v1/referrals/", **headers)
    assert english.status_code == 401
    assert english.json()["message"] == (
        "Send a valid access token (Authorization: Bearer …), or sign in."
    )
    response = client.get("/api/v1/referrals/", HTTP_ACCEPT_LANGUAGE="zh-Hant", **headers)
    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"
    assert response.has_header("WWW-Authenticate")
    message = response.json()["message"]
    assert any("\u4e00" <= char <= "\u9fff" for char in message), message


@pytest.mark.parametrize(("path", "shape"), [("/queue/", "page"), ("/api/v1/referrals/", "json")])
def test_a_number_too_large_for_the_database_is_a_400_not_a_500(path, shape):
    """SQLite (the embedded demo) raises OverflowError binding an integer past 64 bits, from
    any filter on any admin changelist or list: the middleware answers it as bad input."""
    from welfare_portal.middleware import RefuseNulInQueryMiddleware

    def view(request):
        raise AssertionError("not reached")

    middleware = RefuseNulInQueryMiddleware(view)
    request = RequestFactory().get(path, {"id__exact": str(2**70)})
    response = middleware.process_exception(request, OverflowError("Python int too large"))
    assert response.status_code == 400
    if shape == "json":
        assert json.loads(response.content)["error"] == "invalid"
    assert middleware.process_exception(request, ValueError("a bug")) is None
