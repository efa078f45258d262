"""The tiny raw zone of the CLI tests, written by hand (tests/transform/lakebuilder.py)."""

from __future__ import annotations

from tests.transform.lakebuilder import LakeBuilder, inv, sale


def fill(lake: LakeBuilder, bad: int = 0) -> LakeBuilder:
    """Week 202602: stores 248 and 1054, products 5889 and 15497; ``bad`` more sales with quantity 'abc'."""
    sales = [
        sale(1, 248, 5889, "2026-01-05", 2, "20.00", "10.00"),
        sale(2, 248, 15497, "2026-01-05", 1, "50.00", "30.00"),
        sale(3, 1054, 15497, "2026-01-06", 4, "80.00", "60.00"),
    ]
    lake.day(
        "2026-01-05",
        sales=sales[:2] + [sale(100 + i, 248, 5889, "2026-01-05", "abc", "1.00", "1.00") for i in range(bad)],
        inventory=[inv("2026-01-05", 248, 5889, 0, 0, 1)],
    )
    lake.day("2026-01-06", sales=sales[2:])
    return lake
