"""The indexes the list pages are read through (issue 20).

* ``referral_recent``: "my referrals", newest first, with the columns the visibility rules
  and the list's filters ask, so a page is an index-only scan that stops after its rows
  instead of a sort of all the referrals a district officer sees.
* The queue's two indexes gain the columns its views and filters read (risk level, unit,
  submission and due times), so the capped result count and the page's ids are index-only
  scans; before, the count read a district's rows from the table (20,000 blocks for "open,
  urgent, housing" at a million referrals). ``referral_queue_age`` also holds the
  sub-district, for the dashboard's caseload of the week and month by sub-district.

At 1,000,000 referrals each index takes about 10 s to build (see docs).
"""

from django.db import migrations, models

QUEUE = ["status", "overdue_at", "escalated_at", "risk_level", "assigned_unit"]


class Migration(migrations.Migration):
    dependencies = [("referrals", "0023_sync_index")]

    operations = [
        migrations.AddIndex(
            model_name="referral",
            index=models.Index(
                fields=["-created_at", "-id"],
                include=["district", "referrer", "status", "risk_level", "assigned_unit"],
                name="referral_recent",
            ),
        ),
        migrations.RemoveIndex(model_name="referral", name="referral_queue_urgency"),
        migrations.AddIndex(
            model_name="referral",
            index=models.Index(
                fields=["district", "-urgency", "due_at", "id"],
                include=[*QUEUE, "submitted_at"],
                condition=~models.Q(status="draft"),
                name="referral_queue_urgency",
            ),
        ),
        migrations.RemoveIndex(model_name="referral", name="referral_queue_age"),
        migrations.AddIndex(
            model_name="referral",
            index=models.Index(
                fields=["district", "submitted_at", "id"],
                include=[*QUEUE, "urgency", "due_at", "sub_district"],
                condition=~models.Q(status="draft"),
                name="referral_queue_age",
            ),
        ),
    ]
