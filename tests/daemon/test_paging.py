"""daemon.paging: keyset page tokens round-trip, forged tokens are refused, pages cover a table exactly once."""

from __future__ import annotations

import base64
import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.paging import MAX_TOKEN, Keyset, PageTokenError, fetch_page, politely

KEYSET = Keyset(("name", "n"), (str, int))
_TEXT = st.text(max_size=128)
_INT = st.integers(min_value=-(2**63), max_value=2**63 - 1)


@given(_TEXT, _INT)
def test_a_token_decodes_to_the_key_it_encodes(name: str, n: int) -> None:
    token = KEYSET.encode((name, n))
    assert KEYSET.decode(token) == (name, n)
    assert len(token) <= MAX_TOKEN
    assert all(c.isalnum() or c in "-_" for c in token)  # safe in a URL or a form field as it is


def test_the_longest_key_fits_a_token() -> None:
    key = ("\U0001d4c1" * 128, -(2**63))  # 128 characters of 4 UTF-8 bytes each
    assert len(KEYSET.encode(key)) <= MAX_TOKEN
    assert KEYSET.decode(KEYSET.encode(key)) == key


@given(st.text(max_size=MAX_TOKEN + 10))
def test_any_other_text_is_a_page_token_error_or_a_well_typed_key(token: str) -> None:
    try:
        key = KEYSET.decode(token)
    except PageTokenError as exc:
        assert exc.field == "page_token"
    else:
        assert [type(v) for v in key] == [str, int]


@pytest.mark.parametrize(
    "payload",
    [
        b'["a", true]',  # a JSON boolean is not a number
        b'["a", 1.5]',
        b"[1, 1]",
        b'["a"]',
        b'["a", 1, 2]',
        b'{"a": 1}',
        b'["' + b"x" * 129 + b'", 1]',
        b"\xff\xfe",
        b"",
    ],
)
def test_forged_tokens_are_refused(payload: bytes) -> None:
    token = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    with pytest.raises(PageTokenError, match="page_token"):
        KEYSET.decode(token)
    with pytest.raises(PageTokenError):
        KEYSET.decode("A" * (MAX_TOKEN + 1))


def test_keyset_sql_in_both_directions_and_placeholders() -> None:
    assert KEYSET.order_by() == "name DESC, n DESC"
    assert KEYSET.after() == "(name, n) < (?, ?)"
    ascending = Keyset(("seq",), (int,), descending=False)
    assert ascending.order_by() == "seq"
    assert ascending.after("%s") == "seq > %s"
    with pytest.raises(ValueError, match="one type per column"):
        Keyset(("a", "b"), (int,))


@settings(max_examples=60, deadline=None)
@given(
    names=st.lists(st.sampled_from(["a", "b", "c"]), min_size=0, max_size=40),
    limit=st.integers(min_value=1, max_value=7),
    descending=st.booleans(),
)
def test_pages_return_every_row_once_in_order(names: list[str], limit: int, descending: bool) -> None:
    """Many rows share a name: the second key column keeps the order total and no row is lost at a page edge."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (name TEXT NOT NULL, n INTEGER NOT NULL, flag INTEGER NOT NULL)")
    conn.executemany("INSERT INTO t VALUES (?, ?, ?)", [(name, i, i % 2) for i, name in enumerate(names)])
    keyset = Keyset(("name", "n"), (str, int), descending=descending)

    def run(sql: str, params: tuple[object, ...]) -> list[tuple[str, int]]:
        return conn.execute(sql, params).fetchall()

    seen: list[tuple[str, int]] = []
    token = ""
    while True:
        page = fetch_page(run, select="SELECT name, n FROM t", keyset=keyset, key_of=lambda r: r, where=["flag = ?"],
                          params=[0], limit=limit, token=token)  # fmt: skip
        assert len(page.rows) <= limit
        seen.extend(page.rows)
        token = page.next_token
        if not token:
            break
    expected = sorted(((name, i) for i, name in enumerate(names) if i % 2 == 0), reverse=descending)
    assert seen == expected


def test_politely_yields_everything_in_order_and_offers_the_interpreter(monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr("daemon.paging.time.sleep", sleeps.append)
    assert list(politely(range(10), every=4)) == list(range(10))
    assert sleeps == [0, 0]  # after the 4th and the 8th item
