"""The dashboard's counts from indexes alone (issue 20): the open caseload's index includes
the sub-district it groups by and the due time "overdue" is asked of (``overdue_q``; the
sweep's mark ``overdue_at``, never counted, makes room); a district's closures (and the
weeks' completions) by closing time; a district's referral ids, for the timeline counts to
join with; the declines and failures of the last days. Each built in 1-3 s at 1,000,000
referrals (0.8-1.5 s measured, with five other sessions on two cores)."""

from django.db import migrations, models

OPEN = ["submitted", "triage", "assigned", "accepted", "rejected", "in_progress", "on_hold"]


class Migration(migrations.Migration):
    dependencies = [("referrals", "0024_page_indexes")]

    operations = [
        migrations.RemoveIndex(model_name="referral", name="referral_open_caseload"),
        migrations.AddIndex(
            model_name="referral",
            index=models.Index(
                fields=["district"],
                include=["status", "assigned_unit", "due_at", "escalated_at", "sub_district"],
                condition=models.Q(status__in=OPEN),
                name="referral_open_caseload",
            ),
        ),
        migrations.AddIndex(
            model_name="referral",
            index=models.Index(
                fields=["district", "closed_at"],
                include=["status", "submitted_at"],
                condition=models.Q(status__in=["completed", "failed"]),
                name="referral_closed_outcomes",
            ),
        ),
        migrations.AddIndex(
            model_name="referral",
            index=models.Index(fields=["district", "id"], name="referral_district_ids"),
        ),
        migrations.AddIndex(
            model_name="referralevent",
            index=models.Index(
                fields=["at"],
                include=["referral", "to_status"],
                condition=models.Q(kind="status", to_status__in=["rejected", "failed"]),
                name="referral_event_refusals",
            ),
        ),
    ]
