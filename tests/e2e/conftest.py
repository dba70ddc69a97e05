"""End-to-end fixtures: serve a :class:`~apdu.card.SimulatedCard` into the real pcscd through vpcd.

Usage (every test in ``tests/e2e/`` is marked ``pcsc`` automatically)::

    def test_select(vpcd):
        card = MySimulatedCard()
        with vpcd(card, slot=0) as reader_name:          # "Virtual PCD 00 00"
            with PcscTransport(reader_name) as transport:
                ...
        # a second card (e.g. the virtual SAM) goes on slot 1 ("Virtual PCD 00 01") at the same time:
        with vpcd(card, slot=0) as card_reader, vpcd(sam, slot=1) as sam_reader:
            ...

``vpcd(card, slot=0, *, on_change=None, timeout=10.0)`` returns a context manager that

1. takes the exclusive ``flock`` on ``/tmp/healthcard-vpcd.lock`` that covers both slots, re-entrantly within this
   process (so parallel test runs never serve two cards on one slot — vpcd accepts one card per port,
   vsmartcard vpcd reader.conf — and two runs can never deadlock by taking the two slots in opposite orders, which
   per-slot locks allowed: a test serving the SAM on slot 1 before the card on slot 0 against one doing the
   reverse);
2. serves ``card`` with :class:`apdu.vpcd.VpcdCardServer` on TCP ``35963 + slot`` (``on_change`` is passed on:
   called with the card after each APDU);
3. waits until pcscd reports a card present in ``Virtual PCD 00 0<slot>`` with the card's ATR, and yields the
   reader name;
4. on exit stops the server (the card is "pulled") and waits until pcscd reports the reader empty, so the next
   user starts clean; then releases the lock.

While inside the block, ``vpcd.handles[slot]`` is the running :class:`apdu.vpcd.VpcdServerHandle` (e.g. to
pull the card in a removal test with ``vpcd.handles[0].stop()``).

pcscd: the session fixture ``pcscd`` makes sure a pcscd with the vpcd reader is serving (TCP 35963/35964
listening). If none is, it starts ``pcscd -f`` itself and the last test session using it stops it. Protocol
(shared with scripts/test.sh): every user holds a *shared* flock on ``/tmp/healthcard-pcscd.lock`` for as long
as it needs pcscd; the check-and-start step runs under an exclusive flock on ``/tmp/healthcard-pcscd.start.lock``;
the pid of a pcscd started this way is kept in ``/tmp/healthcard-pcscd.pid``; a user leaving stops that pcscd only
if it can take the users lock exclusively without waiting (nobody else is using it). A pcscd started by anything
else (the system, a person) is never stopped. Nobody ever *waits* for the users lock exclusively, so a child
process inheriting a shared lock cannot deadlock a run.

If pcscd, the vpcd driver or pyscard is missing the tests FAIL with the reason; they are skipped only when
``HEALTHCARD_SKIP_PCSC=1``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest

from apdu.card import SimulatedCard
from apdu.vpcd import DEFAULT_PORT, VpcdCardServer, VpcdServerHandle, reader_name

PCSCD_LOCK = Path("/tmp/healthcard-pcscd.lock")
PCSCD_START_LOCK = Path("/tmp/healthcard-pcscd.start.lock")
PCSCD_PIDFILE = Path("/tmp/healthcard-pcscd.pid")
PCSCD_LOG = Path("/tmp/healthcard-pcscd.log")
VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
VPCD_LOCK = Path("/tmp/healthcard-vpcd.lock")
SLOTS = (0, 1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in tests/e2e as ``pcsc``."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.pcsc)


# --- pcscd ------------------------------------------------------------------------------------------------


def vpcd_listening(slots: tuple[int, ...] = SLOTS) -> bool:
    """True when something listens on every vpcd slot port (read from /proc/net/tcp*, no connection made:
    connecting would look like a card to vpcd)."""
    wanted = {f":{DEFAULT_PORT + s:04X}" for s in slots}
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table, encoding="ascii") as f:
            next(f, None)
            for line in f:
                fields = line.split()
                if len(fields) > 3 and fields[3] == "0A":  # TCP_LISTEN
                    port = fields[1][fields[1].rindex(":") :]
                    if port in wanted:
                        found.add(port)
    return found == wanted


def _pid_is_pcscd(pid: int) -> bool:
    """True while ``pid`` is a live pcscd (a zombie waiting to be reaped does not count)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return False
    name = stat[stat.index("(") + 1 : stat.rindex(")")]
    state = stat[stat.rindex(")") + 2 :].split(" ", 1)[0]
    return name == "pcscd" and state not in ("Z", "X")


_started: list[subprocess.Popen[bytes]] = []


def _start_pcscd() -> None:
    pcscd = shutil.which("pcscd") or ("/usr/sbin/pcscd" if Path("/usr/sbin/pcscd").exists() else None)
    if pcscd is None:
        pytest.fail("pcscd is not installed: run scripts/setup.sh (apt-get install pcscd vsmartcard-vpcd)")
    if not VPCD_DRIVER.exists():
        pytest.fail(f"the vpcd reader driver {VPCD_DRIVER} is missing: apt-get install vsmartcard-vpcd")
    with PCSCD_LOG.open("ab") as log:
        proc = subprocess.Popen([pcscd, "-f"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    _started.append(proc)
    PCSCD_PIDFILE.write_text(str(proc.pid), encoding="ascii")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if vpcd_listening():
            return
        if proc.poll() is not None:
            pytest.fail(f"pcscd exited with {proc.returncode} at start; see {PCSCD_LOG}")
        time.sleep(0.05)
    pytest.fail(f"pcscd started but vpcd ports {DEFAULT_PORT}/{DEFAULT_PORT + 1} do not listen; see {PCSCD_LOG}")


def _stop_test_pcscd() -> None:
    """Stop the pcscd recorded in the pid file (started by a test run), if it still runs."""
    try:
        pid = int(PCSCD_PIDFILE.read_text(encoding="ascii"))
    except (OSError, ValueError):
        return
    if _pid_is_pcscd(pid):
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            for proc in _started:
                proc.poll()  # reap our own child so it does not linger as a zombie
            if not _pid_is_pcscd(pid):
                break
            time.sleep(0.05)
    PCSCD_PIDFILE.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def pcscd() -> Iterator[None]:
    """A pcscd serving the vpcd readers for the whole session (see the module docstring)."""
    if os.environ.get("HEALTHCARD_SKIP_PCSC") == "1":
        pytest.skip("HEALTHCARD_SKIP_PCSC=1: end-to-end tests through pcscd + vpcd are switched off")
    try:
        import smartcard.scard  # noqa: F401, PLC0415 - only to fail early with a clear message
    except ImportError:
        pytest.fail("pyscard is not installed: run scripts/setup.sh (pip install -e '.[pcsc]')")
    users: IO[bytes] = PCSCD_LOCK.open("ab")
    try:
        fcntl.flock(users, fcntl.LOCK_SH)  # only blocks while a leaving run is stopping its pcscd
        with PCSCD_START_LOCK.open("ab") as start:
            fcntl.flock(start, fcntl.LOCK_EX)
            if not vpcd_listening():
                _start_pcscd()
        yield
    finally:
        try:
            fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the last user stops a pcscd started by tests
        except BlockingIOError:
            pass
        else:
            _stop_test_pcscd()
        users.close()


# --- serving a card ---------------------------------------------------------------------------------------


def _reader_state(name: str) -> tuple[int, bytes]:
    from smartcard import scard  # noqa: PLC0415

    hr, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hr != scard.SCARD_S_SUCCESS:
        pytest.fail(f"cannot reach pcscd: {scard.SCardGetErrorMessage(hr)}")
    try:
        hr, states = scard.SCardGetStatusChange(context, 0, [(name, scard.SCARD_STATE_UNAWARE)])
        if hr != scard.SCARD_S_SUCCESS:
            return 0, b""
        return int(states[0][1]), bytes(states[0][2])
    finally:
        scard.SCardReleaseContext(context)


def _present(state: int) -> bool:
    from smartcard import scard  # noqa: PLC0415

    return bool(state & scard.SCARD_STATE_PRESENT) and not state & scard.SCARD_STATE_MUTE


class _VpcdLock:
    """The one inter-process lock on the vpcd slots, re-entrant within this process (nested ``vpcd`` blocks)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._depth = 0
        self._file: IO[bytes] | None = None

    @contextlib.contextmanager
    def hold(self, timeout: float) -> Iterator[None]:
        with self._guard:
            if self._depth == 0:
                self._file = self._acquire(timeout)
            self._depth += 1
        try:
            yield
        finally:
            with self._guard:
                self._depth -= 1
                if self._depth == 0 and self._file is not None:
                    fcntl.flock(self._file, fcntl.LOCK_UN)
                    self._file.close()
                    self._file = None

    @staticmethod
    def _acquire(timeout: float) -> IO[bytes]:
        f = open(VPCD_LOCK, "ab")  # noqa: SIM115 (closed by hold() when the last holder leaves)
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return f
            except BlockingIOError:
                if time.monotonic() > deadline:
                    f.close()
                    pytest.fail(f"the vpcd slots stayed locked by another test run for {timeout:.0f} s")
                time.sleep(0.05)


_VPCD = _VpcdLock()


def _slot_lock(slot: int, timeout: float) -> contextlib.AbstractContextManager[None]:
    """Hold the vpcd lock while using ``slot`` (one lock for both slots: see the module docstring)."""
    if slot not in SLOTS:
        raise ValueError(f"vpcd has slots {SLOTS}, not {slot}")
    return _VPCD.hold(timeout)


class VpcdFixture:
    """The callable returned by the ``vpcd`` fixture (see the module docstring)."""

    def __init__(self) -> None:
        self.handles: dict[int, VpcdServerHandle] = {}

    @contextlib.contextmanager
    def __call__(
        self,
        card: SimulatedCard,
        slot: int = 0,
        *,
        on_change: Callable[[SimulatedCard], None] | None = None,
        timeout: float = 10.0,
    ) -> Iterator[str]:
        if slot not in SLOTS:
            raise ValueError(f"vpcd has slots {SLOTS}, not {slot}")
        name = reader_name(slot)
        with _slot_lock(slot, timeout=300.0):
            server = VpcdCardServer(card, port=DEFAULT_PORT + slot, on_change=on_change)
            handle = server.serve_in_thread(name=f"vpcd-test-slot{slot}")
            self.handles[slot] = handle
            try:
                if not handle.wait_atr_served(timeout):
                    pytest.fail(f"vpcd on port {DEFAULT_PORT + slot} did not take the card within {timeout} s")
                deadline = time.monotonic() + timeout
                while True:
                    state, atr = _reader_state(name)
                    if _present(state) and atr == card.atr:
                        break
                    if time.monotonic() > deadline:
                        pytest.fail(f"pcscd does not report the card in {name!r} (state {state:#x})")
                    time.sleep(0.02)
                yield name
            finally:
                self.handles.pop(slot, None)
                handle.stop()
                deadline = time.monotonic() + 5.0
                while _present(_reader_state(name)[0]) and time.monotonic() < deadline:
                    time.sleep(0.02)


@pytest.fixture
def vpcd(pcscd: None) -> VpcdFixture:
    """``with vpcd(card, slot=0) as reader_name: ...`` — serve a simulated card into pcscd."""
    return VpcdFixture()
