"""Writes a record file of about SIZE bytes for the egress benchmark: one row per person with a
region, sex, age band, income and a free-text note (some with identifiers), deterministic.

Usage: gen.py OUT.csv SIZE_BYTES
"""
import random
import sys

out, size = sys.argv[1], int(sys.argv[2])
rng = random.Random(2026)
regions = ["North East", "North West", "Yorkshire", "East Midlands", "West Midlands", "East", "London",
           "South East", "South West", "Wales", "Scotland", "Orkney"]
bands = ["0-17", "18-34", "35-49", "50-64", "65-79", "80+"]
notes = ["", "", "", "follow-up booked", "no change", "referred", "seen in clinic", "see GP letter",
         "call 07700 900123", "contact ada@example.org", "lives SW1A 1AA"]
written = 0
with open(out, "w", buffering=1 << 22) as f:
    f.write("id,region,sex,age_band,income,note\n")
    i = 0
    while written < size:
        rows = []
        for _ in range(10000):
            i += 1
            region = regions[min(int(rng.expovariate(0.35)), len(regions) - 1)]
            rows.append(f"{i},{region},{rng.choice('FM')},{rng.choice(bands)},{rng.randint(0, 90000)},{rng.choice(notes)}\n")
        chunk = "".join(rows)
        f.write(chunk)
        written += len(chunk)
