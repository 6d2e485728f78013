"""De-identification: Safe Harbor, generalisation, and the k-anonymity family of measures."""

from __future__ import annotations

import pandas as pd

from helpers._validation import check_columns


def uniqueness(df: pd.DataFrame, quasi_identifiers) -> float:
    """Share of rows whose quasi-identifier values occur in no other row (0 to 1).

    A unique row is one an attacker holding the same columns can single out.
    Reference: L. Sweeney, "Simple Demographics Often Identify People Uniquely",
    Carnegie Mellon University, Data Privacy Working Paper 3, 2000.
    """
    columns = check_columns(df, quasi_identifiers)
    sizes = df.groupby(columns, dropna=False, sort=False)[columns[0]].transform("size")
    return float((sizes == 1).mean())
