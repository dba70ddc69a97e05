"""Status-word table and typed errors (ISO/IEC 7816-4 tables 5-6; JR/T 0025.1 purse commands, ISO/IEC 7816-4
EXTERNAL/INTERNAL AUTHENTICATE, ISO/IEC 7816-4 and JR/T 0025.1 status words)."""

from __future__ import annotations

import pickle
import re

import pytest

from apdu import errors as e
from apdu.command import Command, Redact
from apdu.errors import CardError, Layer, SamError, error_for
from apdu.response import Response, check
from apdu.status import SW, Category, describe, known_words, more_data, sw_bytes, tries_in, tries_left, wrong_le

CJK = re.compile(r"[\u4e00-\u9fff]")

# Every word the brief and the references name (ISO/IEC 7816-4 and JR/T 0025.1 status words, JR/T 0025.1 purse commands,
# ISO/IEC 7816-4 EXTERNAL/INTERNAL AUTHENTICATE; ISO/IEC 7816-4 table 6).
REQUIRED = [
    0x9000, 0x6200, 0x6281, 0x6282, 0x6283, 0x6300, 0x6400, 0x6500, 0x6581, 0x6700, 0x6800, 0x6881, 0x6882,
    0x6900, 0x6981, 0x6982, 0x6983, 0x6984, 0x6985, 0x6986, 0x6987, 0x6988, 0x6A80, 0x6A81, 0x6A82, 0x6A83,
    0x6A84, 0x6A86, 0x6A88, 0x6B00, 0x6D00, 0x6E00, 0x6F00, 0x9302, 0x9303, 0x9401, 0x9402, 0x9403, 0x9406,
]  # fmt: skip


@pytest.mark.parametrize("sw", REQUIRED)
def test_required_words_are_in_the_table(sw: int) -> None:
    assert sw in known_words()
    info = describe(sw)
    assert info.sw == sw
    assert info.category is not Category.UNKNOWN


@pytest.mark.parametrize("sw", known_words())
def test_every_word_has_english_and_chinese(sw: int) -> None:
    info = describe(sw)
    assert info.english.strip()
    assert CJK.search(info.chinese), info.chinese
    assert not CJK.search(info.english)


def test_describe_never_raises_and_always_has_both_languages() -> None:
    for sw in range(0x10000):
        info = describe(sw)
        assert info.english and info.chinese


@pytest.mark.parametrize("x", range(16))
def test_63cx_carries_the_tries_left(x: int) -> None:
    sw = 0x63C0 | x
    info = describe(sw)
    assert str(x) in info.english and str(x) in info.chinese
    err = error_for(sw)
    assert isinstance(err, e.PinError)
    assert err.tries_left == x
    assert isinstance(err, e.PinBlockedError) == (x == 0)


@pytest.mark.parametrize(("sw", "n"), [(0x6110, 16), (0x6100, 256), (0x6C08, 8), (0x6C00, 256)])
def test_61xx_and_6cxx_ranges(sw: int, n: int) -> None:
    info = describe(sw)
    assert str(n) in info.english and str(n) in info.chinese


def test_group_fallback_and_unknown() -> None:
    assert describe(0x6A99).category is Category.PARAMETER
    assert describe(0x9399).category is Category.PURSE
    assert describe(0x1234).category is Category.UNKNOWN


@pytest.mark.parametrize(
    ("sw", "cls"),
    [
        (0x6982, e.SecurityStatusError),
        (0x6984, e.SecurityStatusError),
        (0x6987, e.SecurityStatusError),
        (0x6985, e.ConditionsNotSatisfiedError),
        (0x6988, e.MacError),
        (0x9302, e.MacError),
        (0x63C2, e.PinError),
        (0x6300, e.PinError),
        (0x6983, e.PinBlockedError),
        (0x6A82, e.FileError),
        (0x6981, e.FileError),
        (0x6A89, e.FileError),
        (0x6A83, e.RecordNotFoundError),
        (0x6700, e.WrongLengthError),
        (0x6C10, e.WrongLengthError),
        (0x9401, e.InsufficientFundsError),
        (0x9402, e.PurseError),
        (0x9403, e.PurseError),
        (0x9406, e.PurseError),
        (0x9303, e.BlockedError),
        (0x6A81, e.BlockedError),
        (0x6283, e.BlockedError),
        (0x6A80, e.ParameterError),
        (0x6A86, e.ParameterError),
        (0x6A88, e.ParameterError),
        (0x6B00, e.ParameterError),
        (0x6D00, e.CommandNotSupportedError),
        (0x6E00, e.CommandNotSupportedError),
        (0x6882, e.CommandNotSupportedError),
        (0x6581, e.StorageError),
        (0x6A84, e.StorageError),
        (0x6F00, e.ExecutionError),
        (0x6400, e.ExecutionError),
        (0x6281, e.WarningStatusError),
    ],
)
def test_failing_words_raise_the_typed_class(sw: int, cls: type[CardError]) -> None:
    command = Command(0x80, 0x50, 0x01, 0x02, bytes(11), 0x0F)
    with pytest.raises(cls) as info:
        check(Response.from_sw(sw), command)
    err = info.value
    assert type(err) is cls
    assert err.sw == sw and err.command == command and err.layer is Layer.CARD
    assert err.info == describe(sw)
    assert not isinstance(err, SamError)


def test_subclass_relations() -> None:
    assert issubclass(e.InsufficientFundsError, e.PurseError)
    assert issubclass(e.MacError, e.SecurityStatusError)
    assert issubclass(e.PinBlockedError, e.PinError)
    assert issubclass(e.RecordNotFoundError, e.FileError)
    for cls in (e.PurseError, e.FileError, e.WrongLengthError, e.BlockedError, e.ParameterError):
        assert issubclass(cls, CardError)


@pytest.mark.parametrize(
    ("sw", "cls"),
    [(0x9401, e.InsufficientFundsError), (0x9302, e.MacError), (0x63C1, e.PinError), (0x6A82, e.FileError)],
)
def test_sam_layer_errors_are_both_sam_and_typed(sw: int, cls: type[CardError]) -> None:
    with pytest.raises(SamError) as info:
        check(Response.from_sw(sw), Command(0x80, 0x70, 0, 0, bytes(28), 8), layer=Layer.SAM)
    err = info.value
    assert isinstance(err, cls)
    assert err.layer is Layer.SAM
    assert str(err).startswith("[SAM] SW ")
    assert e.sam_variant(cls) is type(err)
    assert getattr(e, type(err).__name__) is type(err)  # registered by name in apdu.errors
    if cls is e.PinError:
        assert err.tries_left == 1  # type: ignore[attr-defined]


def test_unknown_word_on_sam_layer_is_plain_sam_error() -> None:
    err = error_for(0x1234, layer=Layer.SAM)
    assert type(err) is SamError


def test_message_format_and_no_command_data() -> None:
    with pytest.raises(e.SecurityStatusError) as info:
        check(Response.from_sw(0x6982), Command(0x00, 0xB0, 0x95, 0x00, le=0x0A))
    assert str(info.value) == "[card] SW 6982 to 00 B0 95 00: Security status not satisfied / 安全状态不满足"
    assert info.value.message == "SW 6982 to 00 B0 95 00: Security status not satisfied / 安全状态不满足"
    verify = Command(0x00, 0x20, 0x00, 0x00, bytes.fromhex("918273"), redact=Redact.COMMAND_DATA)
    with pytest.raises(e.PinError) as pin_info:
        check(Response.from_sw(0x63C2), verify)
    assert "918273" not in str(pin_info.value).replace(" ", "")
    assert "918273" not in repr(pin_info.value.command)


def test_check_returns_the_response_and_honours_accept() -> None:
    ok = Response(b"\x01\x02", 0x90, 0x00)
    assert check(ok) is ok
    warn = Response.from_sw(0x6282, b"\xaa")
    assert check(warn, accept={0x9000, 0x6282}) is warn
    with pytest.raises(e.WarningStatusError):
        check(warn)
    with pytest.raises(e.WrongLengthError) as info:
        check(Response.from_sw(0x6C00))
    assert info.value.exact_length == 256
    with pytest.raises(CardError) as more:
        check(Response.from_sw(0x6110))
    assert type(more.value) is CardError and more.value.info.category is Category.MORE_DATA


def test_errors_pickle() -> None:
    for layer in (Layer.CARD, Layer.SAM):
        err = error_for(0x9401, Command(0x80, 0x54, 0x01, 0x00, bytes(15), 8), layer=layer)
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is type(err)
        assert (back.sw, back.command, back.layer, str(back)) == (err.sw, err.command, err.layer, str(err))


@pytest.mark.parametrize("n", range(0, 20))
def test_tries_left_and_tries_in_are_inverse(n: int) -> None:
    word = tries_left(n)
    assert word == (SW.AUTH_BLOCKED if n == 0 else 0x63C0 | min(n, 15))
    assert tries_in(word) == min(n, 15)
    assert error_for(word).tries_left == min(n, 15)  # type: ignore[attr-defined]


def test_tries_left_refuses_a_negative_count() -> None:
    with pytest.raises(ValueError, match="tries left"):
        tries_left(-1)


def test_tries_in_other_words_is_none() -> None:
    assert tries_in(SW.OK) is None
    assert tries_in(SW.SECURITY_NOT_SATISFIED) is None


def test_every_named_word_is_described_by_the_table() -> None:
    assert set(known_words()) == set(SW)
    for word in SW:
        assert describe(word).category is not Category.UNKNOWN


@pytest.mark.parametrize(("n", "word"), [(1, 0x6101), (255, 0x61FF), (256, 0x6100), (300, 0x6100)])
def test_more_data_word(n: int, word: int) -> None:
    assert more_data(n) == word
    assert wrong_le(n) == 0x6C00 | (word & 0xFF)
    assert sw_bytes(word) == word.to_bytes(2, "big")
