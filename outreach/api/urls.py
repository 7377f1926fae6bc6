"""Outreach's partner API, mounted under ``/api/v1/`` (namespace ``api``'s neighbour)."""

from django.urls import path

from outreach.api import views

urlpatterns = [
    path(
        "outreach/lists/<uuid:public_id>/households/",
        views.HouseholdLoadView.as_view(),
        name="outreach-households",
    ),
]
