"""The deterministic seed: users, consumers, their demands, and the bulk-generated bills.

Amounts never depend on the date: WS demands come from the ws-calculator slab walk on fixed
readings, SW/PT/TL from fixed charges, each with its round-off head so a demand total is whole.
Periods are the months (WS/SW) or financial years (PT) before the seed's "now".

Cities: pb.amritsar and pb.jalandhar, where the integrator's account INTEGRATOR_SYSTEM holds its
roles, and pb.nawanshahr, where it holds none (one WS consumer with a bill). Every consumer's
payer is a state-level citizen with the consumer's mobile (egov-user). `WS/107/2021-22/000041`
has a demand but no bill yet: `_fetchbill` by consumerCode finds it, and so does `_fetchbill` by
its payer's mobile, but only once the payer has no ACTIVE WS bill (its sibling
`WS/107/2021-22/000040` has one at the start), as Corrections 2 (b)/(c) say.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from integrator.sandbox.calculator import metered_water_charge, percent_of, with_round_off
from integrator.sandbox.world import (
    KOLKATA,
    Consumer,
    Demand,
    DemandDetail,
    Role,
    User,
    World,
    citizen_uuid,
)

D = Decimal


@dataclass(frozen=True, kw_only=True)
class SeedConsumer:
    consumer: Consumer
    periods: tuple[dict[str, Decimal], ...]  # oldest first; lines already rounded off
    annual: bool = False  # PT/TL periods are financial years, WS/SW months
    settled: bool = False  # demands exist but are fully collected: nothing due
    billed: bool = True  # bulk generation left an ACTIVE bill (False: demands only)


def water_period(units: int, *, arrear: bool) -> dict[str, Decimal]:
    """One metered WS month: charge by slab, 2.5% cess; arrears carry 10% penalty, 5% interest."""
    charge = metered_water_charge(D(units))
    lines = {"WS_CHARGE": charge, "WS_WATER_CESS": percent_of(charge, D("2.5"))}
    if arrear:
        lines["WS_TIME_PENALTY"] = percent_of(charge, D(10))
        lines["WS_TIME_INTEREST"] = percent_of(charge, D(5))
    return with_round_off(lines, "WS_Round_Off")


def water(units: list[int]) -> tuple[dict[str, Decimal], ...]:
    return tuple(water_period(u, arrear=i < len(units) - 1) for i, u in enumerate(units))


def sewerage(charges: list[str]) -> tuple[dict[str, Decimal], ...]:
    periods = []
    for i, raw in enumerate(charges):
        lines = {"SW_CHARGE": D(raw)}
        if i < len(charges) - 1:
            lines["SW_TIME_PENALTY"] = percent_of(D(raw), D(10))
        periods.append(with_round_off(lines, "SW_Round_Off"))
    return tuple(periods)


def property_tax(taxes: list[str]) -> tuple[dict[str, Decimal], ...]:
    periods = []
    for i, raw in enumerate(taxes):
        tax = D(raw)
        lines = {
            "PT_TAX": tax,
            "PT_FIRE_CESS": percent_of(tax, D(2)),
            "PT_CANCER_CESS": percent_of(tax, D(2)),
        }
        if i < len(taxes) - 1:
            lines["PT_TIME_INTEREST"] = percent_of(tax, D(18))
            lines["PT_TIME_PENALTY"] = percent_of(tax, D(10))
        periods.append(with_round_off(lines, "PT_ROUNDOFF"))
    return tuple(periods)


def trade_licence(fee: str) -> tuple[dict[str, Decimal], ...]:
    return (with_round_off({"TL_TAX": D(fee)}, "TL_ROUNDOFF"),)


Who = tuple[str, str]  # payer name, mobile number


def _c(tenant: str, service: str, code: str, who: Who) -> Consumer:
    city = tenant.split(".")[-1].title()
    return Consumer(
        tenant_id=tenant,
        business_service=service,
        consumer_code=code,
        payer_name=who[0],
        mobile_number=who[1],
        payer_address=f"{city}, Punjab",
        payer_uuid=citizen_uuid(who[1]),
    )


def _ws(
    tenant: str,
    code: str,
    who: Who,
    units: list[int],
    settled: bool = False,
    billed: bool = True,
) -> SeedConsumer:
    return SeedConsumer(
        consumer=_c(tenant, "WS", code, who), periods=water(units), settled=settled, billed=billed
    )


def _sw(tenant: str, code: str, who: Who, charges: list[str]) -> SeedConsumer:
    return SeedConsumer(consumer=_c(tenant, "SW", code, who), periods=sewerage(charges))


def _pt(tenant: str, code: str, who: Who, taxes: list[str]) -> SeedConsumer:
    return SeedConsumer(
        consumer=_c(tenant, "PT", code, who), periods=property_tax(taxes), annual=True
    )


def _tl(tenant: str, code: str, who: Who, fee: str) -> SeedConsumer:
    return SeedConsumer(
        consumer=_c(tenant, "TL", code, who), periods=trade_licence(fee), annual=True
    )


AMR, JAL, NAW = "pb.amritsar", "pb.jalandhar", "pb.nawanshahr"
UNBILLED_CONSUMER = "WS/107/2021-22/000041"  # a demand, no bill (found by _fetchbill only)
UNBILLED_PAYER = ("Pooja Rani", "9444400009")  # also pays BILLED_SIBLING, which has a bill
BILLED_SIBLING = "WS/107/2021-22/000040"
NAWANSHAHR_CONSUMER = "WS/1801/2019-20/000301"  # where the integrator's account has no role
RAMESH = ("Ramesh Kumar", "9876543210")  # WS, SW and PT in Amritsar, WS and PT in Jalandhar
ANIL = ("Anil Sharma", "9555500003")
DEEPAK = ("Deepak Verma", "9222200007")

SEED: tuple[SeedConsumer, ...] = (
    _ws(AMR, "WS/107/2019-20/000022", RAMESH, [37, 55, 24]),
    _sw(AMR, "SW/107/2019-20/000011", RAMESH, ["150", "150"]),
    _pt(AMR, "PT-107-000123", RAMESH, ["2450.75", "2575.40"]),
    _ws(AMR, "WS/107/2019-20/000023", ("Sunita Devi", "9812345670"), [12]),
    _ws(AMR, "WS/107/2019-20/000024", ("Harpreet Singh", "9888800001"), [20], settled=True),
    _tl(AMR, "PB-TL-2024-07-04-002271", ("Gurpreet Kaur", "9777700002"), "1500"),
    _pt(AMR, "PT-107-000124", ANIL, ["1200.30"]),
    _sw(AMR, "SW/107/2019-20/000012", ANIL, ["120.50", "120.50", "120.50"]),
    _ws(AMR, "WS/107/2020-21/000031", ("Manjit Kaur", "9123400004"), [10]),
    _ws(AMR, "WS/107/2020-21/000032", ("Rajinder Pal", "9988776655"), [8, 40]),
    _ws(JAL, "WS/1013/2019-20/000101", RAMESH, [30]),
    _pt(JAL, "PT-1013-000045", RAMESH, ["3100"]),
    _sw(JAL, "SW/1013/2019-20/000051", ("Kiran Bala", "9000000005"), ["200"]),
    _tl(JAL, "PB-TL-2024-08-12-000202", ("Jaspreet Kaur", "9111100006"), "2750.50"),
    _ws(JAL, "WS/1013/2019-20/000102", DEEPAK, []),
    _pt(JAL, "PT-1013-000046", DEEPAK, ["890.60", "910.25", "935.80"]),
    _ws(JAL, "WS/1013/2019-20/000103", ("Neha Gupta", "9333300008"), [45, 18, 22]),
    _ws(AMR, BILLED_SIBLING, UNBILLED_PAYER, [9]),
    _ws(AMR, UNBILLED_CONSUMER, UNBILLED_PAYER, [15], billed=False),
    _ws(NAW, NAWANSHAHR_CONSUMER, ("Balwinder Singh", "9444400010"), [28, 16]),
)


EXTRA_SERVICES = ("WS", "SW", "PT", "TL")
EXTRA_NAMES = (
    "Amrit Pal",
    "Baljit Kaur",
    "Charan Singh",
    "Daljeet Kaur",
    "Inder Mohan",
    "Jasbir Gill",
    "Kamal Preet",
    "Lakhwinder Singh",
    "Mohan Lal",
    "Navdeep Kaur",
    "Paramjit Sidhu",
)


def extra_seed(count: int) -> tuple[SeedConsumer, ...]:
    """`count` more consumers with dues (chaos runs: one consumer per simulated payment).

    Deterministic: consumer i is in Amritsar (even i) or Jalandhar (odd i), of service
    WS, SW, PT, TL in turn (by i // 2), with codes like `WS/CHAOS/000004`, mobile 7000000000 + i
    and amounts that depend only on i. Every fourth WS/SW/PT consumer has an arrear period too.
    """
    extras: list[SeedConsumer] = []
    for i in range(count):
        tenant = AMR if i % 2 == 0 else JAL
        service = EXTRA_SERVICES[(i // 2) % len(EXTRA_SERVICES)]
        who = (EXTRA_NAMES[i % len(EXTRA_NAMES)], f"{7000000000 + i}")
        arrear = i % 4 == 0
        if service == "WS":
            units = [8 + i % 50] + ([12 + i % 30] if arrear else [])
            extras.append(_ws(tenant, f"WS/CHAOS/{i:06d}", who, units))
        elif service == "SW":
            charge = str(100 + (i % 9) * 25)
            extras.append(_sw(tenant, f"SW/CHAOS/{i:06d}", who, [charge] * (2 if arrear else 1)))
        elif service == "PT":
            tax = str(800 + (i % 23) * 37)
            extras.append(_pt(tenant, f"PT-CHAOS-{i:06d}", who, [tax] * (2 if arrear else 1)))
        else:
            extras.append(_tl(tenant, f"PB-TL-CHAOS-{i:06d}", who, str(500 + (i % 11) * 100)))
    return tuple(extras)


def _roles(codes: tuple[str, ...], *tenants: str) -> tuple[Role, ...]:
    return tuple(Role(code, tenant) for tenant in tenants for code in codes)


# The integrator's account: what it needs to pay and to search WS/SW/PT payments
# (docs/digit.md#roles), and CR_PT to cancel PT receipts, in Amritsar and Jalandhar; nothing in
# Nawanshahr.
SYSTEM_ROLES = ("EMPLOYEE", "WS_CEMP", "SW_CEMP", "CR_PT")


def seed_users() -> list[User]:
    """The system account, a counter clerk, a CITIZEN, and a supervisor with state-level roles."""
    return [
        User(
            id=23287,
            uuid="5e1c9a3f-8b7d-4c36-9d2a-0a1b2c3d4e5f",
            user_name="INTEGRATOR_SYSTEM",
            password="sandbox-password",
            name="Integrator System",
            mobile_number="9999999999",
            type="EMPLOYEE",
            tenant_id=AMR,
            roles=_roles(SYSTEM_ROLES, AMR, JAL),
        ),
        User(
            id=23288,
            uuid="7a2d4b6c-1e3f-4a5b-8c9d-0e1f2a3b4c5d",
            user_name="COUNTER_CLERK",
            password="counter-password",
            name="Counter Clerk",
            mobile_number="9999999998",
            type="EMPLOYEE",
            tenant_id=AMR,
            roles=_roles(("EMPLOYEE", "UC_EMP"), AMR, JAL, NAW),
        ),
        User(
            id=31001,
            uuid="3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f",
            user_name="9876500000",
            password="citizen-password",
            name="Sandbox Citizen",
            mobile_number="9876500000",
            type="CITIZEN",
            tenant_id="pb",
            roles=_roles(("CITIZEN",), "pb"),
        ),
        User(
            id=23289,
            uuid="9b8a7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d",
            user_name="STATE_SUPERVISOR",
            password="state-password",
            name="State Supervisor",
            mobile_number="9999999997",
            type="EMPLOYEE",
            tenant_id=AMR,
            roles=_roles(("EMPLOYEE", "WS_CEMP"), "pb"),
        ),
    ]


def payer_citizen(consumer: Consumer) -> User | None:
    """egov-user's state-level CITIZEN record of a consumer's payer (cannot log in here)."""
    if consumer.payer_uuid is None:
        return None
    return User(
        id=0,
        uuid=consumer.payer_uuid,
        user_name=consumer.mobile_number,
        password="",
        name=consumer.payer_name,
        mobile_number=consumer.mobile_number,
        type="CITIZEN",
        tenant_id="pb",
        roles=_roles(("CITIZEN",), "pb"),
    )


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def month_period(now: datetime, months_back: int) -> tuple[int, int]:
    """The calendar month `months_back` before now's, in Asia/Kolkata, as epoch-ms bounds."""
    index = now.year * 12 + (now.month - 1) - months_back
    start = datetime(index // 12, index % 12 + 1, 1, tzinfo=KOLKATA)
    nxt = index + 1
    end = datetime(nxt // 12, nxt % 12 + 1, 1, tzinfo=KOLKATA)
    return _ms(start), _ms(end) - 1


def year_period(now: datetime, years_back: int) -> tuple[int, int]:
    """The financial year (April-March) `years_back` before now's."""
    start_year = (now.year if now.month >= 4 else now.year - 1) - years_back
    start = datetime(start_year, 4, 1, tzinfo=KOLKATA)
    end = datetime(start_year + 1, 4, 1, tzinfo=KOLKATA)
    return _ms(start), _ms(end) - 1


def make_demand(consumer: Consumer, lines: dict[str, Decimal], period: tuple[int, int]) -> Demand:
    return Demand(
        id=str(uuid.uuid4()),
        tenant_id=consumer.tenant_id,
        business_service=consumer.business_service,
        consumer_code=consumer.consumer_code,
        from_period_ms=period[0],
        to_period_ms=period[1],
        details=[
            DemandDetail(id=str(uuid.uuid4()), tax_head_code=head, tax_amount=amount)
            for head, amount in lines.items()
        ],
    )


def seed_world(world: World) -> None:
    """Fill an empty world; consumers with dues get their ACTIVE bill, as bulk generation leaves."""
    from integrator.sandbox.billing import generate_bill

    for user in seed_users():
        world.users[(user.user_name, user.type, user.tenant_id)] = user
    now = world.now()
    entries = SEED + extra_seed(world.config.extra_consumers)
    for entry in entries:
        world.consumers.append(entry.consumer)
        citizen = payer_citizen(entry.consumer)
        if citizen is not None:
            world.citizens[citizen.uuid] = citizen
        count = len(entry.periods)
        for i, lines in enumerate(entry.periods):
            back = count - 1 - i
            period = year_period(now, back) if entry.annual else month_period(now, back)
            demand = make_demand(entry.consumer, lines, period)
            if entry.settled:
                for detail in demand.details:
                    detail.collection_amount = detail.tax_amount
            world.demands.append(demand)
    for entry in entries:
        if entry.billed:
            generate_bill(world, entry.consumer)


def seed_listing(extra_consumers: int = 0) -> list[dict[str, object]]:
    """The seed consumers with what they owe, for `--list` and `GET /_sandbox/consumers`."""
    rows: list[dict[str, object]] = []
    for entry in SEED + extra_seed(extra_consumers):
        c = entry.consumer
        due = sum((sum(lines.values(), Decimal(0)) for lines in entry.periods), Decimal(0))
        if entry.settled:
            due = Decimal(0)
        rows.append(
            {
                "tenantId": c.tenant_id,
                "businessService": c.business_service,
                "consumerCode": c.consumer_code,
                "payerName": c.payer_name,
                "mobileNumber": c.mobile_number,
                "amountDue": due.quantize(Decimal("0.01")),
                "periods": len(entry.periods),
                "billed": entry.billed,
            }
        )
    return rows
