"""Which meta-train domains to fine-tune next: the selection policies.

A round of the selection loop knows the golden labels of the domains fine-tuned so far and nothing of the others:
the gap a fine-tune of candidate T would reveal (golden minus what in-context learning predicts) is known only
after it. So every policy but the oracle ranks candidates by a surrogate that costs no fine-tune. A fine-tune
reveals a whole row of the T x E matrix at once (adaptive column sampling for matrix completion: pick the rows
the current model explains worst, but not only outliers).

Costs are in forward passes of the base model (with or without the meta-model's adapter); "probe answers" are
the round's sampled answers of the current meta-model for each candidate T on the probe eval domains (config
`selection.probe_eval_domains` x their questions x `selection.probe_samples_per_question`).

- `random` (the control): a seeded uniform draw. No forward pass.
- `surprise`: the predicted ICL-SFT gap, the mean over probe eval domains E of |MetaSFT's predicted propensity -
  UntrainedICL's| for (T, E); the largest first. MetaSFT predicts what the fine-tune would do, UntrainedICL what
  in-context learning sees, both without a fine-tune. Cost: the probe answers of the current meta-model (the
  run's UntrainedICL answers are reused). Pure max-surprise tends to pick outliers.
- `uncertainty`: the spread of MetaSFT's prediction for (T, E) over `selection.uncertainty_draws` draws of its
  in-context examples (standard deviation across draws, mean over probe E); the largest first. Cost: the probe
  answers once per draw. Sampling noise adds to every candidate's spread alike in expectation, most where
  propensities are near 50.
- `search`: an ICM-style search over sets (Wen et al. 2025; a Gibbs / simulated-annealing swap of one member for
  one non-member, seeded): the round's set maximises the summed surprise of its members, each discounted by its
  closeness to the nearest other member or earlier pick (`set_objective`), so a cluster of alike outliers counts
  about once. It scores sets with the surprise surrogate and the diversity features, so it costs the surprise
  probes and no more forward passes; "how badly the current meta-model predicts the set" cannot be measured
  before the set is fine-tuned, so the surrogate stands in for it.
- `diversity`: k-center greedy on cheap features of T, UntrainedICL's predicted propensities over the meta-train
  eval domains (the run's own answers): each pick is the candidate farthest from every domain chosen so far. The
  baseline active-learning studies find hardest to beat besides random. No forward pass beyond the run's
  UntrainedICL answers.
- `oracle` (simulation only, flagged): the realised gap, the mean over meta-train eval domains of |golden -
  UntrainedICL| read off the hidden golden labels of candidates not yet fine-tuned. The upper bound of a
  gap-seeking policy; it sees what no live run can.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from metasft.pipeline.config import ConfigError


@dataclass(frozen=True)
class Policy:
    name: str
    needs: tuple[str, ...]  # surrogates (Surrogates fields) the policy reads
    sees_hidden_labels: bool = False  # replay only: no live run has those labels


POLICIES = {p.name: p for p in (
    Policy("random", ()),
    Policy("surprise", ("surprise",)),
    Policy("uncertainty", ("uncertainty",)),
    Policy("search", ("surprise", "features")),
    Policy("diversity", ("features",)),
    Policy("oracle", ("hidden_gap",), sees_hidden_labels=True),
)}


@dataclass
class Surrogates:
    """What a round knows of its candidates, per candidate domain; only the fields the policy needs are filled."""
    surprise: dict[str, float] = field(default_factory=dict)
    uncertainty: dict[str, float] = field(default_factory=dict)
    features: dict[str, np.ndarray] = field(default_factory=dict)  # every meta-train domain, chosen ones too
    hidden_gap: dict[str, float] = field(default_factory=dict)


class SelectionError(ConfigError):
    """A selection config the run cannot serve, or a policy asked for what it may not see."""


def top(scores: dict[str, float], candidates: list[str], k: int) -> list[str]:
    """The k candidates of highest score; ties by name, so a round is reproducible."""
    missing = [c for c in candidates if c not in scores or not np.isfinite(scores[c])]
    if missing:
        raise SelectionError(f"no surrogate score for candidate domains {missing[:5]}")
    return sorted(candidates, key=lambda c: (-scores[c], c))[:k]


def _distances(features: dict[str, np.ndarray], rows: list[str], columns: list[str]) -> np.ndarray:
    a = np.stack([features[r] for r in rows])
    b = np.stack([features[c] for c in columns])
    return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).mean(axis=2))  # RMS difference, in propensity points


def k_center(features: dict[str, np.ndarray], chosen: list[str], candidates: list[str], k: int) -> list[str]:
    """Greedy k-center: each pick is the candidate whose nearest chosen (or already picked) domain is farthest;
    with nothing chosen yet, the first pick is the candidate farthest from the mean of all. Ties by name."""
    picked, remaining = [], sorted(candidates)
    if not remaining:
        return []
    if chosen:
        nearest = _distances(features, remaining, sorted(chosen)).min(axis=1)
    else:
        centre = np.mean([features[c] for c in remaining], axis=0)
        nearest = np.sqrt(((np.stack([features[c] for c in remaining]) - centre) ** 2).mean(axis=1))
    while remaining and len(picked) < k:
        best = min(range(len(remaining)), key=lambda i: (-nearest[i], remaining[i]))
        pick = remaining.pop(best)
        picked.append(pick)
        nearest = np.delete(nearest, best)
        if remaining:
            nearest = np.minimum(nearest, _distances(features, remaining, [pick])[:, 0])
    return picked


def set_objective(members: list[str], surprise: dict[str, float], distance: dict[tuple[str, str], float],
                  chosen: list[str], scale: float) -> float:
    """The `search` policy's score of a set: sum over members of surprise x min(1, d / scale), d the member's
    distance to the nearest other member or chosen domain (no discount when it has none)."""
    total = 0.0
    for m in members:
        others = [o for o in (*members, *chosen) if o != m]
        d = min((distance[m, o] for o in others), default=np.inf)
        total += surprise[m] * min(1.0, d / scale)
    return total


def annealed_set(surprise: dict[str, float], features: dict[str, np.ndarray], chosen: list[str],
                 candidates: list[str], k: int, rng: np.random.Generator, iterations: int) -> list[str]:
    """The `search` policy: simulated annealing over k-subsets of the candidates (swap one member for one
    non-member), starting from the k most surprising; the temperature falls linearly to zero. Returns the best set
    seen, sorted by surprise."""
    candidates = sorted(candidates)
    if len(candidates) <= k:
        return top(surprise, candidates, k)
    names = sorted({*candidates, *chosen})
    matrix = _distances(features, names, names)
    distance = {(a, b): matrix[i, j] for i, a in enumerate(names) for j, b in enumerate(names)}
    off_diagonal = matrix[~np.eye(len(names), dtype=bool)]
    scale = float(np.median(off_diagonal)) if off_diagonal.size and np.median(off_diagonal) > 0 else 1.0
    current = top(surprise, candidates, k)
    value = set_objective(current, surprise, distance, chosen, scale)
    best, best_value = list(current), value
    spread = float(np.std([surprise[c] for c in candidates])) or 1.0
    for step in range(iterations):
        temperature = spread * (1 - step / iterations)
        outside = [c for c in candidates if c not in current]
        swap_out, swap_in = int(rng.integers(k)), outside[int(rng.integers(len(outside)))]
        proposal = [*current[:swap_out], swap_in, *current[swap_out + 1:]]
        proposed = set_objective(proposal, surprise, distance, chosen, scale)
        if proposed >= value or (temperature > 0 and rng.random() < np.exp((proposed - value) / temperature)):
            current, value = proposal, proposed
            if value > best_value:
                best, best_value = list(current), value
    return sorted(best, key=lambda c: (-surprise[c], c))


def choose(policy: str, candidates: list[str], chosen: list[str], k: int, surrogates: Surrogates,
           rng: np.random.Generator, search_iterations: int = 2000) -> tuple[list[str], dict[str, float]]:
    """The next `k` domains `policy` fine-tunes among `candidates` (domains not chosen yet), and the score it
    ranked each candidate by (empty for random; for diversity the distance to the nearest chosen domain)."""
    if policy not in POLICIES:
        raise SelectionError(f"unknown selection policy {policy!r}; known: {', '.join(POLICIES)}")
    candidates = sorted(candidates)
    k = min(k, len(candidates))
    if policy == "random":
        order = rng.permutation(len(candidates))
        return [candidates[i] for i in order[:k]], {}
    if policy == "surprise":
        return top(surrogates.surprise, candidates, k), dict(surrogates.surprise)
    if policy == "uncertainty":
        return top(surrogates.uncertainty, candidates, k), dict(surrogates.uncertainty)
    if policy == "oracle":
        return top(surrogates.hidden_gap, candidates, k), dict(surrogates.hidden_gap)
    if policy == "diversity":
        nearest = (_distances(surrogates.features, candidates, sorted(chosen)).min(axis=1) if chosen
                   else np.full(len(candidates), np.nan))
        return k_center(surrogates.features, chosen, candidates, k), dict(zip(candidates, map(float, nearest)))
    return (annealed_set(surrogates.surprise, surrogates.features, chosen, candidates, k, rng, search_iterations),
            dict(surrogates.surprise))
