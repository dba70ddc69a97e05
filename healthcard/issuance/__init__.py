"""Personalisation (issuance): profile + person + issuer config + key source → the APDU script of a card."""

from healthcard.issuance.issuer import IssuerConfig, load_issuer
from healthcard.issuance.keysource import DemoKeySource, KeySource
from healthcard.issuance.script import (
    CommandChannel,
    Report,
    Step,
    StepKind,
    card_no_for,
    new_chip_number,
    personalise,
    plan,
)

__all__ = [
    "CommandChannel",
    "DemoKeySource",
    "IssuerConfig",
    "KeySource",
    "Report",
    "Step",
    "StepKind",
    "card_no_for",
    "load_issuer",
    "new_chip_number",
    "personalise",
    "plan",
]
