"""``healthcard sam``: make, inspect and serve virtual SAM images (docs/sam.md).

* ``healthcard sam new --out SAM.json [--kind demo|psam|host] [--keys FILE] [--terminal-id HEX] [--pin DIGITS]
  [--force]`` (``--kind host``: the hospital host's SAM, only the load and TAC master keys; ``psam``: a terminal's,
  without them; ``demo``, the default: every key)
* ``healthcard sam info --sam SAM.json [--json]`` (never prints keys or the PIN)
* ``healthcard sam serve --sam SAM.json [--host 127.0.0.1] [--port 35964]``: serves the SAM into pcscd through
  vpcd (slot 1 = TCP 35964, reader "Virtual PCD 00 01"; vsmartcard vpcd docs) until Ctrl-C or SIGTERM; the image is
  saved after every change of the PIN counter or the terminal serial.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from apdu.errors import DataError
from apdu.vpcd import DEFAULT_PORT, VpcdCardServer
from healthcard.cli._serve import add_vpcd_options, serve_until_signalled
from healthcard.cli.pins import PinOption, add_pin_options
from sam.crypto.sm2 import sm2_load_private_key
from sam.keystore import load_keystore
from sam.virtual import IMAGE_KINDS, SamImage, VirtualSam, load_sam_image, new_sam_image, save_sam_image

__all__ = ["register"]


#: The PIN given to a new virtual SAM image (``sam new``): also from a file, a prompt or $HEALTHCARD_SAM_PIN.
NEW_SAM_PIN = PinOption("--pin", "pin", "HEALTHCARD_SAM_PIN", "new SAM's PIN (even number of digits)")


def _hex_arg(text: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a hex string: {text!r}") from None


def register(subparsers: Any) -> None:
    """Add the ``sam`` command group."""
    sam = subparsers.add_parser(
        "sam",
        help="virtual SAM images: new, info, serve",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = sam.add_subparsers(dest="sam_command", metavar="SUBCOMMAND")
    sub.required = True

    new = sub.add_parser("new", help="make a virtual SAM image (demo keys unless --keys)")
    new.add_argument("--out", required=True, type=Path, help="image file to write")
    new.add_argument("--keys", type=Path, help="key-store JSON (schema of sam/data/demo-keys.json)")
    new.add_argument(
        "--kind", choices=IMAGE_KINDS, default="demo",
        help="demo: every key (default); psam: a terminal's SAM, no load or TAC key; host: the hospital host's SAM,"
        " only the load and TAC keys (docs/sam.md)",
    )  # fmt: skip
    new.add_argument("--terminal-id", type=_hex_arg, help="6-byte terminal ID in hex (default: from the keys)")
    add_pin_options(new, NEW_SAM_PIN, default="from the keys, else 123456")
    new.add_argument("--force", action="store_true", help="overwrite an existing image")
    new.set_defaults(handler=_new)

    info = sub.add_parser("info", help="show terminal ID, serials, PIN tries (never keys)")
    info.add_argument("--sam", required=True, type=Path, help="image file")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.set_defaults(handler=_info)

    serve = sub.add_parser("serve", help="serve the SAM into pcscd through vpcd until Ctrl-C")
    serve.add_argument("--sam", required=True, type=Path, help="image file (kept up to date)")
    add_vpcd_options(serve, slot=1)
    serve.set_defaults(handler=_serve)


def _new(args: argparse.Namespace) -> int:
    out: Path = args.out
    if out.exists() and not args.force:
        raise DataError(f"{out} exists (use --force to overwrite)", field="out")
    keys = load_keystore(args.keys) if args.keys else None
    if args.terminal_id is not None and len(args.terminal_id) != 6:
        raise DataError("--terminal-id: 6 bytes (12 hex digits) required", field="terminal_id")
    image = new_sam_image(keys, terminal_id=args.terminal_id, pin=args.pin, kind=args.kind)
    save_sam_image(image, out)
    print(f"wrote {out}: SAM serial {image.sam_serial.hex().upper()}, terminal ID {image.terminal_id.hex().upper()}")
    print(f"kind {args.kind}: keys {', '.join(e.name for e in image.keys)}")
    if keys is None:
        print("keys: the demo key set (test only; never use it for real cards)")
    return 0


_PUBLIC_ENTRIES = ("sam_serial", "terminal_id", "terminal_serial", "pin_tries_left", "pin_max_tries", "factor_order")


def summary(image: SamImage) -> dict[str, Any]:
    """What ``sam info`` shows: identifiers and counters, key names without values."""
    file_form = image.to_json()  # shown: only the public entries named here (the file form holds keys and PIN)
    return {
        **{name: file_form[name] for name in _PUBLIC_ENTRIES},
        "sm2_public_key": sm2_load_private_key(image.sm2_private_key).public_key().to_bytes().hex().upper(),
        "keys": [
            {
                "name": e.name,
                "algorithm": e.algorithm.name,
                "usage": e.usage.name,
                "index": e.index,
                "version": e.version,
            }
            for e in image.keys
        ],
    }


def _info(args: argparse.Namespace) -> int:
    data = summary(load_sam_image(args.sam))
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    print(f"SAM serial        {data['sam_serial']}")
    print(f"terminal ID       {data['terminal_id']}")
    print(f"terminal serial   {data['terminal_serial']} (last used)")
    print(f"PIN tries left    {data['pin_tries_left']} of {data['pin_max_tries']}")
    print(f"factor order      {data['factor_order']}")
    print(f"SM2 public key    {data['sm2_public_key']}")
    print(f"keys              {len(data['keys'])}:")
    for k in data["keys"]:
        print(f"  {k['name']:<16} {k['algorithm']:<4} {k['usage']:<13} index {k['index']:02X} version {k['version']}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    sam = VirtualSam.open(args.sam)
    server = VpcdCardServer(sam, args.host, args.port)
    slot = args.port - DEFAULT_PORT
    print(
        f"serving {args.sam} on vpcd {args.host}:{args.port} (reader 'Virtual PCD 00 {slot:02d}'); Ctrl-C stops",
        file=sys.stderr,
    )
    try:
        serve_until_signalled(server)
    finally:
        sam.save()
    print(f"stopped after {server.apdu_count} APDUs; image saved to {args.sam}", file=sys.stderr)
    return 0
