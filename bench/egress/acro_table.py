"""ACRO's crosstab (frequency, and sum of a column) with its disclosure checks on a record file:
what `haven egress check --records` does, for the benchmark. Prints the seconds it took and the
cells each check failed.

Usage: acro_table.py RECORDS.csv ROWS COLUMNS VALUES
"""
import json
import sys
import time

start = time.monotonic()
import pandas as pd  # noqa: E402
from acro import ACRO  # noqa: E402

records, rows, columns, values = sys.argv[1:5]
df = pd.read_csv(records, usecols=[rows, columns, values])
acro = ACRO(suppress=False)
acro.crosstab(df[rows], df[columns])
acro.crosstab(df[rows], df[columns], values=df[values], aggfunc="sum")
failed = [{k: len(v) for k, v in out.sdc["cells"].items()} for out in acro.results.results.values()]
print(json.dumps({"seconds": round(time.monotonic() - start, 2), "failed_cells": failed}))
