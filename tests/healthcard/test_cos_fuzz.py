"""Hypothesis: random APDUs never crash the virtual card nor corrupt its image."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from healthcard.cos import VirtualCard
from healthcard.image import dumps, loads
from tests.healthcard.vcard_tools import fresh_card

INS = [0xA4, 0xB0, 0xD6, 0xB2, 0xDC, 0xE2, 0xD2, 0x0C, 0x84, 0x82, 0x88, 0x20, 0x5E, 0x24, 0x0E, 0xE0, 0xD4,
       0x50, 0x52, 0x54, 0x5C, 0x5A, 0x1E, 0x18, 0x16, 0xC0, 0xCA]  # fmt: skip

header = st.tuples(
    st.sampled_from([0x00, 0x04, 0x80, 0x84, 0xA0, 0xFF]), st.sampled_from(INS), st.integers(0, 255),
    st.integers(0, 255),
)  # fmt: skip
structured = st.builds(
    lambda h, body: bytes(h) + body,
    header,
    st.one_of(
        st.just(b""),
        st.binary(min_size=1, max_size=1),
        st.binary(max_size=40).map(lambda d: bytes((len(d),)) + d),
        st.binary(max_size=40).map(lambda d: bytes((len(d),)) + d + b"\x00"),
        st.binary(max_size=12),
    ),
)
apdus = st.lists(st.one_of(structured, st.binary(max_size=12)), min_size=1, max_size=12)
START_PATHS = [b"", bytes.fromhex("00A4000002DDF1"), bytes.fromhex("00A40000021001")]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(start=st.sampled_from(START_PATHS), commands=apdus)
def test_random_apdus_never_crash_nor_corrupt(start: bytes, commands: list[bytes]) -> None:
    card = fresh_card()
    if start:
        card.execute(start)
    for apdu in commands:
        answer = card.execute(apdu)
        assert isinstance(answer, bytes) and len(answer) >= 2
        assert answer[-2:] != b"\x6f\x00", apdu.hex()  # no internal error
    text = dumps(card.state)
    again = loads(text)
    assert again == card.state and dumps(again) == text
    reloaded = VirtualCard(again)
    assert reloaded.execute(bytes.fromhex("00A40000023F00"))[-2:] in (b"\x90\x00", b"\x6a\x81")
