from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import render

from services.filters import DirectoryFilter
from services.selectors import directory_units

UNITS_PER_PAGE = 25


@login_required
def directory(request):
    unit_filter = DirectoryFilter(request.GET, queryset=directory_units())
    units = unit_filter.qs if unit_filter.is_valid() else directory_units().none()
    page = Paginator(units, UNITS_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "services/directory.html",
        {"filter": unit_filter, "page": page, "query": query.urlencode()},
    )
