"""The host's keys in a SAM: :class:`SamKeyStore`, a :class:`~daemon.host.keystore.HostKeyStore` that never holds a key.

A hospital's host keeps the purse load and TAC master keys in a secure device (issue #12; clearing practice,
sources.md H2/H3; JR/T 0025.2 load MAC/TAC, purchase MAC/TAC). This store asks a host SAM through
:class:`sam.client.SamClient` over any transport — a PC/SC reader (a real host SAM, or the virtual one served
through vpcd: ``healthcard sam new --kind host`` + ``healthcard sam serve``) or the virtual SAM in this process:

* load MAC2: ``80 7C`` with the card's purse factor; the SAM checks MAC1 first (``9302``: None, the load is refused
  with ``WRONG_MAC``);
* TAC check: ``80 7E`` (project extension, docs/sam.md): the SAM answers only right (``9000``) or wrong (``9302``);
* unload MAC2 and the answer MAC the card must give: ``80 7C`` with type 03 (the SAM's unload master key, docs/
  decisions.md D13).

The host process sees neither a master key nor a session key, only MAC2 and yes/no. The SAM PIN is verified once
per power-on of the SAM (the docs/sam.md PIN gate; again after the SAM was reset or reconnected). A SAM that
refuses the PIN (``63Cx``, ``6983``) is never sent it again in this run — its remaining tries are kept, as the
daemon does (``daemon/samgate.py``). Every failure of the device — SAM removed, reader or PC/SC service gone, PIN
refused, key missing — raises :class:`~daemon.host.errors.HostKeysUnavailableError` naming the reader, the layer
and the status word (English and Chinese), before anything is booked: the RPC answers ``HOST_KEYS_UNAVAILABLE``
(gRPC UNAVAILABLE) and the daemon retries its upload or its kiosk the load.

Concurrency: one SAM runs one command sequence at a time (a SAM's command state is per card session), so the store
keeps a small pool — one entry per configured SAM — and each operation borrows one for its APDUs inside a PC/SC
transaction. A host with more load than one SAM serves (docs/performance.md) configures more readers.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
from collections.abc import Callable, Sequence
from typing import TypeVar

from apdu.channel import Channel
from apdu.errors import DataError, MacError, MissingInputError, ReaderError, SamError
from apdu.transport import Transport
from daemon.host.config import KeysConfig
from daemon.host.errors import HostKeysUnavailableError
from daemon.host.keystore import (
    DEBIT_TYPE,
    LOAD_TYPE,
    DemoKeyStore,
    HostKeyStore,
    LoadFields,
    TacFields,
    UnloadMacs,
)
from daemon.samgate import is_sam_pin_refusal
from sam.client import SamClient
from sam.crypto import Algorithm, load_tac_data, purchase_tac_data
from sam.profile import VIRTUAL_SAM_PROFILE, SamProfile, load_sam_profile

__all__ = ["SamKeyStore", "open_key_store"]

log = logging.getLogger("healthcard-host.keys")
T = TypeVar("T")
_SECURITY_NOT_SATISFIED = 0x6982  # the SAM lost its verified PIN (reset behind our back): verify again, once
_NOBODY_ANSWERED = "主机安全模块(SAM)无法访问（读卡器或 PC/SC 服务）：未授权、未记账，请稍后重试。"


class _HostSam:
    """One host SAM: its transport and client, whether it is connected, and whether it refused the PIN."""

    def __init__(self, transport: Transport, pin: str | None, profile: SamProfile) -> None:
        self.transport = transport
        self.client = SamClient(Channel(transport), profile, pin=pin)
        self.connected = False
        self.refused: HostKeysUnavailableError | None = None
        add_hook: Callable[[Callable[[], None]], None] | None = getattr(transport, "add_reset_hook", None)
        if add_hook is not None:  # a reset by another process clears the SAM's verified PIN
            add_hook(self.client.forget)

    @property
    def name(self) -> str:
        return self.transport.name

    def run(self, what: str, op: Callable[[SamClient], T]) -> T:
        """``op`` on this SAM inside one PC/SC transaction; device failures become HostKeysUnavailableError."""
        if self.refused is not None:
            raise self.refused
        try:
            if not self.connected:
                self.transport.connect()
                self.client.forget()  # a (re)connected SAM was powered up: its PIN is not verified
                self.connected = True
            with self.transport.exclusive():
                try:
                    return op(self.client)
                except SamError as exc:
                    if exc.sw != _SECURITY_NOT_SATISFIED:
                        raise
                    self.client.forget()
                    return op(self.client)
        except ReaderError as exc:
            self.connected = False
            self.client.forget()
            raise HostKeysUnavailableError(
                f"the host SAM in reader {self.name!r} cannot be reached for the {what}: {exc.message}",
                message_zh=_NOBODY_ANSWERED,
                layer="reader",
            ) from None
        except MissingInputError:
            raise HostKeysUnavailableError(
                f"the host SAM in reader {self.name!r} needs its PIN and none is configured ([keys] pin_env or"
                " pin_file)",
                message_zh="未配置主机安全模块(SAM)的 PIN：未授权、未记账。",
                layer="SAM",
            ) from None
        except SamError as exc:
            refused_pin = is_sam_pin_refusal(exc)
            action = "configured PIN (not sent again until healthcard-host restarts)" if refused_pin else what
            error = HostKeysUnavailableError(
                f"the host SAM in reader {self.name!r} refused the {action}: {exc.info.english} (SW {exc.sw:04X})",
                message_zh=f"主机安全模块(SAM)拒绝了{'配置的 PIN' if refused_pin else '操作'}：{exc.info.chinese}"
                f"（SW {exc.sw:04X}）；未授权、未记账。",
                layer="SAM",
                status_word=f"{exc.sw:04X}",
            )
            if refused_pin:
                self.refused = error
                log.error(
                    "the host SAM refused the configured PIN (SW %04X); it is not sent again until the configuration"
                    " is corrected and healthcard-host restarted (its remaining tries are kept)", exc.sw,
                    extra={"reader": self.name},
                )  # fmt: skip
            raise error from None


class SamKeyStore:
    """The host's keys in one or more SAMs (module docstring).

    Parameters
    ----------
    transports:
        One per host SAM (``PcscTransport(reader)``, or ``InProcessTransport(VirtualSam(...))``); all hold the same
        keys. Operations borrow a free one.
    pin:
        The SAM PIN (all SAMs of the pool share it).
    profile:
        The SAM's command parameters (``load_mac2_ins``, ``tac_verify_ins``, factor order).
    key_version, algorithm:
        The host's purse key set: the TAC key the SAM checks TACs with (uploads carry no key version) and the keys
        :meth:`probe` looks for; a load uses the key version its card reports.
    wait_s:
        How long an operation waits for a free SAM before answering HOST_KEYS_UNAVAILABLE.

    ``on_state`` (settable) is called after every operation with whether the store answered (True) or raised
    :class:`HostKeysUnavailableError` (False): the host's ``healthcard_host_keys_ready`` gauge.
    """

    on_state: Callable[[bool], None] | None = None

    def __init__(
        self,
        transports: Sequence[Transport],
        *,
        pin: str | None,
        profile: SamProfile = VIRTUAL_SAM_PROFILE,
        key_version: int = 1,
        algorithm: Algorithm = Algorithm.TDES,
        wait_s: float = 5.0,
    ) -> None:
        if not transports:
            raise ValueError("SamKeyStore needs at least one SAM")
        self._sams = [_HostSam(t, pin, profile) for t in transports]
        self._idle: queue.Queue[_HostSam] = queue.Queue()
        for sam in self._sams:
            self._idle.put(sam)
        self._key_version = key_version
        self._alg = algorithm
        self._wait_s = wait_s

    def __repr__(self) -> str:
        return f"SamKeyStore(readers={self.readers!r}, pin=<hidden>)"

    @property
    def readers(self) -> list[str]:
        """The readers (transport names) of the pool."""
        return [s.name for s in self._sams]

    def _run(self, what: str, op: Callable[[SamClient], T]) -> T:
        """``op`` on a free SAM (:meth:`_try`), reporting the outcome to ``on_state``."""
        try:
            result = self._try(what, op)
        except HostKeysUnavailableError:
            self._report(False)
            raise
        self._report(True)
        return result

    def _report(self, ready: bool) -> None:
        if self.on_state is not None:
            self.on_state(ready)

    def _try(self, what: str, op: Callable[[SamClient], T]) -> T:
        """``op`` on a free SAM; after a reader failure once more on the next one (a pure computation: safe)."""
        failure: HostKeysUnavailableError | None = None
        for _ in range(len(self._sams) + 1):
            try:
                sam = self._idle.get(timeout=self._wait_s)
            except queue.Empty:
                raise HostKeysUnavailableError(
                    f"all {len(self._sams)} host SAM(s) stayed busy for {self._wait_s:g} s ({what})",
                    message_zh="主机安全模块(SAM)繁忙：未授权、未记账，请稍后重试。",
                    layer="daemon",
                ) from None
            try:
                return sam.run(what, op)
            except HostKeysUnavailableError as exc:
                if exc.reported_layer != "reader":
                    raise
                failure = exc
            finally:
                self._idle.put(sam)
        assert failure is not None
        raise failure

    def load_mac2(self, purse_factor: bytes, fields: LoadFields) -> bytes | None:
        """MAC2 from the SAM (``80 7C``: it checks MAC1 first); None when MAC1 is wrong (``9302``)."""
        when = _card_time(fields)
        return self._run("load MAC2", lambda client: _load_mac2(client, purse_factor, fields, when))

    def unload_macs(self, purse_factor: bytes, fields: LoadFields) -> UnloadMacs | None:
        """MAC2 and the expected answer MAC of an unload from the SAM (``80 7C`` type 03 with its unload master key,
        docs/sam.md); None when MAC1 is wrong (``9302``). A SAM without the unload key answers ``9403``:
        HOST_KEYS_UNAVAILABLE naming it."""
        when = _card_time(fields)
        return self._run("unload MAC2", lambda client: _unload_macs(client, purse_factor, fields, when))

    def tac_matches(self, purse_factor: bytes, fields: TacFields, tac: bytes) -> bool:
        """Whether the TAC is right, checked inside the SAM (``80 7E``)."""
        terminal, stamp = bytes.fromhex(fields.terminal_id), bytes.fromhex(fields.card_time)
        if fields.kind == "load":
            covered = load_tac_data(fields.balance_after_fen, fields.card_counter, fields.amount_fen, LOAD_TYPE,
                                    terminal, stamp)  # fmt: skip
        else:
            covered = purchase_tac_data(fields.amount_fen, DEBIT_TYPE, terminal, fields.terminal_serial, stamp)
        return self._run("TAC check", lambda client: self._verify_tac(client, purse_factor, covered, tac))

    def _verify_tac(self, client: SamClient, purse_factor: bytes, covered: bytes, tac: bytes) -> bool:
        return client.verify_tac(
            covered=covered, tac=tac, key_version=self._key_version, algorithm=int(self._alg), factors=[purse_factor]
        )

    def probe(self) -> None:
        """Ask every SAM of the pool a TAC check and a load MAC2 that are known to be wrong: each must answer
        "wrong" (``9302``), which proves it is reachable, accepts the PIN and holds both keys of ``key_version``.
        Raises :class:`HostKeysUnavailableError` for the first that does not."""
        covered = purchase_tac_data(0, DEBIT_TYPE, bytes(6), 0, bytes.fromhex("20000101000000"))
        load = LoadFields(algorithm=int(self._alg), amount_fen=0, balance_before_fen=0, online_counter=0,
                          icc_random=bytes(4), mac1=bytes(4), terminal_id=bytes(6), card_time="20000101000000",
                          key_version=self._key_version)  # fmt: skip
        try:
            for sam in self._sams:
                sam.run("TAC check", lambda client: self._verify_tac(client, bytes(8), covered, bytes(4)))
                sam.run("load MAC2", lambda client: _load_mac2(client, bytes(8), load, dt.datetime(2000, 1, 1)))
        except HostKeysUnavailableError:
            self._report(False)
            raise
        self._report(True)


def _card_time(fields: LoadFields) -> dt.datetime:
    try:
        return dt.datetime.strptime(fields.card_time, "%Y%m%d%H%M%S")
    except ValueError:
        raise DataError("card_time: not a valid date and time", field="card_time") from None


def _unload_macs(client: SamClient, purse_factor: bytes, fields: LoadFields, when: dt.datetime) -> UnloadMacs | None:
    try:
        mac2, answer = client.authorise_unload(
            icc_random=fields.icc_random, online_counter=fields.online_counter,
            balance_before=fields.balance_before_fen, amount=fields.amount_fen, terminal_id=fields.terminal_id,
            when=when, mac1=fields.mac1, key_version=fields.key_version, algorithm=fields.algorithm,
            factors=[purse_factor],
        )  # fmt: skip
    except MacError:  # 9302: the card's MAC1 is wrong
        return None
    return UnloadMacs(mac2, answer)


def _load_mac2(client: SamClient, purse_factor: bytes, fields: LoadFields, when: dt.datetime) -> bytes | None:
    try:
        return client.authorise_load(
            icc_random=fields.icc_random, online_counter=fields.online_counter,
            balance_before=fields.balance_before_fen, amount=fields.amount_fen, terminal_id=fields.terminal_id,
            when=when, mac1=fields.mac1, key_version=fields.key_version, algorithm=fields.algorithm,
            factors=[purse_factor], transaction_type=LOAD_TYPE,
        )  # fmt: skip
    except MacError:  # 9302: the card's MAC1 is wrong
        return None


def open_key_store(config: KeysConfig) -> HostKeyStore:
    """The key store ``[keys]`` describes: the demo keys, or a :class:`SamKeyStore` over PC/SC readers or over a
    virtual SAM image in this process (tests and demos; its PIN counter is saved to the image as it changes)."""
    if config.store == "demo":
        return DemoKeyStore.from_demo_keys()
    transports: list[Transport]
    if config.image is not None:
        from apdu.inprocess import InProcessTransport  # noqa: PLC0415
        from sam.virtual import VirtualSam  # noqa: PLC0415

        transports = [InProcessTransport(VirtualSam.open(config.image), name=f"virtual:{config.image.name}")]
    else:
        from apdu.pcsc import PcscTransport  # noqa: PLC0415 - pyscard only when PC/SC readers are configured

        transports = [PcscTransport(reader) for reader in config.readers]
    profile = load_sam_profile(config.profile) if config.profile is not None else VIRTUAL_SAM_PROFILE
    return SamKeyStore(
        transports, pin=config.pin.reveal() if config.pin is not None else None, profile=profile,
        key_version=config.key_version, algorithm=Algorithm(config.algorithm_id), wait_s=config.wait_s,
    )  # fmt: skip
