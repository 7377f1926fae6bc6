"""A partner's sync in index order (issue 20): the lead unit's organisation on the referral,
kept with ``assigned_unit`` (``Referral.save``, ``lead_unit_columns``), the flag for a lead
that moved between organisations, and the indexes each source of the partner's visibility
is read through. The backfill is set-based SQL (one ``UPDATE`` each)."""

import django.db.models.deletion
from django.db import migrations, models

BACKFILL = [
    """
    UPDATE referrals_referral AS r SET organisation_id = u.organisation_id
    FROM services_serviceunit AS u
    WHERE u.id = r.assigned_unit_id
    """,
    # An earlier lead's organisation that still sees the referral through its closed lead
    # task (``selectors.tasks_seen_by``): the rows ``lead_moved`` must name.
    """
    UPDATE referrals_referral AS r SET lead_moved = TRUE
    WHERE EXISTS (
        SELECT 1 FROM referrals_referraltask AS t
        JOIN services_serviceunit AS u ON u.id = t.unit_id
        WHERE t.referral_id = r.id AND t.is_lead
          AND t.status NOT IN ('rejected', 'cancelled')
          AND u.organisation_id IS DISTINCT FROM r.organisation_id
    )
    """,
]


def backfill(apps, schema_editor):
    Referral = apps.get_model("referrals", "Referral")
    ServiceUnit = apps.get_model("services", "ServiceUnit")
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            for statement in BACKFILL:
                cursor.execute(statement)
        return
    # SQLite (the embedded demo): the same, a unit at a time.
    for unit_id, organisation_id in ServiceUnit.objects.values_list("pk", "organisation_id"):
        Referral.objects.filter(assigned_unit_id=unit_id).update(organisation_id=organisation_id)
    Task = apps.get_model("referrals", "ReferralTask")
    moved = (
        Task.objects.filter(is_lead=True)
        .exclude(status__in=["rejected", "cancelled"])
        .exclude(unit__organisation_id=models.F("referral__organisation_id"))
        .values("referral_id")
    )
    Referral.objects.filter(pk__in=moved).update(lead_moved=True)
    Referral.objects.filter(
        pk__in=Task.objects.filter(is_lead=True, referral__organisation_id=None)
        .exclude(status__in=["rejected", "cancelled"])
        .values("referral_id")
    ).update(lead_moved=True)


class Migration(migrations.Migration):
    dependencies = [
        ("referrals", "0022_case_note_event"),
        ("services", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="referral",
            name="organisation",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="services.organisation",
                verbose_name="lead unit's organisation",
            ),
        ),
        migrations.AddField(
            model_name="referral",
            name="lead_moved",
            field=models.BooleanField(
                db_default=False,
                default=False,
                editable=False,
                verbose_name="lead moved between organisations",
            ),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=False),
        migrations.AddIndex(
            model_name="referral",
            index=models.Index(
                condition=models.Q(("status", "draft"), _negated=True),
                fields=["organisation", "updated_at", "id"],
                name="referral_partner_sync",
            ),
        ),
        migrations.AddIndex(
            model_name="referral",
            index=models.Index(
                condition=models.Q(("status", "draft"), _negated=True),
                fields=["referrer", "updated_at", "id"],
                name="referral_referrer_sync",
            ),
        ),
        migrations.AddIndex(
            model_name="referral",
            index=models.Index(
                condition=models.Q(
                    ("lead_moved", True), models.Q(("status", "draft"), _negated=True)
                ),
                fields=["updated_at", "id"],
                name="referral_lead_moved_sync",
            ),
        ),
        migrations.AddIndex(
            model_name="referraltask",
            index=models.Index(
                condition=models.Q(
                    ("is_lead", False),
                    models.Q(("status__in", ["rejected", "cancelled"]), _negated=True),
                ),
                fields=["unit", "referral"],
                name="task_part_seen",
            ),
        ),
    ]
