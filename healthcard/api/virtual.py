"""The in-process virtual card and virtual SAM used by :func:`healthcard.api.open_virtual_session`.

Image files are loaded when they exist and created from the demo card / demo SAM otherwise; every persistent
change is saved back atomically (the card's ``on_commit`` hook, the SAM's ``path``), so a load in one command and
a balance in the next see the same purse.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from healthcard.cos.card import VirtualCard
from healthcard.image import load_image, save_image
from healthcard.virtual import new_demo_card
from sam.virtual import VirtualSam, load_sam_image, new_sam_image, save_sam_image

__all__ = ["virtual_card", "virtual_sam"]


def virtual_card(image: str | Path | None = None, **demo: Any) -> Any:
    """A ``VirtualCard``: from ``image`` if the file exists, else the demo card (saved to ``image`` if given)."""
    if image is not None and Path(image).exists():
        card = VirtualCard(load_image(image))
    else:
        card = new_demo_card(**demo)
        if image is not None:
            save_image(card.state, image)
    if image is not None:
        path = Path(image)
        card.on_commit = lambda: save_image(card.state, path)
    return card


def virtual_sam(image: str | Path | None = None) -> Any:
    """A ``VirtualSam``: from ``image`` if the file exists, else a new demo SAM (saved to ``image`` if given)."""
    if image is None:
        return VirtualSam()
    path = Path(image)
    if path.exists():
        return VirtualSam(load_sam_image(path), path=path)
    img = new_sam_image()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_sam_image(img, path)
    return VirtualSam(img, path=path)
