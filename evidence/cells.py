"""One cell of a stored table, as plain Python: list columns come back from Parquet as numpy
arrays, and missing text as None, NaN or pd.NA."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd


def as_list(value: Any) -> list[Any]:
    """A list column's cell as a list; anything else (None, NaN) is empty."""
    if isinstance(value, list | tuple | np.ndarray):
        return list(value)
    return []


def as_text(value: Any) -> str:
    """A text cell as a string; missing is ""."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)
