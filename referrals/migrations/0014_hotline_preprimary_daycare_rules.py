"""Default routing rules for the carer-admitted pathway (issue 16) and for the unit types no
rule reached: the Carer Support Hotline 182183, social work teams for pre-primary institutions
(PPSW) and day care for the elderly (DE). Same contract as 0003: only rules whose code is
missing are created, and reversing removes only the rules named here.

Priorities, read against 0003 (rules are tried by priority, then code):
- the hotline comes right after the statutory child-protection rules (10, 11) and before
  everything else: when a carer is admitted to hospital the person cared for may be alone
  now and must be contacted at once, whatever else the referral asks for;
- pre-primary child-family shares 60 with financial-hardship and sorts after it by code, so
  money still goes to the IFSC first, yet it comes before the generic child-family rule (61);
- elderly day care comes before the generic elderly-care rule (70)."""

from django.db import migrations

# code, priority, name_en, name_zh, needs, risk_levels, risk_factors, households,
# unit types, SLA (amount, unit), alert the office at once, when overdue
RULES = [
    ("carer-hospitalised-hotline", 15,
     "Carer admitted to hospital → Carer Support Hotline 182183",
     "照顧者入院 → 照顧者支援專線 182183",
     [], [], ["carer_hospitalised"], [], ["CARER_HOTLINE"], (2, "business_hours"), True,
     "escalate"),
    ("pre-primary-child-family", 60,
     "Child and family, young children → social work team for pre-primary institutions",
     "兒童及家庭（有幼童家庭）→ 學前單位社工隊",
     ["child_family"], [], [], ["young_children"], ["PPSW"], (3, "business_days"), False,
     "reroute"),
    ("elderly-day-care", 65,
     "Elderly care, carer of an elder → day care for the elderly (DE) or DECC",
     "長者照顧（長者照顧者）→ 長者日間護理中心／單位或長者地區中心",
     ["elderly_care"], [], [], ["carer_of_elder"], ["DE", "DECC"], (2, "business_days"),
     False, "reroute"),
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


class Migration(migrations.Migration):
    dependencies = [
        ("referrals", "0013_office_closure"),
        ("services", "0002_load_reference_data"),
    ]

    operations = [migrations.RunPython(create_rules, remove_rules)]
