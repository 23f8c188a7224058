"""Channel keys of the live state and the store's tables, typed.

A channel names one column of the store's tables and one value of the live sample. Its text form
is what the tables keep: a device's quantity ``DEVICE/QUANTITY`` (device ids may contain ``/``,
the quantity is the last part), a boundary's balance term ``balance:BOUNDARY/TERM`` and a
boundary's energy flow of a quarter ``flow:BOUNDARY/FLOW``. :class:`Channel` formats and parses
that form, so no reader splits the strings by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

__all__ = ["CHANNEL_KINDS", "Channel", "ChannelKind"]

ChannelKind = Literal["device", "balance", "flow"]
#: The kinds of channel; all but ``device`` carry their kind as a prefix (``balance:``).
CHANNEL_KINDS: Final[tuple[str, ...]] = ChannelKind.__args__  # type: ignore[attr-defined]
_PREFIXED: Final[tuple[str, ...]] = ("balance", "flow")


@dataclass(frozen=True, order=True)
class Channel:
    """One channel: whose it is (a device or a boundary), which quantity, and its kind.

    Parameters
    ----------
    kind : {"device", "balance", "flow"}
        A device's quantity, a boundary's balance term (kW) or a boundary's energy flow (kWh).
    owner : str
        The device id or the boundary (a building id or ``substation``).
    name : str
        The quantity (``p_meter_kw``), the balance term (``p_grid_kw``) or the flow (``import_kwh``).
    """

    kind: ChannelKind
    owner: str
    name: str

    def __post_init__(self) -> None:
        if self.kind not in CHANNEL_KINDS:
            raise ValueError(f"channel kind {self.kind!r} unknown (allowed: {', '.join(CHANNEL_KINDS)})")
        if not self.owner or not self.name or "/" in self.name:
            raise ValueError(f"channel {self.kind}:{self.owner}/{self.name}: owner and name needed, name without '/'")
        if self.kind != "device" and "/" in self.owner:
            raise ValueError(f"channel {self.kind}:{self.owner}/{self.name}: a boundary has no '/'")

    @classmethod
    def device(cls, device: str, quantity: str) -> Channel:
        """A device's quantity, ``DEVICE/QUANTITY``."""
        return cls("device", device, quantity)

    @classmethod
    def balance(cls, boundary: str, term: str) -> Channel:
        """A boundary's balance term, ``balance:BOUNDARY/TERM``."""
        return cls("balance", boundary, term)

    @classmethod
    def flow(cls, boundary: str, flow: str) -> Channel:
        """A boundary's energy flow of a quarter, ``flow:BOUNDARY/FLOW``."""
        return cls("flow", boundary, flow)

    @classmethod
    def parse(cls, text: str) -> Channel:
        """The channel of a text key.

        Raises
        ------
        ValueError
            When the text is none of the three forms (the message names the text and the forms).
        """
        prefix, colon, rest = text.partition(":")
        kind: ChannelKind = "device"
        body = text
        if colon and prefix in _PREFIXED:
            kind, body = prefix, rest  # type: ignore[assignment]
        owner, _, name = body.rpartition("/")
        try:
            return cls(kind, owner, name)
        except ValueError:
            raise ValueError(
                f"channel {text!r} is not DEVICE/QUANTITY, balance:BOUNDARY/TERM or flow:BOUNDARY/FLOW"
            ) from None

    def __str__(self) -> str:
        """The text key, as the store's tables keep it."""
        if self.kind == "device":
            return f"{self.owner}/{self.name}"
        return f"{self.kind}:{self.owner}/{self.name}"

    @property
    def key(self) -> str:
        """The text key (same as ``str(channel)``)."""
        return str(self)
