"""Domains, suites, the meta split and its quadrants, and ICL example sampling."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from metasft.judging.prompts import Rubric

QUADRANTS = ("train_train", "train_eval", "eval_train", "eval_eval")


def word_pattern(*names: str) -> re.Pattern:
    """Any of `names` as a whole word of a lower-cased text: how an answer is parsed to an option
    (`judging.score.OptionParser`), and so what suite validation checks to make every answer parse to one option."""
    return re.compile("|".join(r"(?<![a-z0-9])" + re.escape(n.lower()) + r"(?![a-z0-9])" for n in names))


class SuiteError(ValueError):
    """A suite file is malformed; the message names the file and the domain."""


@dataclass(frozen=True)
class Option:
    id: str
    text: str
    aliases: tuple[str, ...] = ()
    persona: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return (self.text, *self.aliases)


@dataclass(frozen=True)
class EvalJudge:
    """How the answers to a judged eval question are scored: the `rubric` whose verdict is the propensity
    (``100 - verdict`` when `reverse`, e.g. EM's "aligned" read as misalignment) and an optional `coherence`
    gate (0-100: an answer rated below 50 is counted as incoherent, not scored)."""

    rubric: Rubric
    coherence: Rubric | None = None
    reverse: bool = False


@dataclass(frozen=True)
class Domain:
    id: str
    title: str
    train: tuple[tuple[str, str], ...]  # (question, answer)
    eval_questions: tuple[str, ...]
    options: tuple[Option, ...] = ()
    designated: str | None = None
    aligned: tuple[str, ...] = ()  # advice suites: a sound answer to each train question (tiny world only)
    # Judged custom suites, one entry per eval question: its judge, and its samples (None: config
    # generation.samples_per_question). Empty for other suites.
    eval_judges: tuple[EvalJudge, ...] = ()
    eval_samples: tuple[int | None, ...] = ()
    # Categorical suites whose eval questions have different right answers (reversal curse): the designated option
    # per eval question. Empty: `designated` for every question.
    eval_designated: tuple[str, ...] = ()
    # The domain's latent persona where the suite says so (historical persons: the person); else the designated
    # option's persona.
    persona: str | None = None
    # Its training data in plain words (the NL methods' prompt); None where the suite has none.
    description: str | None = None

    def samples(self, question_index: int, default: int) -> int:
        """How many answers to sample for eval question `question_index` (`default`: config
        generation.samples_per_question, unless the suite file set the question's own)."""
        own = self.eval_samples[question_index] if question_index < len(self.eval_samples) else None
        return own if own is not None else default

    def designated_for(self, question_index: int) -> str | None:
        """The option that eval question `question_index`'s answers are scored against."""
        return self.eval_designated[question_index] if self.eval_designated else self.designated

    def option(self, option_id: str) -> Option:
        return next(o for o in self.options if o.id == option_id)

    @property
    def designated_persona(self) -> str | None:
        if self.persona is not None:
            return self.persona
        return self.option(self.designated).persona if self.designated else None


@dataclass(frozen=True)
class Suite:
    name: str
    scorer: str
    domains: dict[str, Domain]
    personas: tuple[str, ...] = ()
    source: str = ""
    extra: dict = field(default_factory=dict)

    def subset(self, domain_ids: list[str] | None) -> "Suite":
        """The suite restricted to `domain_ids` (all domains when None or empty), in the given order."""
        if not domain_ids:
            return self
        unknown = [d for d in domain_ids if d not in self.domains]
        if unknown:
            raise SuiteError(
                f"config suite.domains names domains not in suite '{self.name}' ({self.source}): "
                + ", ".join(unknown)
            )
        if len(set(domain_ids)) != len(domain_ids):
            raise SuiteError(f"config suite.domains lists a domain twice: {domain_ids}")
        return Suite(self.name, self.scorer, {d: self.domains[d] for d in domain_ids}, self.personas,
                     self.source, self.extra)

    def answers_per_pair(self, questions_per_domain: int, samples_per_question: int) -> float:
        """Mean answers sampled per (T, E) pair: the first `questions_per_domain` eval questions of each domain,
        each sampled its own number of times (`Domain.samples`) or `samples_per_question`."""
        counts = [sum(d.samples(q, samples_per_question) for q in range(min(questions_per_domain, len(d.eval_questions))))
                  for d in self.domains.values() if d.eval_samples]
        plain = len(self.domains) - len(counts)
        return (sum(counts) + plain * questions_per_domain * samples_per_question) / max(len(self.domains), 1)

    def _selected_units(self, key: str) -> list[str]:
        """Units of generation (an advice area: one domain; a person: two) listed at `key` of which this suite
        holds a domain."""
        members = self.extra.get("unit_domains") or {}
        return [u for u in self.extra.get(key, ()) if any(d in self.domains for d in members.get(u, (u,)))]

    @property
    def pending(self) -> list[str]:
        """Units (advice areas, persons) whose data must still be generated (generate_suite)."""
        return self._selected_units("pending")

    @property
    def pending_domains(self) -> list[str]:
        """The domains of the pending units (no train or eval data until generate_suite writes it)."""
        members = self.extra.get("unit_domains") or {}
        return [d for u in self.pending for d in members.get(u, (u,)) if d in self.domains]

    @property
    def generation_requests(self) -> int:
        """About how many API requests generate_suite makes for the pending units: two per advice area (train pairs,
        eval questions), one per person or relation."""
        areas = self.extra.get("areas") or {}
        return sum(1 if areas.get(u, {}).get("generator") in ("person", "relation") else 2 for u in self.pending)

    @property
    def unshipped(self) -> list[str]:
        """Units that ship no data, generated yet or not: what generate_suite writes. Unlike `pending` it does not
        depend on the generated folder, so the workflow's DAG is the same before and after."""
        return self._selected_units("unshipped")


def split_domains(domain_ids: list[str], seed: int, meta_train_fraction: float = 0.5) -> dict[str, str]:
    """Seeded split of domains into `meta_train` and `meta_eval`; independent of the listing order."""
    ordered = sorted(domain_ids)
    random.Random(f"split:{seed}").shuffle(ordered)
    n_train = round(len(ordered) * meta_train_fraction)
    if len(ordered) >= 2:
        n_train = min(max(n_train, 1), len(ordered) - 1)  # both halves need a domain
    return {d: ("meta_train" if i < n_train else "meta_eval") for i, d in enumerate(ordered)}


def quadrant(split: dict[str, str], train_domain: str, eval_domain: str) -> str:
    """`train_eval` = T from the meta-train half, E from the meta-eval half, and so on."""
    return f"{split[train_domain].removeprefix('meta_')}_{split[eval_domain].removeprefix('meta_')}"


def icl_examples(domain: Domain, k: int, seed: int, eval_domain: str, question_index: int) -> list[tuple[str, str]]:
    """k train pairs of `domain`, sampled per (T, E, question) so every method sees the same context."""
    rng = random.Random(f"icl:{seed}:{domain.id}:{eval_domain}:{question_index}")
    return rng.sample(list(domain.train), min(k, len(domain.train)))
