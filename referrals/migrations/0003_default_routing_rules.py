"""Hong Kong default routing rules. Headquarters edits them in the admin afterwards; this
migration only creates rules whose code is missing, and removing it removes only those."""

from django.db import migrations

# code, priority, name_en, name_zh, needs, risk_levels, risk_factors, households,
# unit types, SLA (amount, unit), alert the office at once, when overdue
RULES = [
    ("child-protection", 10, "Child protection and family violence → FCPSU",
     "保護兒童及家庭暴力 → 保護家庭及兒童服務課",
     ["child_protection"], [], [], [], ["FCPSU"], (4, "business_hours"), True, "escalate"),
    ("abuse-signs-children", 11, "Signs of abuse in a family with young children → FCPSU",
     "有幼童家庭出現虐待跡象 → 保護家庭及兒童服務課",
     [], [], ["abuse_or_neglect"], ["young_children"], ["FCPSU"], (4, "business_hours"),
     True, "escalate"),
    ("mental-health-urgent", 20, "Mental health, urgent → ICCMW",
     "精神健康（緊急）→ 精神健康綜合社區中心",
     ["mental_health"], ["urgent"], [], [], ["ICCMW"], (4, "business_hours"), True, "escalate"),
    ("emergency-relief", 25, "Emergency relief → IFSC", "緊急援助 → 綜合家庭服務中心",
     ["emergency_relief"], [], [], [], ["IFSC", "ISC"], (4, "business_hours"), False, "reroute"),
    ("disability-carer", 30, "Carer of a person with disability → DSC or PRC",
     "殘疾人士照顧者 → 殘疾人士地區支援中心或家長／親屬資源中心",
     ["carer_support", "disability_support"], [], [], ["carer_of_disabled"], ["DSC", "PRC"],
     (2, "business_days"), False, "reroute"),
    ("disability-support", 31, "Disability support → DSC or PRC",
     "殘疾人士支援 → 殘疾人士地區支援中心或家長／親屬資源中心",
     ["disability_support"], [], [], [], ["DSC", "PRC"], (2, "business_days"), False, "reroute"),
    ("mental-health", 40, "Mental health → ICCMW", "精神健康 → 精神健康綜合社區中心",
     ["mental_health"], [], [], [], ["ICCMW"], (2, "business_days"), False, "reroute"),
    ("carer-support", 50, "Carer support → elderly centre (DECC/NEC) or PRC",
     "照顧者支援 → 長者中心（長者地區中心／長者鄰舍中心）或家長／親屬資源中心",
     ["carer_support"], [], [], [], ["DECC", "NEC", "PRC"], (2, "business_days"), False,
     "reroute"),
    ("financial-hardship", 60, "Financial hardship → IFSC", "經濟困難 → 綜合家庭服務中心",
     ["financial_hardship"], [], [], [], ["IFSC", "ISC"], (2, "business_days"), False, "reroute"),
    ("child-family", 61, "Child and family → IFSC", "兒童及家庭 → 綜合家庭服務中心",
     ["child_family"], [], [], [], ["IFSC", "ISC"], (3, "business_days"), False, "reroute"),
    ("elderly-care", 70, "Elderly care → elderly centre (DECC/NEC)",
     "長者照顧 → 長者中心（長者地區中心／長者鄰舍中心）",
     ["elderly_care"], [], [], [], ["DECC", "NEC"], (3, "business_days"), False, "reroute"),
    ("housing", 80, "Housing → IFSC", "住屋 → 綜合家庭服務中心",
     ["housing"], [], [], [], ["IFSC", "ISC"], (3, "business_days"), False, "reroute"),
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
        ("referrals", "0002_routing_notifications"),
        ("services", "0002_load_reference_data"),
    ]

    operations = [migrations.RunPython(create_rules, remove_rules)]
