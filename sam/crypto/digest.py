"""SM3 digest (GB/T 32905-2016) through ``cryptography`` (OpenSSL); sm3.json holds the standard's examples."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes

__all__ = ["sm3"]


def sm3(data: bytes) -> bytes:
    """The 32-byte SM3 digest of ``data``.

    Example: GB/T 32905-2016 Example 1 (``sm3.json``).

    >>> sm3(b"abc").hex().upper()
    '66C7F0F462EEEDD9D1F2D46BDC10E4E24167C4875CF2F7A2297DA02B8F4BA8E0'
    """
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()
