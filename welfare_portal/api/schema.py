"""The OpenAPI description of every API operation lists the errors it can answer with, in
the one error shape (``ErrorOut``), so a client (and schemathesis) can rely on it."""

from drf_spectacular.openapi import AutoSchema

from welfare_portal.api.serializers import ErrorOut

ALWAYS = (401, 403, 429)  # no or a bad token, a token without the scope, the rate limit


class ApiSchema(AutoSchema):
    def get_request_serializer(self):
        """The action views read their body with ``input_serializer``."""
        return getattr(self.view, "input_serializer", None) or super().get_request_serializer()

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for code in sorted(self.error_statuses()):
            responses.setdefault(
                str(code), self._get_response_for_code(ErrorOut, str(code), direction=direction)
            )
        return responses

    def error_statuses(self) -> set[int]:
        codes = set(ALWAYS) | set(getattr(self.view, "error_statuses", ()))
        if self.method in ("POST", "PUT", "PATCH"):
            codes.add(400)  # a body that does not validate
        paged = self._is_list_view() and getattr(self.view, "pagination_class", None)
        if "{" in self.path or paged:
            codes.add(404)  # not found or not yours; a forged cursor or a page past the end
        if self._is_list_view():
            codes.add(400)  # a filter value that does not parse
        return codes
