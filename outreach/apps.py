from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OutreachConfig(AppConfig):
    name = "outreach"
    verbose_name = _("Outreach: visit lists and visits")

    def ready(self) -> None:
        # Register the Celery tasks in every process (the beat schedule names them).
        from outreach import tasks  # noqa: F401
        from outreach.web.team_views import referral_origin_panel
        from referrals.web import panels

        # The referral page's "came from a caring-team visit" panel: referrals cannot
        # import outreach (the layers), so outreach hands it the panel.
        panels.register(referral_origin_panel)

        # Outreach's card on the office's dashboard and its section of the data access
        # package, handed to referrals the same way.
        from outreach.privacy import access_request_section
        from outreach.web.figure_views import dashboard_panel
        from referrals import access_requests, dashboard

        dashboard.register_panel(dashboard_panel)
        access_requests.register_section(access_request_section)

        # Outreach's demo lists, built by seed_demo after the rest of the demo.
        from outreach.demo import demo_part
        from referrals import demo_parts

        demo_parts.register_part(demo_part)
