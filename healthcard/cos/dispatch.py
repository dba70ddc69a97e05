"""The INS → handler table of the virtual COS (one module per command group)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from healthcard.cos import binary, files, issuance, lifecycle, purse_commands, record_commands, security

if TYPE_CHECKING:
    from healthcard.cos.card import Handler

__all__ = ["table"]


def table() -> dict[int, Handler]:
    """A fresh dispatch table."""
    return {
        0xA4: files.select,
        0xB0: binary.read_binary,
        0xD6: binary.update_binary,
        0xB2: record_commands.read_record,
        0xDC: record_commands.update_record,
        0xE2: record_commands.append_record,
        0xD2: record_commands.write_record,
        0x0C: record_commands.erase_record,
        0x84: security.get_challenge,
        0x82: security.external_authenticate,
        0x88: security.internal_authenticate,
        0x20: security.verify,
        0x5E: security.change_or_reload_pin,
        0x24: security.pin_unblock,
        0x0E: issuance.erase_df,
        0xE0: issuance.create_file,
        0xD4: issuance.write_key,
        0x50: purse_commands.initialize,
        0x52: purse_commands.credit_for_load,
        0x54: purse_commands.debit,
        0x5C: purse_commands.get_balance,
        0x5A: purse_commands.get_transaction_prove,
        0x1E: lifecycle.application_block,
        0x18: lifecycle.application_unblock,
        0x16: lifecycle.card_block,
    }
