"""The error raised by every function of :mod:`sam.crypto`.

Messages name the parameter and the expected size, never the key or data bytes (DEVELOPERS.md, secrets rule).
"""

from __future__ import annotations

from apdu.errors import LibraryError

__all__ = ["CryptoError"]


class CryptoError(LibraryError, ValueError):
    """Bad key length, bad block size, malformed padding or a MAC that does not verify."""
