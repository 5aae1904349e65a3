"""What every benchmark times with: the median of some runs after one warm-up run, in milliseconds."""
from __future__ import annotations

import statistics
import time


def median_ms(fn, runs: int) -> float:
    fn()  # warm
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000
