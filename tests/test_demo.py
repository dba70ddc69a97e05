"""The README's main command (scripts/demo.sh) runs the kiosk flow end to end on the embedded default."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.daemon.procs import free_port

ROOT = Path(__file__).resolve().parents[1]


def test_demo_script_runs_the_kiosk_flow(tmp_path: Path) -> None:
    env = dict(os.environ, HEALTHCARDD_LISTEN=f"127.0.0.1:{free_port()}", HEALTHCARDD_STATE=str(tmp_path),
               HEALTHCARD_HOST_LISTEN=f"127.0.0.1:{free_port()}", TZ="Asia/Shanghai")  # fmt: skip
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    done = subprocess.run(
        ["bash", "scripts/demo.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=False
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    for number in range(1, 10):
        assert f"[{number}] " in out
    assert "持卡人 Holder: 张伟" in out
    assert "replayed from the journal, card not touched" in out
    balances = [int(y) * 100 + int(f) for y, f in re.findall(r"Balance after top-up: ¥(\d+)\.(\d\d)", out)]
    after_debit = [int(y) * 100 + int(f) for y, f in re.findall(r"Debited ¥5\.00; balance ¥(\d+)\.(\d\d)", out)]
    assert balances and after_debit and after_debit[0] == balances[0] - 500
    assert re.search(r"DEBIT\s+¥5\.00 CONFIRMED\s+TAC [0-9A-F]{8}", out)
    assert "paid before" not in out and "already paid" not in out  # a first payment is not called a reprint
    printed = re.search(r"Time\s+(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)", out)
    assert printed is not None and "UTC" not in out.split("REGISTRATION RECEIPT", 1)[1].split("[", 1)[0]
    utc8 = dt.timezone(dt.timedelta(hours=8))  # Asia/Shanghai, no daylight saving
    shanghai = dt.datetime.strptime(printed.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=utc8)
    assert abs((dt.datetime.now(dt.UTC) - shanghai).total_seconds()) < 300  # the kiosk's local time, not UTC


def test_demo_script_goes_on_at_the_counter(tmp_path: Path) -> None:
    """The host part: uploads checked, a refund, the lost card refused at the kiosk, the day's settlement."""
    env = dict(os.environ, HEALTHCARDD_LISTEN=f"127.0.0.1:{free_port()}", HEALTHCARDD_STATE=str(tmp_path),
               HEALTHCARD_HOST_LISTEN=f"127.0.0.1:{free_port()}")  # fmt: skip
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    done = subprocess.run(
        ["bash", "scripts/demo.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=False
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    shadow = re.search(r"shadow balance (\d+) fen = balance on the card (\d+) fen; TAC failures 0", out)
    assert shadow is not None and shadow.group(1) == shadow.group(2)
    assert "credit 500 fen for debit" in out and "[CARD_LISTED]" in out
    # 补卡: a new chip for the same holder, the balance moved onto it, the new card pays, the old one is refused
    moved = re.search(r"TRANSFER credit (\d+) fen = the old card's shadow balance.*balance (\d+) fen", out)
    assert moved is not None and moved.group(1) == moved.group(2) != "0"
    old_new = re.search(r"old card (\w+)/([0-9A-F]{16}): REPLACED.*new card (\w+)/([0-9A-F]{16}): ISSUED", out)
    assert old_new is not None and old_new.group(1) == old_new.group(3) and old_new.group(2) != old_new.group(4)
    assert "the holder's data copied: 张伟; 1 visit record(s) copied from the host (only those whose signature" in out
    assert "old card: refused [CARD_LISTED]" in out and "old card's shadow balance 0 fen" in out
    assert "the list had not arrived yet" not in done.stderr  # refused at the first attempt
    csv_part = out.split("日结", 1)[1]
    # the registration fee (500) and the new card's payment (100), both at the kiosk's operator and department
    assert "operator,kiosk-01,debit,2,600,2,600" in csv_part and "merchant,OUTPATIENT-REG,debit,2,600" in csv_part
    assert "operator,,debit" not in csv_part and "merchant,,debit" not in csv_part  # every payment names both
    # 注销 with the card present: the new card's balance paid out by UNLOAD, out of the counter's till
    unloaded = re.search(r"UNLOAD (\d+) fen paid out in cash: balance on the card 0 fen", out)
    assert unloaded is not None and f"CARD_STATUS_CANCELLED, paid out {unloaded.group(1)} fen by unload" in out
    paid_out = unloaded.group(1)
    assert f"operator,counter-01,unload,1,{paid_out},1,{paid_out}" in csv_part
    assert f"cash,counter-01,load,,-{paid_out},,,-{paid_out},0" in csv_part  # the refund took no cash, the unload paid
    assert "cash,kiosk-01,load,,2000,,,2000,0" in csv_part  # the kiosk's top-up matches its declaration
