"""Card insert/remove events with increasing ids, kept in memory for resumable ``WatchCards`` streams."""

from __future__ import annotations

import datetime as _dt
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

__all__ = ["CardEvent", "EventBus"]


@dataclass(frozen=True)
class CardEvent:
    """A card was inserted into or removed from a reader."""

    event_id: int
    reader: str
    inserted: bool
    atr: bytes
    when: _dt.datetime


class EventBus:
    """Publish card events; subscribers replay from an event id and then follow live events."""

    def __init__(self, keep: int = 1024) -> None:
        self._events: deque[CardEvent] = deque(maxlen=keep)
        self._next_id = 1
        self._cond = threading.Condition()
        self._closed = False

    def publish(self, reader: str, *, inserted: bool, atr: bytes = b"") -> CardEvent:
        """Record and broadcast one event."""
        with self._cond:
            event = CardEvent(self._next_id, reader, inserted, atr, _dt.datetime.now(_dt.UTC))
            self._next_id += 1
            self._events.append(event)
            self._cond.notify_all()
            return event

    def last_id(self) -> int:
        """Id of the latest event (0 before the first)."""
        with self._cond:
            return self._next_id - 1

    def current(self) -> list[CardEvent]:
        """The latest event of each reader whose card is present (the state a new watcher starts from)."""
        with self._cond:
            latest: dict[str, CardEvent] = {}
            for event in self._events:
                latest[event.reader] = event
        return sorted((e for e in latest.values() if e.inserted), key=lambda e: e.event_id)

    def close(self) -> None:
        """Wake and end every subscriber (shutdown)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def subscribe(
        self, *, after_id: int = 0, reader: str = "", active: Callable[[], bool] = lambda: True, tick: float = 0.5
    ) -> Iterator[CardEvent]:
        """Events after ``after_id`` (0: the current state first), then live ones until ``active()`` is false."""
        if after_id <= 0:
            start = self.current()
            cursor = self.last_id()
            for event in start:
                if not reader or event.reader == reader:
                    yield event
        else:
            cursor = after_id
        while active():
            with self._cond:
                pending = [e for e in self._events if e.event_id > cursor]
                if not pending:
                    if self._closed:
                        return
                    self._cond.wait(tick)
                    continue
            for event in pending:
                cursor = event.event_id
                if not reader or event.reader == reader:
                    yield event
