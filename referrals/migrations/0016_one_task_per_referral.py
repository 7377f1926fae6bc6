"""Every referral a unit holds (or held) gets its one task: the unit, its status, rule,
deadline, outcome and needs, as the referral carries them; the unit's timeline events are
linked to it. Written as set-based SQL, so a million referrals migrate in one pass each
(timed on the benchmark copy: see docs/benchmarks.md). Referrals never given to a unit
(drafts, submitted, in triage) get none. The reverse removes the tasks."""

from django.db import migrations

# The referral statuses a unit's task can carry; a referral in another one (draft,
# submitted, triage) is not with a unit.
TASK_STATUSES = (
    "assigned",
    "accepted",
    "rejected",
    "in_progress",
    "on_hold",
    "completed",
    "failed",
    "cancelled",
    "entered_in_error",
)
OPEN_TASK_STATUSES = ("assigned", "accepted", "in_progress", "on_hold")


def _in(values) -> str:
    return "(" + ", ".join(f"'{value}'" for value in values) + ")"


def one_task_per_referral(apps, schema_editor):
    connection = schema_editor.connection
    new_uuid = (
        "gen_random_uuid()" if connection.vendor == "postgresql" else "lower(hex(randomblob(16)))"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO referrals_referraltask (
                public_id, referral_id, unit_id, is_lead, part_of_id, status, version,
                routing_rule_id, due_at, overdue_at, outcome_summary, services_provided,
                created_at, updated_at, closed_at
            )
            SELECT
                {new_uuid}, r.id, r.assigned_unit_id, TRUE, NULL, r.status, 1,
                r.routing_rule_id, r.due_at, r.overdue_at, r.outcome_summary,
                r.services_provided,
                COALESCE(
                    (SELECT MAX(e.at) FROM referrals_referralevent e
                     WHERE e.referral_id = r.id AND e.kind = 'routing'
                       AND e.unit_id = r.assigned_unit_id),
                    r.submitted_at,
                    r.created_at
                ),
                r.updated_at,
                CASE WHEN r.status IN {_in(OPEN_TASK_STATUSES)} THEN NULL
                     ELSE COALESCE(r.closed_at, r.updated_at) END
            FROM referrals_referral r
            WHERE r.assigned_unit_id IS NOT NULL AND r.status IN {_in(TASK_STATUSES)}
              AND NOT EXISTS (
                  SELECT 1 FROM referrals_referraltask t WHERE t.referral_id = r.id
              )
            """
        )
        cursor.execute(
            """
            INSERT INTO referrals_referraltask_needs (referraltask_id, needcategory_id)
            SELECT t.id, rn.needcategory_id
            FROM referrals_referraltask t
            JOIN referrals_referral_needs rn ON rn.referral_id = t.referral_id
            WHERE NOT EXISTS (
                SELECT 1 FROM referrals_referraltask_needs tn WHERE tn.referraltask_id = t.id
            )
            """
        )
        # The unit's own steps since it was given the referral belong to its task.
        cursor.execute(
            """
            UPDATE referrals_referralevent SET task_id = t.id
            FROM referrals_referraltask t
            WHERE t.referral_id = referrals_referralevent.referral_id
              AND t.unit_id = referrals_referralevent.unit_id
              AND referrals_referralevent.at >= t.created_at
              AND referrals_referralevent.task_id IS NULL
            """
        )


def remove_tasks(apps, schema_editor):
    apps.get_model("referrals", "ReferralEvent").objects.update(task=None)
    apps.get_model("referrals", "ReferralTask").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("referrals", "0015_referral_tasks")]

    operations = [migrations.RunPython(one_task_per_referral, remove_tasks, elidable=False)]
