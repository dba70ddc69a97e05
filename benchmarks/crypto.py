"""Throughput of sam.crypto next to the fastest alternative available, measured in the same run.

    .venv/bin/python benchmarks/crypto.py                  # the Cryptography table of docs/performance.md
    .venv/bin/python benchmarks/crypto.py --sm2-candidates # the SM2 library comparison of docs/sm2.md
    .venv/bin/python benchmarks/crypto.py --quick          # shorter timing windows (noisier)

Every alternative is first checked to compute the same bytes as sam.crypto (the same MAC, the same diversified key,
the same digest; SM2 signatures verified across), so each ratio compares equal work. Rates are the best of several
timing windows. The alternatives are pure Python: gmssl and gmalg for SM4/SM3/SM2, pyDes for 3DES (a dev
dependency; without it 3DES falls back to pycryptodome, a C library, and says so).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import os
import platform
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from types import ModuleType

from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from sam import crypto
from sam.crypto import Algorithm
from sam.crypto.padding import pad80

TDES, SM4 = Algorithm.TDES, Algorithm.SM4
H = bytes.fromhex

# GM/T 0003.5-2012 Annex A.2 (tests/sam/vectors_sm2.json).
VEC_D = H("3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8")
VEC_P = H(
    "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"
    "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13"
)
VEC_K = H("59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21")
VEC_MSG = b"message digest"
VEC_UID = b"1234567812345678"
VEC_SIG = H(
    "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3"
    "B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA"
)


def rate(fn: Callable[[], object], window: float, repeats: int = 3) -> float:
    """Best calls per second of ``fn`` over ``repeats`` windows of at least ``window`` seconds each."""
    fn()  # warm-up
    loops = 1
    while True:
        start = time.perf_counter()
        for _ in range(loops):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= window / 4:
            break
        loops *= 4
    loops = max(1, int(loops * window / elapsed))
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(loops):
            fn()
        best = max(best, loops / (time.perf_counter() - start))
    return best


def optional(name: str) -> ModuleType | None:
    """Import ``name`` if installed (the alternatives are dev dependencies)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


# --- pure-Python alternatives, written the same way as sam.crypto computes (SM4 purse variant, sources.md F1, JR/T
# 0025.2 key diversification) ---------------


def gmssl_sm4_encryptor(key: bytes) -> Callable[[bytes], bytes]:
    sm4 = importlib.import_module("gmssl.sm4")
    cipher = sm4.CryptSM4()
    cipher.set_key(key, sm4.SM4_ENCRYPT)

    def encrypt_block(block: bytes) -> bytes:
        return bytes(cipher.one_round(cipher.sk, list(block)))

    return encrypt_block


def gmalg_sm4_encryptor(key: bytes) -> Callable[[bytes], bytes]:
    cipher = importlib.import_module("gmalg").SM4(key)

    def encrypt_block(block: bytes) -> bytes:
        return bytes(cipher.encrypt(block))

    return encrypt_block


def cbc_mac(make: Callable[[bytes], Callable[[bytes], bytes]], key: bytes, data: bytes) -> bytes:
    """SM4 CBC-MAC with padding method 2 and a zero IV, left 4 bytes, on a block function (key set per call)."""
    encrypt = make(key)
    state = bytes(16)
    padded = pad80(data, 16)
    for i in range(0, len(padded), 16):
        state = encrypt(bytes(a ^ b for a, b in zip(state, padded[i : i + 16], strict=True)))
    return state[:4]


def sm4_diversify_with(make: Callable[[bytes], Callable[[bytes], bytes]], key: bytes, factor: bytes) -> bytes:
    return make(key)(factor + crypto.invert(factor))


def pycryptodome_retail_mac(key: bytes, data: bytes) -> bytes:
    """ISO 9797-1 MAC algorithm 3 with pycryptodome's DES (C): single-DES CBC, last block D(K_R) then E(K_L)."""
    des = importlib.import_module("Crypto.Cipher.DES")
    left, right = des.new(key[:8], des.MODE_ECB), des.new(key[8:], des.MODE_ECB)
    padded = pad80(data, 8)
    chained = des.new(key[:8], des.MODE_CBC, iv=bytes(8)).encrypt(padded)[-8:]
    return bytes(left.encrypt(right.decrypt(chained)))[:4]


def pydes_retail_mac(key: bytes, data: bytes) -> bytes:
    """The same ISO 9797-1 algorithm 3 MAC with pyDes (pure Python)."""
    pydes = importlib.import_module("pyDes")
    chained = pydes.des(key[:8], pydes.CBC, bytes(8)).encrypt(pad80(data, 8))[-8:]
    return bytes(pydes.des(key[:8]).encrypt(pydes.des(key[8:]).decrypt(chained)))[:4]


def pydes_tdes_diversify(key: bytes, factor: bytes) -> bytes:
    cipher = importlib.import_module("pyDes").triple_des(key)
    return bytes(cipher.encrypt(factor) + cipher.encrypt(crypto.invert(factor)))


def pycryptodome_tdes_diversify(key: bytes, factor: bytes) -> bytes:
    des3 = importlib.import_module("Crypto.Cipher.DES3")
    cipher = des3.new(key, des3.MODE_ECB)
    return bytes(cipher.encrypt(factor) + cipher.encrypt(crypto.invert(factor)))


def gmssl_sm3(data: bytes) -> bytes:
    return H(importlib.import_module("gmssl.sm3").sm3_hash(list(data)))


def gmalg_sm3(data: bytes) -> bytes:
    digest = importlib.import_module("gmalg").SM3()
    digest.update(data)
    return bytes(digest.value())


# --- the main table -------------------------------------------------------------------------------------------------


@dataclass
class Row:
    operation: str
    unit: str
    ours: float
    alternative: str
    theirs: float

    @property
    def ratio(self) -> float:
        return self.ours / self.theirs if self.theirs else float("nan")


def fastest(candidates: list[tuple[str, Callable[[], object]]], expected: object, window: float) -> tuple[str, float]:
    """The fastest alternative that computes ``expected``."""
    best = ("none available", 0.0)
    for name, fn in candidates:
        result = fn()
        if result != expected:
            raise AssertionError(f"{name} computed {result!r}, sam.crypto {expected!r}: not the same work")
        measured = rate(fn, window)
        if measured > best[1]:
            best = (name, measured)
    return best


def main_table(window: float) -> list[Row]:
    rows: list[Row] = []
    key16 = secrets.token_bytes(16)
    have_gmssl, have_gmalg = optional("gmssl.sm4") is not None, optional("gmalg") is not None
    have_pydes = optional("pyDes") is not None

    for size in (16, 1024):
        data = secrets.token_bytes(size)
        ours_mac = crypto.mac(SM4, key16, data)
        sm4_alts: list[tuple[str, Callable[[], object]]] = []
        if have_gmssl:
            sm4_alts.append(("gmssl SM4", partial(cbc_mac, gmssl_sm4_encryptor, key16, data)))
        if have_gmalg:
            sm4_alts.append(("gmalg SM4", partial(cbc_mac, gmalg_sm4_encryptor, key16, data)))
        name, theirs = fastest(sm4_alts, ours_mac, window)
        rows.append(
            Row(f"SM4 MAC, {size} B", "MAC/s", rate(partial(crypto.mac, SM4, key16, data), window), name, theirs)
        )

        ours_tdes = crypto.mac(TDES, key16, data)
        tdes_alts: list[tuple[str, Callable[[], object]]] = [("pyDes", partial(pydes_retail_mac, key16, data))]
        if not have_pydes:
            tdes_alts = [("pycryptodome DES (C; pyDes not installed)", partial(pycryptodome_retail_mac, key16, data))]
        name, theirs = fastest(tdes_alts, ours_tdes, window)
        rows.append(
            Row(
                f"3DES MAC (ISO 9797-1 alg. 3), {size} B",
                "MAC/s",
                rate(partial(crypto.mac, TDES, key16, data), window),
                name,
                theirs,
            )
        )

    factor = secrets.token_bytes(8)
    sm4_div: list[tuple[str, Callable[[], object]]] = []
    if have_gmssl:
        sm4_div.append(("gmssl SM4", lambda: sm4_diversify_with(gmssl_sm4_encryptor, key16, factor)))
    if have_gmalg:
        sm4_div.append(("gmalg SM4", lambda: sm4_diversify_with(gmalg_sm4_encryptor, key16, factor)))
    name, theirs = fastest(sm4_div, crypto.diversify(SM4, key16, factor), window)
    rows.append(
        Row(
            "SM4 diversification (1 level)",
            "keys/s",
            rate(lambda: crypto.diversify(SM4, key16, factor), window),
            name,
            theirs,
        )
    )
    tdes_div: list[tuple[str, Callable[[], object]]] = [("pyDes", partial(pydes_tdes_diversify, key16, factor))]
    if not have_pydes:
        tdes_div = [("pycryptodome DES3 (C; pyDes not installed)", partial(pycryptodome_tdes_diversify, key16, factor))]
    name, theirs = fastest(tdes_div, crypto.diversify(TDES, key16, factor), window)
    rows.append(
        Row(
            "3DES diversification (1 level)",
            "keys/s",
            rate(lambda: crypto.diversify(TDES, key16, factor), window),
            name,
            theirs,
        )
    )

    private = crypto.sm2_generate_private_key()
    public = private.public_key()
    message = secrets.token_bytes(200)  # about one DF03 record
    signature = crypto.sm2_sign(private, message)
    sign_alts: list[tuple[str, Callable[[], bytes]]] = []
    verify_alts: list[tuple[str, Callable[[], object]]] = []
    gmssl_sm2, gmalg = optional("gmssl.sm2"), optional("gmalg")
    if gmssl_sm2 is not None:
        other = gmssl_sm2.CryptSM2(private_key=private.private_bytes().hex(), public_key=public.to_bytes().hex())
        sign_alts.append(("gmssl SM2", lambda: H(other.sign_with_sm3(message))))
        verify_alts.append(("gmssl SM2", lambda: bool(other.verify_with_sm3(signature.hex(), message))))
    if gmalg is not None:
        peer = gmalg.SM2(private.private_bytes(), VEC_UID, b"\x04" + public.to_bytes())
        sign_alts.append(("gmalg SM2", lambda: b"".join(part.rjust(32, b"\0") for part in peer.sign(message))))
        verify_alts.append(("gmalg SM2", lambda: bool(peer.verify(message, signature[:32], signature[32:]))))
    name, theirs = "none available", 0.0
    for candidate, sign in sign_alts:  # signing is randomised: cross-verify instead of comparing bytes
        if not crypto.sm2_verify(public, message, sign()):
            raise AssertionError(f"{candidate}'s signature does not verify with sam.crypto: not the same work")
        measured = rate(sign, window)
        if measured > theirs:
            name, theirs = candidate, measured
    rows.append(
        Row(
            "SM2 sign (200 B message, with Z)",
            "sig/s",
            rate(lambda: crypto.sm2_sign(private, message), window),
            name,
            theirs,
        )
    )
    name, theirs = fastest(verify_alts, True, window)
    rows.append(
        Row(
            "SM2 verify (200 B message, with Z)",
            "verify/s",
            rate(lambda: crypto.sm2_verify(public, message, signature), window),
            name,
            theirs,
        )
    )

    big, small = secrets.token_bytes(1 << 20), secrets.token_bytes(16 << 10)
    sm3_alts: list[tuple[str, Callable[[], object]]] = []
    if have_gmssl:
        sm3_alts.append(("gmssl SM3", lambda: gmssl_sm3(small)))
    if have_gmalg:
        sm3_alts.append(("gmalg SM3", lambda: gmalg_sm3(small)))
    name, theirs = fastest(sm3_alts, crypto.sm3(small), window)
    rows.append(
        Row(
            "SM3 (ours 1 MiB, alternative 16 KiB buffers)",
            "MB/s",
            rate(lambda: crypto.sm3(big), window) * len(big) / 1e6,
            name,
            theirs * len(small) / 1e6,
        )
    )
    return rows


def environment() -> str:
    return (
        f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs; "
        f"cryptography {version('cryptography')}, gmalglib {version('gmalglib')}, "
        f"gmssl {version('gmssl')}, gmalg {version('gmalg')}, pyDes {version('pyDes')}"
    )


def print_main(rows: list[Row]) -> None:
    print(f"<!-- {environment()} -->")
    print("| operation | sam.crypto | fastest alternative | alternative | sam.crypto / alternative |")
    print("|---|---:|---|---:|---:|")
    for row in rows:
        print(
            f"| {row.operation} | {row.ours:,.0f} {row.unit} | {row.alternative} | {row.theirs:,.1f} {row.unit} "
            f"| {row.ratio:,.1f}× |"
        )


# --- SM2 candidates (docs/sm2.md) -----------------------------------------------------------------------------------


@dataclass
class Candidate:
    name: str
    kind: str
    verify_published: str = "-"
    fixed_k: str = "-"
    custom_uid: str = "-"
    rejects_tampered: str = "-"
    sign_rate: float = 0.0
    verify_rate: float = 0.0
    note: str = ""


def yes(flag: object) -> str:
    return "yes" if flag else "NO"


def measure_gmalglib(window: float) -> Candidate:
    lib = importlib.import_module("gmalglib.sm2")
    c = Candidate(f"gmalglib {version('gmalglib')}", "C extension")
    signer = lib.SM2(VEC_D, uid=VEC_UID, rnd_fn=lambda _n: VEC_K[::-1])  # reads k little-endian
    verifier = lib.SM2(pk=b"\x04" + VEC_P, uid=VEC_UID)
    c.verify_published = yes(verifier.verify(VEC_MSG, VEC_SIG))
    c.fixed_k = yes(signer.sign(VEC_MSG) == VEC_SIG) + " (rnd_fn, k little-endian)"
    alice = lib.SM2(VEC_D, uid=b"ALICE")
    c.custom_uid = yes(lib.SM2(pk=b"\x04" + VEC_P, uid=b"ALICE").verify(b"m", alice.sign(b"m"))) + " (uid=)"
    c.rejects_tampered = yes(not verifier.verify(VEC_MSG + b"!", VEC_SIG) and not verifier.verify(VEC_MSG, bytes(64)))
    fresh = lib.SM2(VEC_D, uid=VEC_UID)
    c.sign_rate, c.verify_rate = (
        rate(lambda: fresh.sign(VEC_MSG), window),
        rate(lambda: verifier.verify(VEC_MSG, VEC_SIG), window),
    )
    return c


def measure_tongsuopy(window: float) -> Candidate:
    ec = importlib.import_module("tongsuopy.crypto.asymciphers.ec")
    hashes = importlib.import_module("tongsuopy.crypto.hashes")
    invalid = importlib.import_module("tongsuopy.crypto.exceptions").InvalidSignature
    c = Candidate(f"tongsuopy {version('tongsuopy')}", "C (bundled BabaSSL 8.3.2 = OpenSSL 1.1.1h base), cffi")
    private = ec.derive_private_key(int.from_bytes(VEC_D, "big"), ec.SM2())
    public = ec.EllipticCurvePublicNumbers(
        int.from_bytes(VEC_P[:32], "big"), int.from_bytes(VEC_P[32:], "big"), ec.SM2()
    ).public_key()
    der = encode_dss_signature(int.from_bytes(VEC_SIG[:32], "big"), int.from_bytes(VEC_SIG[32:], "big"))
    algorithm = ec.ECDSA(hashes.SM3())

    def verifies(message: bytes, signature: bytes) -> bool:
        try:
            public.verify(signature, message, algorithm)
        except invalid:
            return False
        return True

    c.verify_published = yes(verifies(VEC_MSG, der))
    c.fixed_k = "no API"
    c.custom_uid = "NO (default ID only; EVP_PKEY_CTX_set1_id not exposed)"
    c.rejects_tampered = yes(not verifies(VEC_MSG + b"!", der))
    r, s = decode_dss_signature(private.sign(VEC_MSG, algorithm))
    assert crypto.sm2_verify(crypto.sm2_load_public_key(VEC_P), VEC_MSG, r.to_bytes(32, "big") + s.to_bytes(32, "big"))
    c.sign_rate = rate(lambda: private.sign(VEC_MSG, algorithm), window)
    c.verify_rate = rate(lambda: public.verify(der, VEC_MSG, algorithm), window)
    c.note = "DER signatures"
    return c


def measure_gmalg(window: float) -> Candidate:
    gmalg = importlib.import_module("gmalg")
    c = Candidate(f"gmalg {version('gmalg')}", "pure Python")
    k = int.from_bytes(VEC_K, "big")
    engine = gmalg.SM2(VEC_D, VEC_UID, b"\x04" + VEC_P, rnd_fn=lambda _n: k)
    r, s = engine.sign(VEC_MSG)
    c.verify_published = yes(engine.verify(VEC_MSG, VEC_SIG[:32], VEC_SIG[32:]))
    c.fixed_k = yes(r + s == VEC_SIG) + " (rnd_fn)"
    alice = gmalg.SM2(VEC_D, b"ALICE", b"\x04" + VEC_P)
    c.custom_uid = yes(alice.verify(b"m", *alice.sign(b"m"))) + " (uid arg)"
    c.rejects_tampered = yes(not engine.verify(VEC_MSG + b"!", VEC_SIG[:32], VEC_SIG[32:]))
    fresh = gmalg.SM2(VEC_D, VEC_UID, b"\x04" + VEC_P)
    c.sign_rate = rate(lambda: fresh.sign(VEC_MSG), window)
    c.verify_rate = rate(lambda: fresh.verify(VEC_MSG, VEC_SIG[:32], VEC_SIG[32:]), window)
    return c


def measure_gmssl(window: float) -> Candidate:
    sm2 = importlib.import_module("gmssl.sm2")
    c = Candidate(f"gmssl {version('gmssl')}", "pure Python")
    engine = sm2.CryptSM2(private_key=VEC_D.hex(), public_key=VEC_P.hex())
    c.verify_published = yes(engine.verify_with_sm3(VEC_SIG.hex(), VEC_MSG))
    c.fixed_k = yes(H(engine.sign_with_sm3(VEC_MSG, VEC_K.hex())) == VEC_SIG) + " (hex k argument)"
    c.custom_uid = "NO (ID hard-wired in _sm3_z)"
    c.rejects_tampered = yes(not engine.verify_with_sm3(VEC_SIG.hex(), VEC_MSG + b"!"))
    c.sign_rate = rate(lambda: engine.sign_with_sm3(VEC_MSG), window)
    c.verify_rate = rate(lambda: engine.verify_with_sm3(VEC_SIG.hex(), VEC_MSG), window)
    c.note = "hex-string API; verify skips the r, s in [1, n-1] checks (GB/T 32918.2 §7.1 B1, B2)"
    return c


def measure_smcryptopy(window: float) -> Candidate:
    sm2 = importlib.import_module("smcryptopy.sm2")
    c = Candidate(f"smcryptopy {version('smcryptopy')}", "Rust, cffi")
    pk = sm2.pk_from_sk(VEC_D.hex())
    der = encode_dss_signature(int.from_bytes(VEC_SIG[:32], "big"), int.from_bytes(VEC_SIG[32:], "big"))
    c.verify_published = yes(sm2.verify(VEC_UID, VEC_MSG, der, pk) == 1)
    c.fixed_k = "no API"
    c.custom_uid = yes(sm2.verify(b"ALICE", b"m", sm2.sign(b"ALICE", b"m", VEC_D.hex()), pk) == 1) + " (id arg)"
    c.rejects_tampered = yes(sm2.verify(VEC_UID, VEC_MSG + b"!", der, pk) == 0)
    c.sign_rate = rate(lambda: sm2.sign(VEC_UID, VEC_MSG, VEC_D.hex()), window)
    c.verify_rate = rate(lambda: sm2.verify(VEC_UID, VEC_MSG, der, pk), window)
    c.note = "DER only: a raw r‖s signature makes verify abort the interpreter (Rust panic)"
    return c


def measure_ours(window: float) -> Candidate:
    c = Candidate("sam.crypto.sm2 (gmalglib + own Z/e, checks)", "wrapper")
    private = crypto.sm2_load_private_key(VEC_D)
    public = crypto.sm2_load_public_key(VEC_P)
    c.verify_published = yes(crypto.sm2_verify(public, VEC_MSG, VEC_SIG, VEC_UID))
    c.fixed_k = "yes (tests pin the backend's k)"
    c.custom_uid = yes(crypto.sm2_verify(public, b"m", crypto.sm2_sign(private, b"m", b"ALICE"), b"ALICE"))
    c.rejects_tampered = yes(not crypto.sm2_verify(public, VEC_MSG + b"!", VEC_SIG))
    c.sign_rate = rate(lambda: crypto.sm2_sign(private, VEC_MSG), window)
    c.verify_rate = rate(lambda: crypto.sm2_verify(public, VEC_MSG, VEC_SIG), window)
    return c


def sm2_candidates(window: float) -> None:
    measures: list[tuple[str, Callable[[float], Candidate]]] = [
        ("gmalglib", measure_gmalglib),
        ("tongsuopy", measure_tongsuopy),
        ("smcryptopy", measure_smcryptopy),
        ("gmssl", measure_gmssl),
        ("gmalg", measure_gmalg),
    ]
    rows: list[Candidate] = []
    for module, measure in measures:
        if optional(module) is None:
            rows.append(Candidate(module, "-", note="not installed"))
            continue
        rows.append(measure(window))
    rows.append(measure_ours(window))
    print(f"<!-- {environment()} -->")
    print(
        "| library | kind | verifies published (r,s) | reproduces with fixed k | custom uid | rejects tampered "
        "| sign/s | verify/s | note |"
    )
    print("|---|---|---|---|---|---|---:|---:|---|")
    for c in rows:
        print(
            f"| {c.name} | {c.kind} | {c.verify_published} | {c.fixed_k} | {c.custom_uid} | {c.rejects_tampered} "
            f"| {c.sign_rate:,.0f} | {c.verify_rate:,.0f} | {c.note} |"
        )
    print(
        "| gmssl-python 2.2.2 | ctypes binding | - | - | - | - | - | - | not measurable: needs the GmSSL 3 shared "
        "library libgmssl, which Debian 12 does not package; its module gmssl.py is shadowed by gmssl's package |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sm2-candidates", action="store_true", help="compare the SM2 libraries (docs/sm2.md)")
    parser.add_argument("--quick", action="store_true", help="0.1 s timing windows instead of 0.5 s")
    args = parser.parse_args(argv)
    window = 0.1 if args.quick else 0.5
    if args.sm2_candidates:
        sm2_candidates(window)
    else:
        print_main(main_table(window))
    return 0


if __name__ == "__main__":
    sys.exit(main())
