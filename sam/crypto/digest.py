"""SM3 digest (GB/T 32905-2016) through ``cryptography`` (OpenSSL); sm3.json holds the standard's examples."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes

__all__ = ["sm3"]


def sm3(data: bytes) -> bytes:
    """The 32-byte SM3 digest of ``data``."""
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()
