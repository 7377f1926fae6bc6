"""A record's ``version`` as an HTTP entity tag: ``ETag: "<version>"`` on the answers that
carry the record, ``If-Match`` on writes (the version the caller saw), ``If-None-Match`` on
reads (a 304 when nothing changed). One format, read and written here only."""

MAX_DIGITS = 10
IF_MATCH_PATTERN = r"^(W/)?\"?[0-9]{1,10}\"?$"  # what ``version_from_tag`` accepts


def etag(version: int) -> str:
    return f'"{version}"'


def version_from_tag(tag: str) -> int | None:
    """The version an entity tag names (``"3"``, ``W/"3"`` or a bare ``3``), or None when
    it names none (empty, not digits, longer than any version)."""
    raw = tag.strip().removeprefix("W/").strip('"')
    if not raw.isascii() or not raw.isdigit() or len(raw) > MAX_DIGITS:
        return None
    return int(raw)


def none_match(header: str, version: int) -> bool:
    """False when ``If-None-Match`` names the current version (or is ``*``): the caller's
    copy is current, answer 304. Weak comparison (RFC 9110 13.1.2): ``W/"3"`` matches."""
    tags = [tag.strip() for tag in header.split(",") if tag.strip()]
    if "*" in tags:
        return False
    return all(version_from_tag(tag) != version for tag in tags)
