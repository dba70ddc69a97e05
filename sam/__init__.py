"""SAM layer: card cryptography (:mod:`sam.crypto`), key stores, the virtual SAM and the terminal-side client.

Imports only :mod:`apdu` of this project (docs/architecture.md). See ``docs/sam.md``.
"""

from sam.client import SamClient
from sam.keystore import (
    KeyEntry,
    KeyLengthError,
    KeyStore,
    KeyStoreError,
    KeyUsage,
    UnknownKeyError,
    load_demo_keys,
    load_keystore,
    save_keystore,
)
from sam.profile import VIRTUAL_SAM_PROFILE, SamProfile, load_sam_profile
from sam.virtual import SamImage, SamImageError, VirtualSam, load_sam_image, new_sam_image, save_sam_image

__all__ = [
    "VIRTUAL_SAM_PROFILE",
    "KeyEntry",
    "KeyLengthError",
    "KeyStore",
    "KeyStoreError",
    "KeyUsage",
    "SamClient",
    "SamImage",
    "SamImageError",
    "SamProfile",
    "UnknownKeyError",
    "VirtualSam",
    "load_demo_keys",
    "load_keystore",
    "load_sam_image",
    "load_sam_profile",
    "new_sam_image",
    "save_keystore",
    "save_sam_image",
]
