"""The verified decision of the semantic tier (issue 14.1): serve a cached answer only when an uncertainty-aware
lower bound on the probability that it is right keeps the error of this request within δ.

After vCache (Schroeder et al., arXiv 2502.03771), lifted from one cosine to a few features and from per-entry
fits to one Bayesian logistic model per route, because a stream where each intent recurs ~3 times never gives an
entry the handful of verifications a per-entry fit needs (the vCache authors' own cold-start remark, issue #81):

* P(correct | x) = σ(wᵀx). The prior N(w₀, Σ₀) is fitted once on the *tune* half of the stream set
  (``benchmarks/train_cache_prior.py``) and shipped; Σ₀ is inflated so it weighs like ``prior_weight``
  observations, and each verification outcome updates the posterior (Laplace, Newton steps over prior +
  observations) so a deployment corrects a prior that does not fit its traffic.
* α = a lower credible bound on P(correct): σ(m − z·√v), m = wᵀx, v = xᵀΣx, z from ``confidence`` (or vCache's
  max over ε of (1 − ε)·σ(m − z₁₋ε·√v)); low when the model is unsure (few observations near x).
* Default rule (``explore_rule: bound``): serve iff α ≥ 1 − δ′ (δ′ = safety·δ), so a served request is wrong
  with probability ≤ δ′ while the model is calibrated; otherwise explore (call the provider anyway, answer with the
  fresh answer, compare, learn). vCache's rule (``vcache``): explore with probability τ = 1 − δ′/(1 − α), i.e. also
  serve unsure candidates now and then; on the tune half that tripled the error for the same recall. Confident
  hits are audited at ``audit_rate``. Below ``p_floor`` (predictive probability) a candidate is not plausible: a
  plain miss, nothing verified. Randomness comes from an injected ``random.Random``.

Pure computation (numpy, microseconds per decision); callers run it off the event loop with the embedding."""

from __future__ import annotations

import enum
import json
import math
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np

__all__ = ["Action", "Decision", "ErrorBudget", "LearnedModel", "Prior", "decide", "lower_bound"]

PRIOR_PATH = Path(__file__).with_name("prior.json")
_EPS = np.linspace(1e-4, 0.5, 40)
_Z = np.array([NormalDist().inv_cdf(1 - e) for e in _EPS])


class Action(enum.StrEnum):
    SERVE = "serve"
    EXPLORE = "explore"  # call the provider anyway, answer with the fresh answer, compare, learn
    MISS = "miss"  # not plausible: nothing to verify


@dataclass(frozen=True)
class Prior:
    """Feature names, prior mean and covariance, and where they came from (``meta``: split, counts)."""

    names: tuple[str, ...]
    mean: np.ndarray
    cov: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path | None = None) -> Prior:
        with open(path or PRIOR_PATH, encoding="utf-8") as f:
            raw = json.load(f)
        return cls(tuple(raw["names"]), np.array(raw["mean"], float), np.array(raw["cov"], float), raw.get("meta", {}))

    def save(self, path: str | Path) -> None:
        data = {"names": list(self.names), "mean": self.mean.tolist(), "cov": self.cov.tolist(), "meta": self.meta}
        Path(path).write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")

    @classmethod
    def flat(cls, names: tuple[str, ...], scale: float = 10.0) -> Prior:
        """An uninformative prior (mean 0, wide): everything is explored until data arrive."""
        return cls(names, np.zeros(len(names)), np.eye(len(names)) * scale**2, {"kind": "flat"})


def fit_logistic(
    x: np.ndarray, y: np.ndarray, mean: np.ndarray, precision: np.ndarray, iters: int = 25
) -> tuple[np.ndarray, np.ndarray]:
    """MAP weights and Laplace covariance of a logistic model with a Gaussian prior (Newton's method)."""
    w = mean.copy()
    cov = np.linalg.inv(precision)
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-(x @ w))) if len(x) else np.zeros(0)
        grad = x.T @ (y - p) - precision @ (w - mean)
        hess = (x.T * (p * (1 - p))) @ x + precision
        step = np.linalg.solve(hess, grad)
        w = w + step
        cov = np.linalg.inv(hess)
        if float(np.max(np.abs(step), initial=0.0)) < 1e-7:
            break
    return w, cov


class LearnedModel:
    """The posterior of one route's model: the shipped prior plus every verification outcome seen (its own and,
    through the store's observation log, every replica's). Refitted lazily on the next score after new data."""

    def __init__(
        self,
        prior: Prior,
        *,
        max_observations: int = 5_000,
        eager_below: int = 2_000,
        refit_every_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """A refit is a Newton fit over every observation on the caller's thread: below ``eager_below``
        observations each new outcome is fitted at the next score; above, at most once per ``refit_every_s``."""
        self._eager_below = eager_below
        self._refit_every_s = refit_every_s
        self._clock = clock
        self._last_fit = float("-inf")
        self.prior = prior
        self.names = prior.names
        self._precision = np.linalg.inv(prior.cov)
        self._xs: deque[np.ndarray] = deque(maxlen=max_observations)
        self._ys: deque[float] = deque(maxlen=max_observations)
        self.w = prior.mean.copy()
        self.cov = prior.cov.copy()
        self._dirty = False
        self.observed = 0
        self.correct = 0

    def vector(self, features: dict[str, float]) -> np.ndarray:
        """The model's input in its own feature order; a feature the caller did not compute counts as 0."""
        return np.array([features.get(n, 0.0) for n in self.names], dtype=float)

    def observe(self, x: np.ndarray, correct: bool) -> None:
        self._xs.append(np.asarray(x, dtype=float))
        self._ys.append(1.0 if correct else 0.0)
        self.observed += 1
        self.correct += bool(correct)
        self._dirty = True

    def _refit(self) -> None:
        if not self._dirty:
            return
        now = self._clock()
        if len(self._xs) >= self._eager_below and now - self._last_fit < self._refit_every_s:
            return
        self._last_fit = now
        x = np.stack(self._xs) if self._xs else np.zeros((0, len(self.names)))
        self.w, self.cov = fit_logistic(x, np.array(self._ys), self.prior.mean, self._precision)
        self._dirty = False

    def score(self, x: np.ndarray) -> tuple[float, float]:
        """(logit mean, logit variance) of P(correct) for input ``x``."""
        self._refit()
        return float(x @ self.w), float(max(x @ self.cov @ x, 0.0))


def lower_bound(mean: float, var: float, confidence: float | None = None) -> float:
    """A lower bound on P(correct) given the model's own uncertainty. ``confidence`` None: vCache's
    α = max over ε of (1 − ε)·σ(mean − z₁₋ε·√var) (with the logit's variance in place of the threshold's);
    else the one-sided credible bound σ(mean − z_confidence·√var)."""
    if confidence is not None:
        return float(1 / (1 + math.exp(-(mean - NormalDist().inv_cdf(confidence) * math.sqrt(var)))))
    logits = mean - _Z * math.sqrt(var)
    return float(np.max((1 - _EPS) / (1 + np.exp(-logits))))


def predictive(mean: float, var: float) -> float:
    """P(correct) averaged over the model's uncertainty (probit approximation): what "plausible" is judged by,
    so an unsure model still explores (and learns) instead of missing everything."""
    return float(1 / (1 + math.exp(-mean / math.sqrt(1 + math.pi * var / 8))))


@dataclass(frozen=True)
class Decision:
    action: Action
    alpha: float  # the lower bound on P(correct)
    tau: float  # the exploration probability of the vCache rule (before the audit rate)
    forced: bool = False  # explored whatever the bound says (the entry was verified wrong at such odds before)


def decide(
    mean: float,
    var: float,
    *,
    delta: float,
    rng: random.Random,
    audit_rate: float = 0.0,
    p_floor: float = 0.0,
    confidence: float | None = None,
    randomised: bool = True,
) -> Decision:
    """Serve, explore or miss for one candidate whose logit of P(correct) is N(mean, var). Serving happens with
    probability ≤ δ/(1 − α), so the chance this request gets a wrong answer is ≤ δ while α is a true bound."""
    alpha = lower_bound(mean, var, confidence)
    if predictive(mean, var) < p_floor:
        return Decision(Action.MISS, alpha, 1.0)
    tau = 1.0 if delta <= 0 else max(0.0, 1.0 - delta / max(1.0 - alpha, 1e-12))
    if not randomised and tau > 0:
        tau = 1.0  # serve only above the bound: no budget spent on chance hits of unsure candidates
    explore = rng.random() < max(tau, audit_rate)
    return Decision(Action.EXPLORE if explore else Action.SERVE, alpha, tau)


#: verifications that count for calibration: the ones the model called more likely right than wrong
CALIBRATION_BAND = 0.5


@dataclass
class ErrorBudget:
    """The error bound as a budget over requests (``explore_rule: budget``). δ is a rate over *requests*
    (wrong hits / requests), and a request that misses cannot be wrong, so a candidate below the per-hit bound may
    still be served while the expected wrong hits so far — Σ (1 − α) over served hits, α the lower bound — plus its
    own stay within δ′ × the requests seen. Confident candidates are served as under ``bound`` and charged too;
    ``max_hit_error`` keeps any single hit from being a long shot however much budget is left. One per route and
    replica: each replica keeps its own share of the bound, so their sum keeps it too."""

    requests: int = 0
    spent: float = 0.0
    expected_wrong: float = 0.0  # over verified plausible candidates: Σ (1 − p) the model predicted ...
    observed_wrong: int = 0  # ... and how many were wrong

    def count(self) -> None:
        self.requests += 1

    def observe(self, p: float, correct: bool) -> None:
        """A verification outcome: a model that is wrong more often than it predicts (traffic unlike what its
        prior was fitted on) makes every charge dearer, so the budget holds on prompts nobody tuned it on."""
        if p >= CALIBRATION_BAND:
            self.expected_wrong += 1.0 - p
            self.observed_wrong += not correct

    def miscalibration(self) -> float:
        """Observed / predicted wrong verifications (≥ 1; +1 smoothing, so a handful of outcomes moves it little)."""
        return max(1.0, (self.observed_wrong + 1.0) / (self.expected_wrong + 1.0))

    def cost(self, alpha: float) -> float:
        return self.miscalibration() * max(1.0 - alpha, 0.0)

    def allows(self, alpha: float, delta: float, max_hit_error: float) -> bool:
        cost = self.cost(alpha)
        return cost <= max_hit_error and self.spent + cost <= delta * self.requests

    def charge(self, alpha: float) -> None:
        self.spent += self.cost(alpha)


BASE_FEATURES = ("bias", "cos_same", "cos_cross", "cross", "zh", "margin", "len_ratio")
#: what the shipped prior is trained on: the cache's own features, then ``infra.cache.features``'s (``f_*``) with
#: availability flags (``has_*``) for those that can be missing (second embedder, word-frequency lists)
MODEL_FEATURES = (
    "bias",
    "cos_same",
    "cos_cross",
    "margin",
    "support",
    "entry_bad",
    "f_e5_cos",
    "f_subst_min",
    "f_unshared_frac",
)


def base_features(cos: float, lang_q: str, lang_c: str, margin: float, len_q: int, len_c: int) -> dict[str, float]:
    """The features the cache computes itself: the retrieval cosine split by whether the languages differ (a
    cross-lingual paraphrase scores lower than a same-language one), language flags, the margin to the nearest
    candidate holding a *different* answer (two close, different answers = a near-miss region) and the length
    ratio. Other features (a second embedder, word-frequency substitutions) come from ``infra.cache.features``."""
    cross = float(lang_q != lang_c or "und" in (lang_q, lang_c))
    return {
        "bias": 1.0,
        "cos_same": cos * (1 - cross),
        "cos_cross": cos * cross,
        "cross": cross,
        "zh": float("zh" in (lang_q, lang_c)),
        "margin": min(margin, 0.3),
        "len_ratio": abs(math.log(max(len_q, 1) / max(len_c, 1))),
    }


def language_class(lang_q: str, lang_c: str) -> str:
    if lang_q == lang_c != "und":
        return "same-language"
    return "zh-involved" if "zh" in (lang_q, lang_c) else "cross-lingual"


def cluster_features(entry: Any, live: list[tuple[Any, float]]) -> dict[str, float]:
    """What verification already taught about this answer: how many other candidates hold the same answer (a
    paraphrase verified earlier joins its answer's cluster), how often this entry was verified right, and whether
    it was ever verified wrong."""
    same = sum(1 for other, _ in live if other is not entry and other.answer_id == entry.answer_id)
    return {
        "support": math.log1p(same),
        "entry_ok": math.log1p(entry.n_ok),
        "entry_bad": float(entry.n_bad > 0),
    }
