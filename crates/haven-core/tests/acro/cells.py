"""ACRO's findings on the tables made from a record file, for comparison with Haven's.

Usage: cells.py RECORDS.csv ROWS COLUMNS VALUES
Prints one JSON line: [frequency table, sum of VALUES], each {ACRO check: [[row label, column label], ...]}.
"""
import json
import sys

import pandas as pd
from acro import ACRO

records, rows, columns, values = sys.argv[1:5]
df = pd.read_csv(records, dtype={rows: str, columns: str})
acro = ACRO(suppress=False)
acro.crosstab(df[rows], df[columns])
acro.crosstab(df[rows], df[columns], values=df[values], aggfunc="sum")
found = []
for out in acro.results.results.values():
    table = out.output[0]
    found.append(
        {check: sorted([str(table.index[i]), str(table.columns[j])] for i, j in cells) for check, cells in out.sdc["cells"].items()}
    )
print(json.dumps(found))
