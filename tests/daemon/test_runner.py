"""daemon.runner: the start-up healthcardd and healthcard-host share (bind check, SIGTERM/SIGINT, stderr line)."""

from __future__ import annotations

import argparse
import os
import signal
import threading
from collections.abc import Iterator

import pytest

from daemon.runner import add_server_options, serve_until_signalled


class FakeServer:
    def __init__(self, port: int) -> None:
        self.port = port
        self.events: list[str] = []

    def start(self) -> None:
        self.events.append("start")

    def stop(self) -> None:
        self.events.append("stop")


@pytest.fixture
def own_handlers() -> Iterator[None]:
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    yield
    for s, handler in saved.items():
        signal.signal(s, handler)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_runs_until_a_signal_then_stops(
    signum: signal.Signals, own_handlers: None, capsys: pytest.CaptureFixture[str]
) -> None:
    server = FakeServer(50123)
    timer = threading.Timer(0.2, os.kill, (os.getpid(), signum))
    timer.start()
    assert serve_until_signalled("hcd-test", server, "127.0.0.1:0") == 0
    timer.join()
    assert server.events == ["start", "stop"]
    assert "hcd-test listening on 127.0.0.1:50123" in capsys.readouterr().err


def test_an_unbound_server_is_exit_code_2_and_never_started(capsys: pytest.CaptureFixture[str]) -> None:
    server = FakeServer(0)
    assert serve_until_signalled("hcd-test", server, "192.0.2.1:50051") == 2
    assert server.events == []
    assert "hcd-test: cannot listen on 192.0.2.1:50051" in capsys.readouterr().err


def test_common_options() -> None:
    parser = argparse.ArgumentParser()
    add_server_options(parser, config_help="config", default_listen="127.0.0.1:1", state_dir_help="state")
    args = parser.parse_args(
        ["--listen", "127.0.0.1:2", "--state-dir", "/tmp/x", "--log-format", "json", "--check-config"]
    )
    assert args.check_config and args.config is None
    assert (args.listen, str(args.state_dir), args.log_format, args.metrics_listen) == (
        "127.0.0.1:2",
        "/tmp/x",
        "json",
        None,
    )
    with pytest.raises(SystemExit):
        parser.parse_args(["--log-format", "xml"])
