"""The registry of sources and methods: one row each, from which the rest of the package and the workflow derive
what they need (sampling rules and their prompts and adapters, the methods compared and their comparisons, the
figures' colours, cluster resources, the output layout). Adding a sampled method is one row here plus, for a new kind
of prompt, its prompt function (`metasft.methods.prompts.PROMPT_KINDS`).

A source is something whose answers are sampled (rule `rule`, folder `results/<run>/answers/<name>/`); golden is the
reference, the others are methods predicting it. The GT family are methods computed from golden's samples (rule
`baselines`), with no rule of their own. A method has one spelling everywhere: its rule's outputs, answer folder,
metrics.csv's `method` column, config values and figure labels (the study's "MetaSFT->NL" is `MetaSFT-to-NL`).

This module imports nothing from the package: every layer may read it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    name: str
    # Its sampling rule; None for the GT family (rule baselines deals them golden's samples).
    rule: str | None
    # The prompt its requests carry: "question" (E's question alone), "examples" (ObjectICL: k train pairs of T
    # first) or "description" (T's training data in plain words first); None for the GT family.
    prompt: str | None
    # The adapter its requests name: None (the base model), TRAIN_DOMAIN (M_T: T's own ObjectSFT adapter) or a
    # meta-model's name (its folder is the workflow's: rules/common.smk ADAPTER_FOLDERS).
    adapter: str | None
    # Sampled only when config nl.enabled (the methods that read T's description).
    nl: bool
    colour: str
    # GPU minutes per 100 sampled answers for a 1B-parameter model (metasft.pipeline.resources scales it by model
    # size; cluster.minutes_per_unit overrides it per rule): prompt length drives it.
    gpu_minutes: float = 0.0
    # Exploratory comparisons: this method's RMSE minus each of these (besides FOCUS_METHOD against every other).
    compared_with: tuple[str, ...] = ()

    @property
    def is_method(self) -> bool:
        return self.name != GOLDEN


GOLDEN = "golden"
TRAIN_DOMAIN = "train domain"
# The method compared with every other in comparisons.csv.
FOCUS_METHOD = "MetaSFT"

REGISTRY = (
    Source(GOLDEN, "golden", "question", TRAIN_DOMAIN, nl=False, colour="#000000", gpu_minutes=0.02),
    Source("GT", None, None, None, nl=False, colour="#333333"),
    Source("GT-EvalOnly", None, None, None, nl=False, colour="#8c8c8c"),
    Source("GT-TrainOnly", None, None, None, nl=False, colour="#c7c7c7"),
    Source("UntrainedICL", "predict_icl", "examples", None, nl=False, colour="#4c72b0", gpu_minutes=0.04),
    Source("MetaSFT", "predict_metasft", "examples", "MetaSFT", nl=False, colour="#dd8452", gpu_minutes=0.04),
    # Does a description do what examples do?
    Source("UntrainedNL", "predict_nl", "description", None, nl=True, colour="#64b5cd", gpu_minutes=0.025,
           compared_with=("UntrainedICL",)),
    # Does the ICL-trained meta-model read descriptions zero-shot?
    Source("MetaSFT-to-NL", "predict_metasft_to_nl", "description", "MetaSFT", nl=True, colour="#c44e52",
           gpu_minutes=0.025, compared_with=("UntrainedNL",)),
    # Does the small additional fine-tune on descriptions help?
    Source("MetaSFT-NL", "predict_metasft_nl", "description", "MetaSFT-NL", nl=True, colour="#8172b3",
           gpu_minutes=0.025, compared_with=("UntrainedNL", "MetaSFT-to-NL")),
)
BY_NAME = {source.name: source for source in REGISTRY}
# Spellings of earlier versions, for the error a config naming one gets.
FORMER_NAMES = {"MetaSFT->NL": "MetaSFT-to-NL"}

# Sources with a sampling rule, in rule order (golden first); their names; the methods in reading order.
SAMPLED = tuple(source for source in REGISTRY if source.rule)
SAMPLING_RULES = tuple(source.rule for source in SAMPLED)
METHODS = tuple(source.name for source in REGISTRY if source.is_method)
NL_SOURCES = tuple(source.name for source in SAMPLED if source.nl)
# The methods that answer from a model and a prompt (the GT family answers from golden's samples alone).
MODEL_METHODS = tuple(source.name for source in SAMPLED if source.is_method)
COLOURS = {source.name: source.colour for source in REGISTRY}
# (method, baseline) of the exploratory comparisons besides FOCUS_METHOD's.
OWN_COMPARISONS = tuple((source.name, baseline) for source in REGISTRY for baseline in source.compared_with)


def sampled_sources(nl: bool) -> list[str]:
    """The sources a run samples: every one, or those that need no description (`nl` off)."""
    return [source.name for source in SAMPLED if nl or not source.nl]


def by_model(methods) -> list[str]:
    """`methods` grouped by the model that answers them (the base model's, then each meta-model's), in registry order
    within a group: each ICL method beside its NL counterparts."""
    adapters = list(dict.fromkeys(BY_NAME[m].adapter for m in methods))
    return sorted(methods, key=lambda m: adapters.index(BY_NAME[m].adapter))
