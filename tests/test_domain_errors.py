"""The API's exception handler answers any ``DomainError`` from its class attributes, without
knowing the app that raised it (welfare_portal may not import the apps above it)."""

from welfare_portal.api.errors import exception_handler
from welfare_portal.domain import DomainError


class Gone(DomainError):
    status_code = 410
    code = "gone"


class Hidden(DomainError):
    answered_as_not_found = True


def test_a_domain_error_is_answered_with_its_status_code_and_message():
    response = exception_handler(Gone("The record went away."), {})
    assert response.status_code == 410
    assert response.data == {"error": "gone", "message": "The record went away.", "fields": {}}


def test_one_answered_as_not_found_says_no_more_than_a_missing_object():
    response = exception_handler(Hidden("You may not; the rule says why."), {})
    assert response.status_code == 404
    assert response.data == {
        "error": "not_found",
        "message": "Not found, or not yours.",
        "fields": {},
    }
