"""Declarative card profiles: the resident health card (DDF1, DF01-DF03) and the e-purse ADF.

See docs/profiles.md for the trees, the access-state mapping and the decided open points.
"""

from healthcard.profiles.card import MF_FID, CardProfile, demo_card_profile
from healthcard.profiles.epurse import PURSE_DF_NAME, EPurseProfile, epurse_profile
from healthcard.profiles.health import HealthCardProfile, city_factor, health_card_profile
from healthcard.profiles.model import AtrLayout, DFSpec, EFSpec, KeySpec, right

__all__ = [
    "MF_FID",
    "PURSE_DF_NAME",
    "AtrLayout",
    "CardProfile",
    "DFSpec",
    "EFSpec",
    "EPurseProfile",
    "HealthCardProfile",
    "KeySpec",
    "city_factor",
    "demo_card_profile",
    "epurse_profile",
    "health_card_profile",
    "right",
]
