"""Maximum-likelihood estimates of the funnel's probabilities, each with a 95 % interval (numpy only).

The position model (``simulate.funnel_thresholds``): a slot shortlisted at rank k is presented with
probability q(k) = presented × decay^(k−1). With n(k) slots at rank k of which x(k) were presented,
the log-likelihood is Σ x(k)·log q(k) + (n(k) − x(k))·log(1 − q(k)). In (log presented, log decay) it is
a binomial model with a log link, concave, so each one-parameter profile is unimodal: the joint maximum
is a golden-section search over decay of the profile (presented maximised for each decay, a monotone
score solved by bisection), and the intervals are profile-likelihood intervals (the likelihood-ratio
test inverted: the values whose deviance from the maximum is at most χ²₁(0.95) = 3.84), which stay
inside 0..1 and are honest near its ends. Both parameters stay in 0..1 (the scenario's bounds).
With slots at the first position only, the decay is not estimated and presented is a proportion.

The conditional stages (viewed | presented, interacted | viewed, converted | interacted) are binomial
proportions: the estimate is the ratio, the interval Wilson's score interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Z95 = 1.959963984540054
CHI2_95 = Z95 * Z95  # the 95 % quantile of χ² with one degree of freedom
_BISECTIONS = 60
_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0
_TOLERANCE = 1e-10


@dataclass(frozen=True)
class Estimate:
    """One probability: the estimate and its 95 % interval, or None with the reason in ``basis``."""

    value: float | None
    low: float | None
    high: float | None
    basis: str  # what it rests on ("812 of 1,530 presented slots"), or why there is no estimate
    method: str  # "wilson", "profile likelihood" or "" (no estimate)


def wilson(successes: int, trials: int, of: str) -> Estimate:
    """The proportion ``successes / trials`` with Wilson's 95 % score interval (None without trials)."""
    if trials <= 0:
        return Estimate(None, None, None, f"no {of}: not estimated", "")
    p = successes / trials
    z2 = CHI2_95
    centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
    half = Z95 * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / (1 + z2 / trials)
    # exact at the ends (the interval reaches 0 or 1 when every trial failed or succeeded)
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return Estimate(p, low, high, f"{successes:,} of {trials:,} {of}", "wilson")


def _loglik(p: float, d: float, n: np.ndarray, x: np.ndarray, k0: np.ndarray) -> float:
    q = p * d**k0
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(x > 0, x * np.log(q), 0.0) + np.where(n > x, (n - x) * np.log1p(-q), 0.0)
    return float(terms.sum())


def _bisect(score: Callable[[float], float], low: float, high: float) -> float:
    """The root of a decreasing ``score`` in (low, high), its ends clamped when it keeps one sign."""
    if score(high) >= 0:
        return high
    if score(low) <= 0:
        return low
    for _ in range(_BISECTIONS):
        mid = (low + high) / 2
        if score(mid) > 0:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def _best_p(d: float, n: np.ndarray, x: np.ndarray, k0: np.ndarray) -> float:
    """Presented maximising the likelihood for a given decay (its score decreases in presented)."""
    c = d**k0
    total = float(x.sum())
    if total == 0:
        return 0.0

    def score(p: float) -> float:
        if p <= 0:
            return math.inf
        with np.errstate(divide="ignore", invalid="ignore"):
            tail = np.where(n > x, (n - x) * c / (1 - p * c), 0.0)
        return total / p - float(tail.sum())

    return _bisect(score, 0.0, 1.0)


def _best_d(p: float, n: np.ndarray, x: np.ndarray, k0: np.ndarray) -> float:
    """Decay maximising the likelihood for a given presented (its score in log decay decreases)."""
    if float((k0 * x).sum()) == 0:
        return 0.0

    def score(d: float) -> float:
        if d <= 0:
            return math.inf
        q = p * d**k0
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where((n > x) & (k0 > 0), (n - x) * q / (1 - q), 0.0)
        return float((k0 * x).sum() - (k0 * ratio).sum())

    return _bisect(score, 0.0, 1.0)


def _argmax_unimodal(f: Callable[[float], float]) -> float:
    """The maximum of a unimodal ``f`` on [0, 1] (golden section; the ends are compared too)."""
    a, b = 0.0, 1.0
    c, d = b - _GOLDEN * (b - a), a + _GOLDEN * (b - a)
    fc, fd = f(c), f(d)
    while b - a > _TOLERANCE:
        if fc >= fd:
            b, d, fd = d, c, fc
            c = b - _GOLDEN * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + _GOLDEN * (b - a)
            fd = f(d)
    inside = (a + b) / 2
    return max((0.0, inside, 1.0), key=f)


def _interval(profile: Callable[[float], float], best: float, top: float) -> tuple[float, float]:
    """The profile-likelihood interval around ``best`` (``top`` = the maximum log-likelihood)."""

    def inside(v: float) -> float:  # > 0 inside the interval
        return CHI2_95 - 2 * (top - profile(v))

    # _bisect wants a decreasing score: ``inside`` rises up to ``best`` and falls after it
    low = 0.0 if inside(0.0) >= 0 else _bisect(lambda v: -inside(v), 0.0, best)
    high = 1.0 if inside(1.0) >= 0 else _bisect(inside, best, 1.0)
    return low, high


def position_model(slots: np.ndarray, presented: np.ndarray) -> tuple[Estimate, Estimate]:
    """Presented (rank 1) and the position decay from the slots and presented slots per rank (index 0 =
    rank 1). Decay needs slots at two ranks; with slots at rank 1 only, presented is the plain proportion
    and decay is not estimated. ValueError when there is nothing to fit."""
    n = np.asarray(slots, dtype=np.float64)
    x = np.asarray(presented, dtype=np.float64)
    k0 = np.arange(len(n), dtype=np.float64)
    ranks = np.flatnonzero(n > 0)
    total_n, total_x = int(n.sum()), int(x.sum())
    basis = f"{total_x:,} presented of {total_n:,} slots"
    if len(ranks) == 0:
        raise ValueError("no shortlisted slot")
    if len(ranks) == 1:
        if ranks[0] != 0:
            raise ValueError(
                f"every slot is at position {ranks[0] + 1}: presented and position_decay cannot be told "
                "apart without slots at two positions, one of them the first"
            )
        p = wilson(total_x, total_n, "slots presented")
        none = Estimate(None, None, None, "slots at position 1 only: not estimated", "")
        return p, none
    d_hat = _argmax_unimodal(lambda d: _loglik(_best_p(d, n, x, k0), d, n, x, k0))
    p_hat = _best_p(d_hat, n, x, k0)
    top = _loglik(p_hat, d_hat, n, x, k0)
    p_low, p_high = _interval(lambda p: _loglik(p, _best_d(p, n, x, k0), n, x, k0), p_hat, top)
    d_low, d_high = _interval(lambda d: _loglik(_best_p(d, n, x, k0), d, n, x, k0), d_hat, top)
    positions = f"positions {ranks[0] + 1}–{ranks[-1] + 1}"
    return (
        Estimate(p_hat, p_low, p_high, f"{basis} at {positions}", "profile likelihood"),
        Estimate(d_hat, d_low, d_high, f"{basis} at {positions}", "profile likelihood"),
    )
