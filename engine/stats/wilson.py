"""Wilson score 95 % confidence interval of a share (Wilson, JASA 1927).

A Delphi panel is small, so a share such as "12 of 15 agreed (80 %)" is uncertain;
the Wilson interval stays inside 0-100 % and keeps close to its nominal coverage for
small n and shares near 0 or 1, where the Wald interval fails (Brown, Cai & DasGupta,
Stat Sci 2001). Same formula as ``statsmodels.stats.proportion.proportion_confint(
method="wilson")``.
"""

from __future__ import annotations

import numpy as np

from engine.stats.quantiles import FloatArray, IntArray

Z95 = 1.959963984540054  # scipy.stats.norm.ppf(0.975)


def wilson_interval(k: IntArray, n: IntArray, z: float = Z95) -> tuple[FloatArray, FloatArray]:
    """Lower and upper bounds in percent (0-100) of ``k`` successes in ``n``; NaN where n = 0."""
    k = np.asarray(k, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        z2 = z * z
        denominator = 1 + z2 / n
        centre = (p + z2 / (2 * n)) / denominator
        half = z / denominator * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
        low = np.clip(centre - half, 0.0, 1.0) * 100
        high = np.clip(centre + half, 0.0, 1.0) * 100
    # The bounds at k = 0 and k = n are exactly 0 and 1; rounding must not move them.
    low = np.where(k == 0, 0.0, low)
    high = np.where(k == n, 100.0, high)
    valid = n > 0
    return np.where(valid, low, np.nan), np.where(valid, high, np.nan)
