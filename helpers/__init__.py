"""Mechanisms behind the privacy-preserving machine learning for healthcare kit.

Each module has one job (see the module table in the README); notebooks import
what they need, e.g. ``from helpers import data, dp``. Nothing here prints:
functions return numbers, arrays, DataFrames or dataclasses for notebooks to show.
"""

__version__ = "0.1.0"
