"""Confidence interval of a share (percent agreement): the Wilson score interval.

Wilson rather than the normal ("Wald") interval because Delphi panels are small and
shares are often near 0 or 100 %, where Wald collapses to zero width or leaves [0, 1].
Reference values: statsmodels ``proportion_confint(method="wilson")``.
"""

from __future__ import annotations

import math

Z_95 = 1.959963984540054  # two-sided 95 %: the 97.5th percentile of the standard normal


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float] | None:
    """The Wilson score interval of ``successes / n`` as shares in [0, 1]; None when n is 0."""
    if n <= 0:
        return None
    if not 0 <= successes <= n:
        raise ValueError(f"successes must lie in 0..{n}, got {successes}")
    share = successes / n
    z2 = z * z
    centre = (share + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(share * (1 - share) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    # At 0 and n the bounds are exactly 0 and 1; floating rounding must not move them.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high
