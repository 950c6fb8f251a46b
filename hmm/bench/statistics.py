"""The arithmetic of the benchmark: medians, paired ratios, geometric means.

On a shared, noisy machine the time of one run says little, and the time of
one allocator measured minutes after another says less.  So every
allocator's run of a workload is paired with glibc's run of the same
workload in the same round (they ran seconds apart, under about the same
noise), the ratio is taken within each pair, and the median of those ratios
over the rounds is reported.  Across workloads, ratios are summarised by
their geometric mean, the only mean for which "A is 2x B on one workload and
0.5x on another" averages to 1.
"""
import math


def median(values):
    """The median of a non-empty sequence of numbers (the mean of the two
    middle values for an even count)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("median of no values")
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def paired_ratios(values, baseline):
    """Per-round ratios value / baseline.

    `values` and `baseline` map a round number to a measurement; only rounds
    present in both (a failed run leaves its round out) and with a positive
    baseline are paired.  Returns the ratios in round order."""
    return [values[r] / baseline[r] for r in sorted(values)
            if r in baseline and baseline[r] > 0]


def paired_ratio(values, baseline):
    """The median over rounds of the per-round ratio to the baseline, or
    None when no round can be paired."""
    ratios = paired_ratios(values, baseline)
    return median(ratios) if ratios else None


def geometric_mean(values):
    """The geometric mean of positive numbers; None for an empty sequence."""
    values = list(values)
    if not values:
        return None
    if any(v <= 0 for v in values):
        raise ValueError(f"geometric mean of non-positive values: {values}")
    return math.exp(sum(math.log(v) for v in values) / len(values))
