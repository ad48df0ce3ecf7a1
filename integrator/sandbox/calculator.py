"""The ws-calculator rules the seed demands are computed with (docs/digit.md#water).

Pure functions, no state: the metered slab walk (with DIGIT's "units == to falls through" quirk),
the minimum-charge floor, 2 dp rounding of the charge, and the round-off head that makes a demand
total whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

TWO_PLACES = Decimal("0.01")


@dataclass(frozen=True, kw_only=True)
class Slab:
    """One band of a WCBillingSlab (`meterCharge` exists in DIGIT's model but is never used)."""

    start: Decimal
    end: Decimal
    charge: Decimal


@dataclass(frozen=True, kw_only=True)
class BillingSlab:
    """A WCBillingSlab master: bands plus the floor."""

    minimum_charge: Decimal
    slabs: tuple[Slab, ...]


# The sample RESIDENTIAL / Metered / "Water consumption" slab from the water-calculator docs.
RESIDENTIAL_METERED = BillingSlab(
    minimum_charge=Decimal(100),
    slabs=(
        Slab(start=Decimal(0), end=Decimal(10), charge=Decimal(2)),
        Slab(start=Decimal(10), end=Decimal(20), charge=Decimal("2.5")),
        Slab(start=Decimal(20), end=Decimal(30), charge=Decimal(8)),
        Slab(start=Decimal(30), end=Decimal(40), charge=Decimal(12)),
        Slab(start=Decimal(40), end=Decimal(1000000000), charge=Decimal(15)),
    ),
)


def slab_walk(units: Decimal, slabs: Sequence[Slab]) -> Decimal:
    """DIGIT's `getWaterEstimationCharge` walk, quirk included.

    If the remaining units exceed a band's `to`, the whole band is charged and its width is taken
    off; if they are below `to`, the rest is charged at that band's rate and the walk stops. Units
    exactly equal to `to` match neither branch and fall through to the next band unchanged.
    """
    charge = Decimal(0)
    remaining = units
    for slab in slabs:
        width = slab.end - slab.start
        if remaining > slab.end:
            charge += width * slab.charge
            remaining -= width
        elif remaining < slab.end:
            charge += remaining * slab.charge
            break
    return charge


def metered_water_charge(units: Decimal, slab: BillingSlab = RESIDENTIAL_METERED) -> Decimal:
    """WS_CHARGE for a metered reading: the slab walk, floored at minimumCharge, rounded to 2 dp."""
    charge = max(slab_walk(units, slab.slabs), slab.minimum_charge)
    return charge.quantize(TWO_PLACES, rounding=ROUND_HALF_UP)


def percent_of(amount: Decimal, rate_percent: Decimal) -> Decimal:
    """A rate-based head (cess, penalty, interest) rounded to 2 dp."""
    return (amount * rate_percent / 100).quantize(TWO_PLACES, rounding=ROUND_HALF_UP)


def round_off(non_round_off_total: Decimal, existing_round_offs: Iterable[Decimal] = ()) -> Decimal:
    """The new round-off line (`addRoundOffTaxHead`); Decimal(0) means "add no line".

    d = T mod 1; the target is 1 - d when d >= 0.5, else -d; a new line is target minus what
    existing round-off lines already hold. The net round-off lies in (-0.5, +0.5].
    """
    fraction = non_round_off_total - (non_round_off_total // 1)
    if fraction < 0:  # Decimal's // truncates toward zero; we want the floor
        fraction += 1
    target = (1 - fraction) if fraction >= Decimal("0.5") else -fraction
    return target - sum(existing_round_offs, Decimal(0))


def with_round_off(lines: dict[str, Decimal], round_off_head: str) -> dict[str, Decimal]:
    """Demand lines plus the round-off head (if non-zero) so that the total is whole."""
    base = {head: amount for head, amount in lines.items() if head != round_off_head}
    adjustment = round_off(sum(base.values(), Decimal(0)))
    if adjustment != 0:
        base[round_off_head] = adjustment
    return base
