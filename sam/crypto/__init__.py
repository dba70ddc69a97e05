"""Card cryptography as pure functions: ciphers, MACs, diversification, purse, secure messaging, health card.

Every function validates its inputs and raises :class:`CryptoError` (never printing key bytes). Each module's
docstring cites its source in ``shared/reference/JR/T 0025.1-2`` / ``WS/T 543``; the known-answer vectors in
``shared/vectors/`` are reproduced by ``tests/sam/test_crypto_vectors.py``.
"""

from sam.crypto.algorithm import Algorithm, block_size
from sam.crypto.auth import external_auth_cryptogram, internal_auth_response
from sam.crypto.ciphers import decrypt_cbc, decrypt_ecb, encrypt_cbc, encrypt_ecb
from sam.crypto.digest import sm3
from sam.crypto.diversify import diversify, diversify_path, invert
from sam.crypto.errors import CryptoError
from sam.crypto.health import (
    health_auth_cryptogram,
    health_card_key,
    health_session_key,
    health_sm_unwrap,
    health_sm_wrap,
)
from sam.crypto.mac import (
    MAC_BYTES,
    des_mac,
    iv_from_challenge,
    mac,
    retail_mac_3des,
    session_mac,
    sm4_mac,
    verify_mac,
    verify_session_mac,
)
from sam.crypto.padding import pad80, pad80_if_needed, unpad80
from sam.crypto.purse_crypto import (
    load_mac1,
    load_mac2,
    load_session_key,
    load_tac,
    load_tac_data,
    purchase_mac1,
    purchase_mac2,
    purchase_session_key,
    purchase_tac,
    purchase_tac_data,
    tac_mac,
    tac_session_key,
    unload_mac,
)
from sam.crypto.secure_messaging import (
    sm_decrypt_data,
    sm_encrypt_and_mac_command,
    sm_encrypt_data,
    sm_mac_command,
    verify_sm_command,
)
from sam.crypto.sm2 import (
    SM2_DEFAULT_UID,
    Sm2PrivateKey,
    Sm2PublicKey,
    sm2_generate_private_key,
    sm2_load_private_key,
    sm2_load_public_key,
    sm2_sign,
    sm2_sign_digest,
    sm2_verify,
    sm2_verify_digest,
    sm2_z,
)

__all__ = [
    "MAC_BYTES",
    "SM2_DEFAULT_UID",
    "Algorithm",
    "CryptoError",
    "Sm2PrivateKey",
    "Sm2PublicKey",
    "block_size",
    "decrypt_cbc",
    "decrypt_ecb",
    "des_mac",
    "diversify",
    "diversify_path",
    "encrypt_cbc",
    "encrypt_ecb",
    "external_auth_cryptogram",
    "health_auth_cryptogram",
    "health_card_key",
    "health_session_key",
    "health_sm_unwrap",
    "health_sm_wrap",
    "internal_auth_response",
    "invert",
    "iv_from_challenge",
    "load_mac1",
    "load_mac2",
    "load_session_key",
    "load_tac",
    "load_tac_data",
    "mac",
    "pad80",
    "pad80_if_needed",
    "purchase_mac1",
    "purchase_mac2",
    "purchase_session_key",
    "purchase_tac",
    "purchase_tac_data",
    "retail_mac_3des",
    "session_mac",
    "sm2_generate_private_key",
    "sm2_load_private_key",
    "sm2_load_public_key",
    "sm2_sign",
    "sm2_sign_digest",
    "sm2_verify",
    "sm2_verify_digest",
    "sm2_z",
    "sm3",
    "sm4_mac",
    "sm_decrypt_data",
    "sm_encrypt_and_mac_command",
    "sm_encrypt_data",
    "sm_mac_command",
    "tac_mac",
    "tac_session_key",
    "unload_mac",
    "unpad80",
    "verify_mac",
    "verify_session_mac",
    "verify_sm_command",
]
