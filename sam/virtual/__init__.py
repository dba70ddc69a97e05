"""The virtual SAM: a software PSAM + health-card SAM speaking APDUs (see ``docs/sam.md``).

Test and demo use only: its image stores keys in clear.
"""

from sam.virtual.image import (
    IMAGE_KINDS,
    SamImage,
    SamImageError,
    keys_for_kind,
    load_sam_image,
    new_sam_image,
    save_sam_image,
)
from sam.virtual.sam import COMMANDS, VirtualSam

__all__ = [
    "COMMANDS",
    "IMAGE_KINDS",
    "SamImage",
    "SamImageError",
    "VirtualSam",
    "keys_for_kind",
    "load_sam_image",
    "new_sam_image",
    "save_sam_image",
]
