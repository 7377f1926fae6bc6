"""Sync pagination for partner systems.

A pass starts with a first page and follows ``next`` until it is null. Rows come in order of
last update, then id, and only rows last updated at or before the pass's ``until``: a row
changed during the pass moves past ``until`` and so is not seen twice; the next pass, sent
with ``updated_after`` = this pass's ``until``, picks it up. ``until`` lags the clock by
``API_SYNC_SETTLE_SECONDS`` so that a change still being committed (its update time is set
before its transaction ends) cannot slip in behind a pass that has already moved on.
"""

from datetime import datetime, timedelta

from django import forms
from django.conf import settings
from django.db import connections
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from referrals.api.filters import in_utc

UNTIL = "until"


def settled_now() -> datetime:
    return timezone.now() - timedelta(seconds=settings.API_SYNC_SETTLE_SECONDS)


def parse_until(raw: str | None) -> datetime:
    latest = settled_now()
    if not raw:
        return latest
    try:
        until = parse_datetime(raw)
    except ValueError:
        until = None
    if until is None:
        raise exceptions.ValidationError({UNTIL: [_("Enter a date and time in ISO 8601.")]})
    if timezone.is_naive(until):
        until = timezone.make_aware(until)
    try:
        return min(in_utc(until), latest)
    except forms.ValidationError as error:
        raise exceptions.ValidationError({UNTIL: error.messages}) from error


class SourcesQuerySet:
    """What ``CursorPagination`` reads a page from, for a caller whose visibility is a union
    of sources (``selectors.partner_sync_sources``): the filters, the order and the slice
    the pagination asks for are applied to each source, so that each is read from its
    index from the cursor on and stops after ``offset + page_size + 1`` rows; the page is
    then the first rows of their union, read with ``rows``' relations. The same rows, in
    the same order, as ``whole`` (the sources OR-ed): the first n rows of a union are among
    the first n of its parts. A database that cannot limit the parts of a union (SQLite,
    the embedded demo) reads ``whole``."""

    def __init__(self, sources: list[QuerySet], rows: QuerySet, whole: QuerySet, ordering=()):
        self.sources, self.rows, self.whole = sources, rows, whole
        self.ordering = tuple(ordering)

    def filter(self, *args, **kwargs) -> "SourcesQuerySet":
        sources = [source.filter(*args, **kwargs) for source in self.sources]
        whole = self.whole.filter(*args, **kwargs)
        return SourcesQuerySet(sources, self.rows, whole, self.ordering)

    def order_by(self, *ordering) -> "SourcesQuerySet":
        return SourcesQuerySet(self.sources, self.rows, self.whole, ordering)

    def __getitem__(self, window: slice) -> QuerySet:
        if not connections[self.rows.db].features.supports_slicing_ordering_in_compound:
            return self.whole.order_by(*self.ordering)[window]
        stop = window.stop
        firsts = [source.order_by(*self.ordering).values("pk")[:stop] for source in self.sources]
        union = firsts[0].union(*firsts[1:]) if len(firsts) > 1 else firsts[0]
        return self.rows.filter(pk__in=union).order_by(*self.ordering)[window]


class SyncPagination(CursorPagination):
    ordering = ("updated_at", "id")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500

    def paginate_queryset(self, queryset, request, view=None):
        self.until = parse_until(request.query_params.get(UNTIL))
        return super().paginate_queryset(queryset.filter(updated_at__lte=self.until), request, view)

    def decode_cursor(self, request):
        """A cursor is opaque, but can be forged: a position that is not a time the database
        can compare is an invalid cursor (404), not a server error."""
        cursor = super().decode_cursor(request)
        if cursor is None or cursor.position is None:
            return cursor
        try:
            position = parse_datetime(cursor.position)
            if position is None or timezone.is_naive(position):
                raise ValueError
            position = in_utc(position)
        except (ValueError, forms.ValidationError) as error:
            raise exceptions.NotFound(self.invalid_cursor_message) from error
        return Cursor(offset=cursor.offset, reverse=cursor.reverse, position=position.isoformat())

    def encode_cursor(self, cursor):
        """Every link of the pass carries its ``until``."""
        return replace_query_param(super().encode_cursor(cursor), UNTIL, self.until.isoformat())

    def get_paginated_response(self, data):
        return Response(
            {
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                UNTIL: self.until.isoformat(),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema):
        described = super().get_paginated_response_schema(schema)
        described["properties"][UNTIL] = {
            "type": "string",
            "format": "date-time",
            "description": "This pass holds the rows last updated at or before this time. "
            "Start the next pass with updated_after set to it.",
        }
        described["required"] = [*described.get("required", []), UNTIL]
        return described

    def get_schema_operation_parameters(self, view):
        return [
            *super().get_schema_operation_parameters(view),
            {
                "name": UNTIL,
                "required": False,
                "in": "query",
                "description": "The end of this pass (set by the first page, carried by next).",
                "schema": {"type": "string", "format": "date-time"},
            },
        ]
