"""The virtual SAM: a software PSAM + health-card SAM speaking APDUs (see ``docs/sam.md``).

Test and demo use only: its image stores keys in clear.
"""

from sam.virtual.image import (
    SamImage,
    SamImageError,
    load_sam_image,
    new_sam_image,
    save_sam_image,
)
from sam.virtual.sam import COMMANDS, VirtualSam

__all__ = [
    "COMMANDS",
    "SamImage",
    "SamImageError",
    "VirtualSam",
    "load_sam_image",
    "new_sam_image",
    "save_sam_image",
]
