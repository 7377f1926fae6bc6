"""Searches by name kept out of URLs (issue 14 item 9).

A name typed into a list's search box would travel in the query string (``?q=陳大文``), be
pushed into the browser's history by htmx and land in the logs of the web server and of
every proxy on the way. So the box POSTs (CSRF-protected): the text is kept in the session
under a short random id and the page is shown again at ``?search=<id>``, which paging,
sorting and the filters carry on as any other filter. The id means nothing outside the
session that made it; an unknown or expired one is ignored with a message. A ``q`` in the
URL itself is ignored, so no link the portal draws can carry a name.

Used by the district office's queue and by "my referrals".
"""

import secrets
import time
from dataclasses import dataclass
from functools import wraps

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

SESSION_KEY = "searches"
PARAMETER = "search"  # the id, in the URL
TEXT = "q"  # the text, posted by the box and handed to the list's filter
KEEP = 20  # searches remembered per session, the newest
LIFETIME_SECONDS = 2 * 60 * 60
MAX_LENGTH = 100


def allows_search(view):
    """A list page with a search box: GET shows it, POST is the box (the view calls
    ``search_posted``). A GET with the text in its URL (an old bookmark) is sent to the same
    URL without it, so the page and its links never repeat the name."""

    @require_http_methods(["GET", "POST"])
    @wraps(view)
    def page(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method == "GET" and TEXT in request.GET:
            query = request.GET.copy()
            query.pop(TEXT)
            return redirect(f"{request.path}?{query.urlencode()}" if query else request.path)
        return view(request, *args, **kwargs)

    return page


@dataclass(frozen=True)
class Search:
    """The search a page shows: its id (for the URL) and its text (for the box)."""

    id: str = ""
    text: str = ""


def _saved(request: HttpRequest) -> dict[str, dict]:
    """The session's searches still alive, by id."""
    now = time.time()
    saved = request.session.get(SESSION_KEY)
    if not isinstance(saved, dict):
        return {}
    return {
        key: entry
        for key, entry in saved.items()
        if isinstance(entry, dict) and 0 <= now - entry.get("at", 0) < LIFETIME_SECONDS
    }


def remember(request: HttpRequest, text: str) -> str:
    """Keep ``text`` in the session; the new search's id."""
    saved = _saved(request)
    search_id = secrets.token_urlsafe(6)
    saved[search_id] = {"text": text, "at": time.time()}
    newest = sorted(saved.items(), key=lambda item: item[1]["at"])[-KEEP:]
    request.session[SESSION_KEY] = dict(newest)
    return search_id


def search_posted(request: HttpRequest, url: str) -> HttpResponse:
    """The search box was sent: keep its text and show ``url`` again with the filters the
    page had (posted as ``query``) and the new search's id. An empty box (or ``clear``)
    clears the search."""
    filters = QueryDict(request.POST.get("query", ""), mutable=True)
    for name in (TEXT, PARAMETER, "page"):
        filters.pop(name, None)
    text = "" if request.POST.get("clear") else request.POST.get(TEXT, "").strip()[:MAX_LENGTH]
    if text:
        filters[PARAMETER] = remember(request, text)
    query = filters.urlencode()
    return redirect(f"{url}?{query}" if query else url)


def searched_query(request: HttpRequest) -> tuple[QueryDict, Search]:
    """The page's parameters for its filter: the URL's, with the text of ``search=<id>``
    (from this session) as ``q``; an unknown or expired id is dropped, with a message."""
    data = request.GET.copy()
    data.pop(TEXT, None)
    search_id = data.get(PARAMETER, "")
    entry = _saved(request).get(search_id) if search_id else None
    if entry is None:
        data.pop(PARAMETER, None)
        if search_id:
            messages.warning(
                request, _("That search is no longer available; search again to see its results.")
            )
        return data, Search()
    data[TEXT] = entry["text"]
    return data, Search(id=search_id, text=entry["text"])


def links_query(data: QueryDict) -> str:
    """``data`` for the page's own links (paging, sorting, ``next``): never the text, never
    the page number."""
    query = data.copy()
    query.pop(TEXT, None)
    query.pop("page", None)
    return query.urlencode()
