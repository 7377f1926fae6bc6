"""Outreach's pages, mounted at ``/outreach/`` (namespace ``outreach``)."""

from django.urls import path

from outreach.web import figure_views, list_views, team_views

app_name = "outreach"

urlpatterns = [
    path("", team_views.outreach_home, name="home"),
    # The district office: visit lists, loading households, moving them between teams.
    path("lists/", list_views.list_index, name="lists"),
    path("lists/new/", list_views.list_create, name="list_create"),
    path("lists/<uuid:public_id>/", list_views.list_detail, name="list_detail"),
    path("lists/<uuid:public_id>/import/", list_views.list_import, name="list_import"),
    path("lists/<uuid:public_id>/move/", list_views.households_move, name="households_move"),
    path(
        "households/<uuid:public_id>/priority/",
        list_views.household_priority,
        name="household_priority",
    ),
    # The caring team: its list, a household, a visit, a referral from it.
    path("team/", team_views.team_list, name="team_list"),
    path("team/<int:team_id>/", team_views.team_list, name="team_list_of"),
    path("households/<uuid:public_id>/", team_views.household_detail, name="household"),
    path("households/<uuid:public_id>/visit/", team_views.visit_new, name="visit_new"),
    path("households/<uuid:public_id>/reopen/", team_views.household_reopen, name="reopen"),
    path(
        "visits/<uuid:public_id>/refer/<int:person_id>/",
        team_views.visit_refer,
        name="visit_refer",
    ),
    # Figures: per list and per team, by week.
    path("figures/", figure_views.figures, name="figures"),
    path("figures.csv", figure_views.figures_export, name="figures_export"),
]
