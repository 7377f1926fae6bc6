from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from accounts.selectors import office_districts_with_unit_counts, role_overview
from services.selectors import directory_totals


@login_required
def home(request):
    overview = role_overview(user=request.user)
    context = {"overview": overview}
    if overview.offices:
        context["office_districts"] = office_districts_with_unit_counts(offices=overview.offices)
    if overview.is_administrator:
        context["totals"] = directory_totals()
    return render(request, "accounts/home.html", context)
