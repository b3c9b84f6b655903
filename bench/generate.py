"""Generate realistic USAspending award data at any size, in the shapes of the real samples.

Recipients, descriptions and PSC/NAICS texts are drawn from the real ICE/CBP records in
seeds/ice; PIIDs, amounts and dates are random but shaped like the real ones (DHS PIIDs,
amounts with cents, some negative modifications). Half the awards go to a vendor directly,
half to a reseller with the vendor named in the description, so every award belongs to
the benchmark watch.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from watcher.fakes.recordings import build_awards, history_files, read_rows
from watcher.fakes.usaspending_awards import ReplayAward

ROOT = Path(__file__).resolve().parent.parent
VENDOR_RECIPIENTS = [
    "PALANTIR TECHNOLOGIES INC.",
    "PALANTIR USG, INC.",
    "MICROSOFT CORPORATION",
    "AMAZON WEB SERVICES, INC.",
]
RESELLERS = [
    "FOUR POINTS TECHNOLOGY, L.L.C.",
    "DELL FEDERAL SYSTEMS L.P",
    "CARAHSOFT TECHNOLOGY CORP",
    "THUNDERCAT TECHNOLOGY, LLC",
    "PANAMERICA COMPUTERS, INC.",
]
MENTIONS = ["AMAZON WEB SERVICES", "AWS", "MICROSOFT AZURE", "OFFICE 365", "PALANTIR"]


def generate(n: int, today: date, seed: int = 7) -> list[ReplayAward]:
    rng = random.Random(seed)
    real = read_rows(history_files(ROOT / "watcher" / "seeds"))
    descriptions = [r["Transaction Description"] for r in real if r["Transaction Description"]]
    rows = []
    for i in range(n):
        agency, code = ("ICE", "7012")
        piid = f"70CTD{rng.randint(19, 26):03d}F{rng.choice('CR')}{i:07d}"
        parent = rng.choice(["GS35F0086U_4730", "70RTAC24A00000001_7001", "-NONE-_-NONE-", "NNG15SD22B_8000"])
        key = f"CONT_AWD_{piid}_{code}_{parent}"
        direct = i % 2 == 0
        recipient = rng.choice(VENDOR_RECIPIENTS) if direct else rng.choice(RESELLERS)
        desc = rng.choice(descriptions)
        if not direct:
            desc = f"{desc} - {rng.choice(MENTIONS)} SUBSCRIPTION"
        for m in range(rng.choice([1, 1, 2, 3])):
            amount = (
                Decimal(rng.randint(-5_000_00, 90_000_000_00)) / 100
                if m
                else Decimal(rng.randint(1_000_00, 50_000_000_00)) / 100
            )
            rows.append(
                {
                    "Agency": agency,
                    "Award ID": piid,
                    "Recipient Name": recipient,
                    "Federal Action Obligation": str(amount),
                    "Action Date": (today - timedelta(days=rng.randint(0, 25))).isoformat(),
                    "Modification": "0" if m == 0 else f"P{m:05d}",
                    "Product/Service Description": "IT AND TELECOM - CLOUD",
                    "NAICS Description": "SOFTWARE PUBLISHERS",
                    "Transaction Description": desc,
                    "Generated Award ID": key,
                }
            )
    return build_awards(rows)
