"""Referrals' tables, one module per concept; every name is importable from here.

Workflow lives in ``referrals/services.py`` (and the modules it names); reads that carry a
rule (visibility, duplicates) in ``referrals/selectors.py``. These modules hold tables,
choices and small invariants.
"""

from referrals.models.audit import AccessLog, ApiIntake
from referrals.models.calendar import OfficeClosure
from referrals.models.choices import (
    CLOSED_STATUSES,
    OPEN_STATUSES,
    RISK_OF,
    RISK_ORDER,
    SERVING_STATUSES,
    ConsentBasis,
    ConsentGivenBy,
    ConsentMethod,
    ConsentWithdrawalMethod,
    Household,
    RiskFactor,
    RiskLevel,
    Sex,
    Status,
    risk_level_of,
)
from referrals.models.messaging import Delivery, Notification, WebhookEndpoint, new_webhook_secret
from referrals.models.notice import ContactAttempt, ContactOutcome, NoNeedReason, UrgentNotice
from referrals.models.outbox import OutboxMessage
from referrals.models.referral import ReferenceSequence, Referral, ReferralEvent, ReferralQuerySet
from referrals.models.routing import ChoiceListValidator, RoutingRule
from referrals.models.task import (
    LEFT_TASK_STATUSES,
    OPEN_TASK_STATUSES,
    TASK_STATUSES,
    ReferralTask,
    UnitMessage,
)
from referrals.models.transfer import HANDOVER_TEMPLATE, TransferCase, TransferPlan

__all__ = [
    "CLOSED_STATUSES",
    "LEFT_TASK_STATUSES",
    "OPEN_STATUSES",
    "OPEN_TASK_STATUSES",
    "RISK_OF",
    "RISK_ORDER",
    "SERVING_STATUSES",
    "TASK_STATUSES",
    "HANDOVER_TEMPLATE",
    "AccessLog",
    "ApiIntake",
    "ChoiceListValidator",
    "ConsentBasis",
    "ContactAttempt",
    "ContactOutcome",
    "ConsentGivenBy",
    "ConsentMethod",
    "ConsentWithdrawalMethod",
    "Delivery",
    "Household",
    "NoNeedReason",
    "Notification",
    "OfficeClosure",
    "OutboxMessage",
    "ReferenceSequence",
    "Referral",
    "ReferralEvent",
    "ReferralQuerySet",
    "ReferralTask",
    "RiskFactor",
    "RiskLevel",
    "RoutingRule",
    "Sex",
    "Status",
    "TransferCase",
    "TransferPlan",
    "UnitMessage",
    "UrgentNotice",
    "WebhookEndpoint",
    "new_webhook_secret",
    "risk_level_of",
]
