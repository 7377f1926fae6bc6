"""The routing rule for referrals naming a kindergarten or child care centre (issue 17): the
pre-primary social work team matched to that institution takes the referral. Same contract
as 0003 and 0014: the rule is created only if its code is missing, and reversing removes
only this rule.

Choices, read against 0003 and 0014 (rules are tried by priority, then code):
- priority 59, just before "pre-primary-child-family" (60). The same priority would not do:
  by code, "pre-primary-institution" sorts after "pre-primary-child-family", which would
  then take the referral to whichever PPSW team covers the sub-district. 59 is also before
  "financial-hardship" (60): a family whose child's kindergarten is named goes to the team
  that already knows the child, and a money need is still planned as its own part, to the
  IFSC (``routing.plan``). Child protection (10, 11), the hotline (15) and the urgent rules
  (20, 25) still come first;
- needs: child and family, as the pre-primary rule;
- households: none. Naming the child's kindergarten or child care centre already says that
  the family has a young child; a referrer who ticked "other" should not send the child's
  family past the team matched to the child's institution. Without a named institution (or
  without a matched team) the rule does not match, and "pre-primary-child-family" decides;
- the same SLA and overdue behaviour as "pre-primary-child-family": 3 business days, then
  re-route (to the next rule's candidates: the pre-primary rule, then child-family)."""

from django.db import migrations

# code, priority, name_en, name_zh, needs, risk_levels, risk_factors, households,
# unit types, SLA (amount, unit), alert the office at once, when overdue
RULES = [
    ("pre-primary-institution", 59,
     "Child and family, child at a kindergarten or child care centre → its matched "
     "pre-primary social work team",
     "兒童及家庭（子女就讀幼稚園或幼兒中心）→ 該校配對的學前單位社工隊",
     ["child_family"], [], [], [], ["PPSW"], (3, "business_days"), False, "reroute"),
]  # fmt: skip


def create_rules(apps, schema_editor):
    RoutingRule = apps.get_model("referrals", "RoutingRule")
    NeedCategory = apps.get_model("services", "NeedCategory")
    UnitType = apps.get_model("services", "UnitType")
    for (code, priority, name_en, name_zh, needs, levels, factors, households, types,
         (amount, unit), at_once, overdue) in RULES:  # fmt: skip
        if RoutingRule.objects.filter(code=code).exists():
            continue
        rule = RoutingRule.objects.create(
            code=code,
            priority=priority,
            name_en=name_en,
            name_zh=name_zh,
            risk_levels=levels,
            risk_factors=factors,
            households=households,
            match_institution=True,
            sla_amount=amount,
            sla_unit=unit,
            escalate_at_once=at_once,
            when_overdue=overdue,
        )
        rule.needs.set(NeedCategory.objects.filter(code__in=needs))
        rule.unit_types.set(UnitType.objects.filter(code__in=types))


def remove_rules(apps, schema_editor):
    RoutingRule = apps.get_model("referrals", "RoutingRule")
    RoutingRule.objects.filter(code__in=[rule[0] for rule in RULES]).delete()
    # Check the deferred foreign keys now: reversing further drops a column of this table
    # (0019), which PostgreSQL refuses while the deletion's checks are pending.
    schema_editor.connection.check_constraints()


class Migration(migrations.Migration):
    dependencies = [
        ("referrals", "0020_case_owners"),
        ("services", "0003_serviceunit_social_workers_institution"),
    ]

    operations = [migrations.RunPython(create_rules, remove_rules)]
