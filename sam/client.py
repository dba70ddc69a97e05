"""SamClient: the terminal-side SAM API, over any :class:`apdu.channel.Channel` — the only one in the project.

The card API (:mod:`healthcard.api`) and the daemon use this class directly: there is no second implementation
of a SAM (the hospital host's :class:`daemon.host.keystore.HostKeyStore` answers other questions, and a host that
authorises loads is a :class:`healthcard.api.purse.LoadAuthoriser`), so no protocol stands in between.

PIN gating: the SAM PIN gates every key-using command of the virtual SAM (the ``80 DE`` derivations,
``80 1A``/``80 FA``, purchase MAC1/MAC2, load authorisation and SM2 signing; 健康卡 SAM spec: commands, docs/sam.md).
A client given ``pin=`` verifies it once, before the first operation that needs it, and again after
:meth:`SamClient.forget` (a SAM reset); without one, a PIN-gated health-card, load or signing operation raises
:class:`~apdu.errors.MissingInputError` (``needs="sam_pin"``) before any APDU, while purse commands
(purchase, line protection) are sent anyway for PSAMs that need no PIN. The PIN is kept only in the object,
never logged or shown in ``repr``. The terminal number, the SM2 public key and the certificate are read once.

The same code drives the virtual SAM in-process (:class:`apdu.inprocess.InProcessTransport`), the virtual SAM
served into pcscd over vpcd, or a real PSAM / health-card SAM through :class:`apdu.pcsc.PcscTransport`; what
differs between SAM vendors comes from the :class:`~sam.profile.SamProfile`. Every failing status word raises the
SAM variant of the typed error (``apdu.errors.SamMacError`` for ``9302``, ``SamPinError`` with ``tries_left`` for
``63Cx`` ...), ``layer`` = :attr:`apdu.errors.Layer.SAM`. No method returns a master key; PINs, plaintexts and
session data are redacted in traces by the command builders.

Sources: JR/T 0025.2 purchase with a PSAM (purchase), PSAM COS, sources.md V2 (PSAM commands and files), JR/T 0025.1
secure messaging (line protection, external authentication); WS/T 543.4 keys, commands; 健康卡 SAM spec (health SAM);
docs/sam.md (the project-extension commands).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence

from apdu import healthsam, iso, psam
from apdu.bcd import encode_datetime
from apdu.channel import Channel
from apdu.command import Command, Redact
from apdu.errors import DataError, Layer, MacError, MissingInputError, PinBlockedError, PinError, error_for
from apdu.pboc import TransactionType
from apdu.response_records import SamPublicInfo, SamPurchaseInitResponse, TerminalInfo
from sam.crypto import Algorithm, block_size, iv_from_challenge, pad80
from sam.crypto.sm2 import SM2_DEFAULT_UID, sm2_load_public_key, sm2_z
from sam.profile import VIRTUAL_SAM_PROFILE, SamProfile

__all__ = ["SamClient"]

_MF = 0x3F00
_PUBLIC_INFO_FID = 0x0015
_MAC_BYTES = 4
_CERTIFICATE_FID = 0x001C
_CERTIFICATE_BYTES = 190


def _check(name: str, value: bytes, *lengths: int) -> bytes:
    if not isinstance(value, bytes | bytearray) or len(value) not in lengths:
        allowed = " or ".join(str(n) for n in lengths)
        raise DataError(f"{name}: {allowed} bytes required", field=name)
    return bytes(value)


def _chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)] or [b""]


class SamClient:
    """Terminal-side operations on one SAM.

    Parameters
    ----------
    channel:
        The APDU channel to the SAM (it resolves ``61xx`` with GET RESPONSE).
    profile:
        Vendor parameters; the virtual SAM's by default.
    pin:
        The SAM PIN, verified once before the first PIN-gated operation (module docstring).
    """

    def __init__(self, channel: Channel, profile: SamProfile = VIRTUAL_SAM_PROFILE, *, pin: str | None = None) -> None:
        self._channel = channel
        self.profile = profile
        self._pin = pin
        self._pin_ok = False
        self._terminal: bytes | None = None
        self._public_key: bytes | None = None
        self._certificate: bytes | None = None

    def __repr__(self) -> str:
        return f"SamClient({self._channel.transport.name!r}, profile={self.profile.name!r}, pin=<hidden>)"

    def forget(self) -> None:
        """The SAM was reset: verify the PIN again before the next PIN-gated operation."""
        self._pin_ok = False

    def _need_pin(self, *, required: bool = True) -> None:
        """VERIFY the SAM PIN once. ``required=False`` (PSAM purse commands): without a PIN the command is sent
        anyway, for PSAMs that need none; a SAM that does answers ``6982`` (SamError)."""
        if self._pin_ok:
            return
        if self._pin is None:
            if not required:
                return
            raise MissingInputError(
                "this SAM operation needs the SAM PIN, and none was given to the session", needs="sam_pin"
            )
        self.verify_pin(self._pin)

    @property
    def channel(self) -> Channel:
        """The underlying channel."""
        return self._channel

    def _send(self, command: Command) -> bytes:
        return self._channel.send(command, layer=Layer.SAM).data

    # --- files --------------------------------------------------------------------------------------------

    def select_mf(self) -> None:
        """SELECT the MF (``00 A4 00 00 02 3F00``)."""
        self._send(iso.select_fid(_MF))

    def select_health_df(self) -> None:
        """SELECT the health-card application DF (DF01, 健康卡 SAM spec: files)."""
        self.select_mf()
        self._send(iso.select_fid(self.profile.health_df))

    def terminal_id(self) -> bytes:
        """The 6-byte terminal ID from EF16 (``00 B0 96 00 06`` at the MF, PSAM files, sources.md V2), read once."""
        if self._terminal is None:
            self.select_mf()
            self._terminal = TerminalInfo.parse(self._send(psam.read_terminal_id())).terminal_id
        return self._terminal

    def public_info(self) -> SamPublicInfo:
        """EF0015: SAM serial, version, key-card type, command-set version (健康卡 SAM spec: files)."""
        self.select_mf()
        self._send(iso.select_fid(_PUBLIC_INFO_FID))
        return SamPublicInfo.parse(self._send(healthsam.read_public_info()))

    def read_file(self, fid: int, length: int) -> bytes:
        """SELECT an EF of the health DF and READ BINARY ``length`` bytes (001A, 001B, 001C ...)."""
        self.select_health_df()
        self._send(iso.select_fid(fid))
        return self._send(iso.read_binary(0, length))

    # --- PIN ----------------------------------------------------------------------------------------------

    def pin_tries_left(self) -> int | None:
        """Tries left for the SAM PIN (VERIFY without data); ``None`` if the PIN is verified already."""
        response = self._channel.transmit(iso.verify(b"", key_id=self.profile.pin_key_id))
        if response.ok:
            return None
        error = error_for(response.sw, layer=Layer.SAM)
        if isinstance(error, PinBlockedError):
            return 0
        if isinstance(error, PinError) and error.tries_left is not None:
            return error.tries_left
        raise error

    def verify_pin(self, pin: str) -> None:
        """VERIFY the SAM PIN in DF01 (decimal digits, e.g. ``"123456"``); raises ``SamPinError``
        (``tries_left``). Remembered for later PIN-gated operations."""
        self.select_health_df()
        self._send(healthsam.verify_pin(pin, key_id=self.profile.pin_key_id))
        self._pin, self._pin_ok = pin, True

    def change_pin(self, old: str, new: str) -> None:
        """CHANGE PIN ``80 5E 01 00 | old ‖ FF ‖ new`` in DF01 (健康卡 SAM spec: commands); ``new`` is remembered."""
        self.select_health_df()
        self._send(healthsam.change_pin(old, new, key_id=self.profile.pin_key_id))
        self._pin = new

    # --- purchase (JR/T 0025.2 purchase with a PSAM) --------------------------------------------------------------

    def init_for_purchase(
        self,
        *,
        icc_random: bytes,
        card_counter: int,
        amount: int,
        when: _dt.datetime,
        key_version: int,
        algorithm: int,
        factors: Sequence[bytes],
        transaction_type: int = 0x06,
    ) -> SamPurchaseInitResponse:
        """INIT_SAM_FOR_PURCHASE: the SAM's next terminal serial and MAC1 for DEBIT FOR PURCHASE.

        ``factors`` are given card-specific first (application serial, then issuer ID); the profile decides
        their order in the APDU. No factors (Lc ``14``) asks the SAM to use its purchase key undiversified.
        ``key_version`` and ``algorithm`` are copied from the card's INITIALIZE FOR
        PURCHASE answer. ``amount`` is in fen. The SAM PIN first, when the client has one.
        """
        self._need_pin(required=False)
        p1, p2 = self.profile.purchase_p1p2
        ordered = self.profile.order_factors(list(factors))
        command = psam.init_sam_for_purchase(
            icc_random=icc_random,
            card_counter=card_counter,
            amount=amount,
            transaction_type=transaction_type,
            when=when,
            key_version=key_version,
            algorithm=algorithm,
            factors=ordered or [bytes(8)],
            p1=p1,
            p2=p2,
        )
        if not ordered:  # zero levels (Lc 14): the purchase key is used undiversified
            command = Command(command.cla, command.ins, command.p1, command.p2, command.data[:-8], command.le)
        return SamPurchaseInitResponse.parse(self._send(command))

    def credit_for_purchase(self, mac2: bytes) -> None:
        """CREDIT_SAM_FOR_PURCHASE: verify the card's MAC2; raises ``SamMacError`` (9302) if it is wrong."""
        self._need_pin(required=False)
        p1, p2 = self.profile.credit_p1p2
        self._send(psam.credit_sam_for_purchase(mac2, p1=p1, p2=p2))

    # --- load authorisation (project extension, docs/sam.md) -------------------------------------------------

    def authorise_load(
        self,
        *,
        icc_random: bytes,
        online_counter: int,
        balance_before: int,
        amount: int,
        terminal_id: bytes,
        when: _dt.datetime,
        mac1: bytes,
        key_version: int,
        algorithm: int,
        factors: Sequence[bytes],
        transaction_type: int = 0x02,
    ) -> bytes:
        """Verify the card's load MAC1 and return MAC2 for CREDIT FOR LOAD (JR/T 0025.2 load MAC/TAC).

        A project extension of the virtual SAM (``80 7C``): real PSAMs do not hold load keys. Needs the SAM PIN.
        """
        data = self._authorisation_data(
            icc_random, online_counter, balance_before, amount, transaction_type, terminal_id, when, mac1,
            key_version, algorithm, factors,
        )  # fmt: skip
        mac2 = self._send(Command(0x80, self.profile.load_mac2_ins, 0, 0, data, 4, redact=Redact.RESPONSE_DATA))
        return _check("load MAC2", mac2, 4)

    def authorise_unload(
        self,
        *,
        icc_random: bytes,
        online_counter: int,
        balance_before: int,
        amount: int,
        terminal_id: bytes,
        when: _dt.datetime,
        mac1: bytes,
        key_version: int,
        algorithm: int,
        factors: Sequence[bytes],
    ) -> tuple[bytes, bytes]:
        """Verify the card's unload MAC1 (type 03) and return ``(MAC2, expected answer MAC)`` for DEBIT FOR UNLOAD.

        The same extension command as :meth:`authorise_load` (``80 7C``) with type 03: the virtual SAM uses its
        unload master key (docs/sam.md; ``9403`` when it has none). Needs the SAM PIN.
        """
        data = self._authorisation_data(
            icc_random, online_counter, balance_before, amount, TransactionType.UNLOAD, terminal_id, when, mac1,
            key_version, algorithm, factors,
        )  # fmt: skip
        answer = self._send(Command(0x80, self.profile.load_mac2_ins, 0, 0, data, 8, redact=Redact.RESPONSE_DATA))
        _check("unload MAC2 and answer MAC", answer, 8)
        return answer[:4], answer[4:]

    def _authorisation_data(
        self,
        icc_random: bytes,
        online_counter: int,
        balance_before: int,
        amount: int,
        transaction_type: int,
        terminal_id: bytes,
        when: _dt.datetime,
        mac1: bytes,
        key_version: int,
        algorithm: int,
        factors: Sequence[bytes],
    ) -> bytes:
        """The data of ``80 7C`` (docs/sam.md), after checking the SAM PIN is known."""
        self._need_pin()
        ordered = self.profile.order_factors(list(factors))
        return (
            _check("icc_random", icc_random, 4)
            + online_counter.to_bytes(2, "big")
            + balance_before.to_bytes(4, "big")
            + amount.to_bytes(4, "big")
            + bytes((transaction_type,))
            + _check("terminal_id", terminal_id, 6)
            + encode_datetime(when)
            + _check("mac1", mac1, 4)
            + bytes((key_version, algorithm))
            + b"".join(_check("factors", f, 8) for f in ordered)
        )

    def verify_tac(
        self,
        *,
        covered: bytes,
        tac: bytes,
        key_version: int,
        algorithm: int,
        factors: Sequence[bytes],
    ) -> bool:
        """Whether ``tac`` is the card's TAC over ``covered``, checked inside the SAM (project extension ``80 7E``,
        docs/sam.md): True on ``9000``, False on ``9302``; any other status word raises the SAM error.

        ``covered`` is :func:`sam.crypto.purchase_tac_data` (22 bytes) or :func:`sam.crypto.load_tac_data` (24
        bytes); the SAM diversifies its TAC master key of ``key_version``/``algorithm`` through ``factors`` (card
        first) and answers only yes or no. Needs the SAM PIN.
        """
        type_at = {22: 4, 24: 10}.get(len(covered))  # where the transaction type is in what the TAC covers
        if type_at is None:
            raise DataError("covered: 22 bytes (purchase) or 24 bytes (load) required", field="covered")
        self._need_pin()
        ordered = self.profile.order_factors(list(factors))
        data = bytes(covered) + _check("tac", tac, 4) + bytes((key_version, algorithm))
        data += b"".join(_check("factors", f, 8) for f in ordered)
        response = self._channel.transmit(Command(0x80, self.profile.tac_verify_ins, covered[type_at], 0, data))
        if response.ok:
            return True
        error = error_for(response.sw, layer=Layer.SAM)
        if isinstance(error, MacError):
            return False
        raise error

    # --- generic key derivation and computation (PSAM COS, sources.md V2) ----------------------------------------

    def diversify(self, attribute: int, index: int, factors: Sequence[bytes] = ()) -> None:
        """``80 1A``: diversify the key (attribute, index) through ``factors`` (card first) into the working key."""
        ordered = self.profile.order_factors(list(factors))
        self._send(psam.init_for_descrypt(psam.descrypt_p1(len(ordered), attribute), index, ordered))

    def diversify_for(self, purpose: str, factors: Sequence[bytes] = ()) -> None:
        """``80 1A`` for a purpose of the profile's ``key_refs`` (``line_protection``, ``external_auth`` ...)."""
        attribute, index = self.profile.key_ref(purpose)
        self.diversify(attribute, index, factors)

    def encrypt(self, data: bytes) -> bytes:
        """``80 FA 00|02``: ECB-encrypt whole blocks with the working key (chained for long data)."""
        parts = _chunks(bytes(data), self.profile.max_data)
        out = b""
        for i, part in enumerate(parts):
            out += self._send(psam.sam_encrypt(part, more=i < len(parts) - 1))
        return out

    def mac(self, data: bytes, *, algorithm: Algorithm, iv: bytes | None = None, pad: bool = True) -> bytes:
        """``80 FA 05`` (or ``07``/``03``/``01`` chained): the 4-byte MAC of ``data`` under the working key.

        ``pad`` appends ``80 00..`` (JR/T 0025.2 MAC algorithm); ``iv`` is right-padded to a block (None = zero block).
        """
        size = block_size(algorithm)
        body = pad80(bytes(data), size) if pad else bytes(data)
        start = iv_from_challenge(algorithm, iv)
        room = self.profile.max_data - size
        if len(body) <= room:
            return _check("MAC", self._send(psam.cipher_data(psam.CipherMode.MAC_ONLY, start + body)), _MAC_BYTES)
        rest = _chunks(body[room:], self.profile.max_data)
        self._send(psam.cipher_data(psam.CipherMode.MAC_FIRST, start + body[:room]))
        for part in rest[:-1]:
            self._send(psam.cipher_data(psam.CipherMode.MAC_MIDDLE, part))
        return _check("MAC", self._send(psam.cipher_data(psam.CipherMode.MAC_LAST, rest[-1])), _MAC_BYTES)

    def external_auth_cryptogram(self, challenge: bytes, factors: Sequence[bytes] = ()) -> bytes:
        """FMCOS EXTERNAL AUTHENTICATE cryptogram: ``80 1A`` (external-auth key) then ``80 FA 00 00 08 | challenge
        ‖ 00..`` (ISO/IEC 7816-4 EXTERNAL/INTERNAL AUTHENTICATE, S22). 3DES keys: 8 bytes."""
        _check("challenge", challenge, 4, 8)
        self.diversify_for("external_auth", factors)
        return self.encrypt(challenge + bytes(8 - len(challenge)))

    def line_protection_mac(self, command: Command, challenge: bytes, factors: Sequence[bytes] = ()) -> Command:
        """``command`` with CLA bit ``04`` and the line-protection MAC appended (JR/T 0025.1 secure messaging), the MAC
        computed by the SAM's maintenance key (``80 1A`` + ``80 FA 05``); the SAM PIN first, when the client has
        one."""
        _check("challenge", challenge, 4, 8)
        self._need_pin(required=False)
        self.diversify_for("line_protection", factors)
        cla = command.cla | 0x04
        header = bytes((cla, command.ins, command.p1, command.p2, len(command.data) + _MAC_BYTES))
        tag = self.mac(header + command.data, algorithm=Algorithm.TDES, iv=challenge)
        return Command(cla, command.ins, command.p1, command.p2, command.data + tag, command.le, redact=command.redact)

    # --- health card (WS/T 543.4 keys, commands; docs/decisions.md D1) ----------------------------------------------

    def health_session(self, key: str, card_no: bytes, challenge: bytes, city_factor: bytes | None = None) -> None:
        """``80 DE``: derive the session key of health-card ``key`` (``RK_DDF1``, ``STK_DF02`` ...) for the card.

        Two-level keys (P1 ``4x``) need ``city_factor`` (WS/T 543.4 diversification factors); one-level keys ignore it.
        """
        p1, p2 = self.profile.health_key(key)
        levels = p1 >> 5
        if levels == 2 and city_factor is None:
            raise DataError(f"{key} is diversified in two levels: the city factor is required", field="city_factor")
        city = city_factor if levels == 2 else None
        if self.profile.factors_card_first:
            command = healthsam.derive_key(p1, p2, card_no, challenge, city_factor=city)
        else:
            first = city if city is not None else card_no
            command = healthsam.derive_key(p1, p2, first, challenge, city_factor=card_no if city else None)
        self._send(command)

    def health_auth_cryptogram(
        self,
        key: str,
        card_no: bytes,
        challenge: bytes,
        terminal_data: bytes,
        city_factor: bytes | None = None,
    ) -> bytes:
        """The 8-byte EXTERNAL AUTHENTICATE cryptogram of WS/T 543.4 EXTERNAL AUTHENTICATE (``80 DE``, ``80 FA 00 00
        10``, XOR of the two halves). PIN-gated."""
        _check("terminal_data", terminal_data, 8)
        self._need_pin()
        self.health_session(key, card_no, challenge, city_factor)
        block = _check("SAM answer", self.encrypt(terminal_data + bytes(8)), 16)
        return bytes(a ^ b for a, b in zip(block[:8], block[8:], strict=True))

    def health_sm_wrap(
        self,
        key: str,
        card_no: bytes,
        challenge: bytes,
        header: bytes,
        plain: bytes,
        city_factor: bytes | None = None,
    ) -> bytes:
        """Data field of a secure-messaging UPDATE RECORD: ciphertext ‖ MAC (WS/T 543.4 SM UPDATE RECORD).

        ``header`` is ``CLA' INS P1 P2`` (CLA with bit 04). Steps: ``80 DE`` (the STK), ``80 FA 00`` over
        ``pad80(L ‖ plain)``, ``80 FA 05`` over ``IV(16 × 00) ‖ pad80(header ‖ Lc' ‖ ciphertext)``. PIN-gated.
        """
        _check("header", header, 4)
        if len(plain) > 255 - 16 - _MAC_BYTES:
            raise DataError("plain: too long for one secure-messaging command", field="plain")
        self._need_pin()
        self.health_session(key, card_no, challenge, city_factor)
        cipher = self.encrypt(pad80(bytes((len(plain),)) + plain, 16))
        tag = self.mac(header + bytes((len(cipher) + _MAC_BYTES,)) + cipher, algorithm=Algorithm.SM4)
        return cipher + tag

    # --- SM3 / SM2 (project extensions, docs/sam.md) -----------------------------------------------------------

    def sm3(self, data: bytes) -> bytes:
        """SM3 digest computed by the SAM (``80 C8``, chained for long data)."""
        parts = _chunks(bytes(data), self.profile.max_data)
        digest = b""
        for i, part in enumerate(parts):
            more = i < len(parts) - 1
            digest = self._send(
                Command(0x80, self.profile.sm3_ins, 0x01 if more else 0x00, 0, part, None if more else 32)
            )
        return _check("SM3 digest", digest, 32)

    def sm2_public_key(self) -> bytes:
        """The SAM's SM2 public key ``x ‖ y`` (64 bytes), read once from DF01/EF001D."""
        if self._public_key is None:
            key = self.read_file(self.profile.sm2_public_key_fid, 64)
            self._public_key = _check("SM2 public key", key, 64)
        return self._public_key

    def certificate(self) -> bytes:
        """The SAM certificate stored with signed DF03 records: DF01/EF001C, 190 bytes (健康卡 SAM spec: files),
        read once."""
        if self._certificate is None:
            self._certificate = self.read_file(_CERTIFICATE_FID, _CERTIFICATE_BYTES)
        return self._certificate

    def sm2_sign_digest(self, digest: bytes) -> bytes:
        """SM2 signature ``r ‖ s`` over a ready ``e = SM3(Z_A ‖ M)`` (``80 CE``; PIN-gated)."""
        self._need_pin()
        command = Command(0x80, self.profile.sm2_sign_ins, 0, 0, _check("digest", digest, 32), 64)
        return _check("SM2 signature", self._send(command), 64)

    def sm2_sign(self, message: bytes, uid: bytes = SM2_DEFAULT_UID) -> bytes:
        """SM2 signature of ``message`` (GB/T 32918.2 §6.1): ``Z_A`` from the SAM's public key, ``e`` by the
        SAM's SM3, the signature by the SAM's SM2 key."""
        z = sm2_z(sm2_load_public_key(self.sm2_public_key()), uid)
        return self.sm2_sign_digest(self.sm3(z + bytes(message)))
