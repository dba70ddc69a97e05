"""The whole card: MF (key file with the MF master key) holding the health DDF1 and the purse ADF."""

from __future__ import annotations

from dataclasses import dataclass, field

from healthcard.profiles.epurse import EPurseProfile, epurse_profile
from healthcard.profiles.health import HealthCardProfile, health_card_profile
from healthcard.profiles.model import AtrLayout, DFSpec, KeySpec

__all__ = ["MF_FID", "CardProfile", "demo_card_profile"]

MF_FID = 0x3F00


@dataclass(frozen=True)
class CardProfile:
    """A card: MF spec (its keys; DDF1/ADF come from the application profiles), apps, ATR layout."""

    mf: DFSpec
    health: HealthCardProfile
    purse: EPurseProfile | None = field(default_factory=epurse_profile)

    @property
    def atr(self) -> AtrLayout:
        """The ATR layout (cardNo at bytes 5..12)."""
        return self.health.atr

    @property
    def applications(self) -> tuple[DFSpec, ...]:
        """DDF1, then the purse ADF if any."""
        return (self.health.ddf1,) + ((self.purse.adf,) if self.purse else ())


def demo_card_profile(*, sm_writes: bool = True, with_purse: bool = True) -> CardProfile:
    """The project's default card: health application plus e-purse."""
    mf = DFSpec(
        fid=MF_FID, name="MF", df_name=b"1PAY.SYS.DDF01", description="master file",
        keys=(KeySpec(name="MF_MASTER", key_type=0x39, key_id=0x00, follow_state=0x0F, master="MF_MASTER",
                      error_counter=0x55, purpose="card master key (replaces the transport key)"),),
    )  # fmt: skip
    return CardProfile(
        mf=mf, health=health_card_profile(sm_writes=sm_writes), purse=epurse_profile() if with_purse else None
    )
