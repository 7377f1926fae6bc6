"""The API's JSON parser: DRF's, refusing nesting deeper than any request of ours needs.

Python's JSON decoder recurses once per level, so a body nested 5,000 deep raised
RecursionError, a 500 (issue 14 item 4). The depth is checked on the text before decoding
(brackets outside strings), so no deep structure is ever built.
"""

import io

from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_DEPTH = 64


def nesting_depth(text: str) -> int:
    """The deepest ``[``/``{`` nesting of a JSON text, skipping what is inside strings."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read() if stream is not None else b""
        charset = (parser_context or {}).get("encoding") or "utf-8"
        text = raw.decode(charset, errors="replace")
        if nesting_depth(text) > MAX_DEPTH:
            raise ParseError(_("The JSON is nested too deeply."))
        return super().parse(io.BytesIO(raw), media_type, parser_context)
