import dataclasses
import functools
import os
import re
import sys
from pathlib import Path

# The logic lives in the package under src/; make it importable here and in every job (conda envs included)
# whether or not the project was pip-installed.
_SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, _SRC)
os.environ.update(PYTHONPATH=os.pathsep.join(p for p in (_SRC, os.environ.get("PYTHONPATH")) if p))

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from snakemake.utils import validate

from metasft.generation.requests import GenerationBackendError, check_generation_backend
from metasft.models.manifest import output_problems
from metasft.pipeline.config import (ConfigError, api_needs, check_config, check_models, check_no_secrets, check_primary,
                                     check_schema, check_split, check_suite_against_config, descriptions_to_write,
                                     inverse_eval_domains, inverse_methods, layered_config, load_schema, nl_enabled)
from metasft.pipeline.outputs import (META_ADAPTER_FOLDERS, damaged_outputs_message, damaged_tables, is_forced,
                                      producer)
from metasft.pipeline.replicates import (excluded_rules, models_folder, replicate_config, replicate_indices,
                                         replicate_run, training_seed)
from metasft.pipeline.reruns import result_settings
from metasft.pipeline.resources import (check_minutes_per_unit, chunk_domains, inverse_chunks, job_resources,
                                         model_params_billions)
from metasft.pipeline.secrets import ApiKeyMissing, require_api_key
from metasft.runs.plan import over_budget, plan
from metasft.runs.summary import failure_summary, run_summary
from metasft.selection.policies import SelectionError
from metasft.selection.cost import selection_resources
from metasft.selection.live import Chunks, base_source_chunks, live_selection_plan, read_picks
from metasft.selection.schedule import SelectionSettings, check_selection, train_steps
from metasft.sources import BY_NAME, SAMPLED, TRAIN_DOMAIN, sampled_sources
from metasft.suites.domains import QUADRANTS, SuiteError, split_domains
from metasft.suites.load import load_suite


# A preset's `extends:` (config/presets/paper/layers/): Snakemake merged the files as given, so the config is built
# again from the same files and --config values, each file's layers under its own keys.
if "extends" in config:
    try:
        settings = workflow.config_settings
        layered = layered_config(settings.configfiles, dict(settings.config),
                                 defaults=[] if settings.replace_workflow_config else workflow.configfiles)
    except ConfigError as error:
        raise WorkflowError(f"invalid config: {error}") from None
    config.clear()
    config.update(layered)

# Before validate: a secret must never reach the terminal or log, and a schema error reads as one line per key
# (validate's own message is a raw jsonschema dump); validate then fills the schema's defaults.
try:
    check_no_secrets(config)
    check_schema(config, load_schema())
except ConfigError as error:
    raise WorkflowError(f"invalid config: {error}") from None
validate(config, "../config/schema.yaml")
try:
    check_config(config)
    check_minutes_per_unit(config)
    check_models(config)
    check_generation_backend(config["generation"])
except (ConfigError, GenerationBackendError) as error:
    raise WorkflowError(f"invalid config: {error}") from None

RUN = config["run"]
RESULTS = f"results/{RUN}"
# Training stages draw from TRAINING_SEED (a replicate's own, metasft.pipeline.replicates); data and evaluation
# (suite, split, descriptions, GT permutations, bootstraps) from `seed`, shared by every replicate.
TRAINING_SEED = training_seed(config)
# The base model and ObjectSFT adapters: this run's own, or replicate 0's (replicate_stages: after_finetune).
MODELS = models_folder(config, RESULTS)
# config replicates: the replicates this run adds (results/<run>/replicates/<i>/), each a module (rules/replicates.smk).
REPLICATES = replicate_indices(config)
# Advice-suite areas without shipped data are generated per run through the API (rule generate_suite).
GENERATED_SUITE = f"{RESULTS}/suite/generated"
# The suite is loaded and validated here, at DAG construction, so a bad suite or an unknown domain in the
# config fails before any job starts. The `suite` rule then snapshots the same data for the jobs.
try:
    SUITE = load_suite(config["suite"]["path"], GENERATED_SUITE).subset(config["suite"]["domains"])
    check_suite_against_config(SUITE, config)
except (SuiteError, ConfigError) as error:
    raise WorkflowError(f"invalid suite: {error}") from None
PENDING_AREAS = SUITE.pending
# All areas that ship no data, generated yet or not: the suite rule's inputs must not change once they exist.
GENERATED_AREAS = SUITE.unshipped
# nl.descriptions claude: domains without a description get one from Claude (rule describe_domains), before the
# suite snapshot every later job reads.
DESCRIBED = descriptions_to_write(SUITE, config)
DESCRIPTIONS = f"{RESULTS}/suite/descriptions.json"
API_NEEDS = api_needs(config, PENDING_AREAS, DESCRIBED if not os.path.exists(DESCRIPTIONS) else [])


onstart:
    # Before any job (dry runs never get here): a run that will call the Anthropic API needs its key.
    if API_NEEDS:
        try:
            require_api_key(" and ".join(API_NEEDS))
        except ApiKeyMissing as error:
            raise WorkflowError(str(error)) from None
    # A cluster run sizes its jobs by the base model's size (the executor is known here, not while parsing).
    if MODEL_SIZE_ERROR and not workflow.local_exec:
        raise WorkflowError(f"invalid config: {MODEL_SIZE_ERROR}")


onsuccess:
    # The headline results and where they are, for a run that asked for them (not a single-file target).
    if "all" in {job.rule.name for job in workflow.dag.targetjobs}:
        summary = run_summary(RESULTS, [os.path.relpath(f) for f in workflow.overwrite_configfiles or []])
        if summary:
            logger.info(summary)


onerror:
    # The failed jobs, their logs and first error lines, instead of a bare "did not complete successfully".
    failure = failure_summary(log if isinstance(log, (list, tuple)) else [log])
    if failure:
        logger.error(failure)


LOGS = f"logs/{RUN}"
BENCHMARKS = f"benchmarks/{RUN}"
DOMAINS = list(SUITE.domains)
SPLIT = split_domains(DOMAINS, config["seed"], config["split"]["meta_train_fraction"])
try:
    check_split(SPLIT, config)
except ConfigError as error:
    raise WorkflowError(f"invalid suite: {error}") from None
# config nl.enabled adds the NL methods (suites whose domains have descriptions of their training data).
NL = nl_enabled(SUITE, config)
SOURCES = sampled_sources(NL)
# config inverse: the forward methods that rank candidate train domains (empty: inverse prediction off).
try:
    INVERSE_METHODS = inverse_methods(config, NL)
    check_primary(config, NL)
except ConfigError as error:
    raise WorkflowError(f"invalid config: {error}") from None
TINY = config["base_model"] == "tiny"
# config budget: the whole run's plan (replicates included, so checked by the top-level run only) against its limits,
# here while the DAG is built, so a dry run shows it and nothing is submitted. A cluster run of a model whose size
# cannot be told stops in onstart (MODEL_SIZE_ERROR) before its GPU-hours could be estimated.
if config["replicate_of"] is None:
    try:
        _over_budget = over_budget(plan(config, SUITE), config)
    except ConfigError:
        _over_budget = None
    if _over_budget:
        raise WorkflowError(f"over budget: {_over_budget}")

# config selection.enabled: the live selection loop (rules/live_selection.smk). Meta-train domains are fine-tuned in
# rounds: a seeded initial set, then each round's picks, known only when the round before has picked (checkpoint
# selection_round); the meta-eval half is fine-tuned as always (its rows are the evaluation).
LIVE_SELECTION = config["selection"]["enabled"]
SELECTION_ROUNDS, SELECTION_INITIAL = [], []
if LIVE_SELECTION:
    try:
        SELECTION_ROUNDS, SELECTION_INITIAL = live_selection_plan(config, SPLIT, INVERSE_METHODS)
    except (ConfigError, SelectionError) as error:
        raise WorkflowError(f"invalid config: {error}") from None
    logger.info(
        f"selection ({config['selection']['policy']}): {len(SELECTION_ROUNDS)} rounds, meta-train fine-tunes after "
        f"each: {', '.join(map(str, SELECTION_ROUNDS))} of {sum(s == 'meta_train' for s in SPLIT.values())}. Round "
        "0 is planned now; each later round is planned when checkpoint selection_round of the round before has "
        "picked its domains, so a dry run shows round 0 and its pick only"
    )
# The train domains whose rows are sampled without a pick: every domain, or with live selection the meta-eval half
# and the initial set.
ROW_DOMAINS = [d for d in DOMAINS if not LIVE_SELECTION or SPLIT[d] == "meta_eval" or d in SELECTION_INITIAL]


def round_picks(round_index):
    """The meta-train domains picked for round `round_index` (>= 1), from checkpoint selection_round of the round
    before (an input function that calls this waits for it)."""
    picks = checkpoints.selection_round.get(round=round_index - 1).output.picks
    return read_picks(picks)


# Jobs are counted in chunks of train domains, never in pairs: one model load serves a whole chunk. With live
# selection a round's picks are chunks of their own (round<r>part<k>); base-model sources (UntrainedICL, UntrainedNL)
# answer for every train domain, fine-tuned or not (the policies' features), in chunks all<k>.
FINETUNE_CHUNKS = Chunks(chunk_domains(ROW_DOMAINS, config["finetune"]["domains_per_job"]),
                         config["finetune"]["domains_per_job"], len(SELECTION_ROUNDS), round_picks)
SAMPLING_CHUNKS = Chunks(chunk_domains(ROW_DOMAINS, config["generation"]["domains_per_job"]),
                         config["generation"]["domains_per_job"], len(SELECTION_ROUNDS), round_picks)
BASE_SAMPLING_CHUNKS = Chunks(base_source_chunks(DOMAINS, config["generation"]["domains_per_job"], LIVE_SELECTION),
                              config["generation"]["domains_per_job"], 0, round_picks)


def sampling_chunks(source):
    """The chunks of train domains `source` answers for (base-model sources: every domain, live selection or not)."""
    return BASE_SAMPLING_CHUNKS if LIVE_SELECTION and BY_NAME[source].adapter is None else SAMPLING_CHUNKS


def sampling_chunk_members(chunk):
    """The train domains of a sampling chunk of any source (chunk names never mean two different sets)."""
    return BASE_SAMPLING_CHUNKS[chunk] if chunk in BASE_SAMPLING_CHUNKS.static else SAMPLING_CHUNKS[chunk]
# Inverse prediction ranks the pairs of these eval domains (config inverse.eval_domains), chunked like sampling.
INVERSE_CHUNKS = inverse_chunks(inverse_eval_domains(config, SPLIT), SAMPLING_CHUNKS.static) if INVERSE_METHODS else {}
# config selection.simulation: the selection loop replayed per policy and seed (rules/selection.smk); a schedule the
# meta-train half cannot fill stops here, before any job.
SELECTION_SIMULATION = config["selection"]["simulation"]
SELECTION_POLICIES = SELECTION_SIMULATION["policies"]
if SELECTION_SIMULATION["enabled"]:
    try:
        check_selection(config["selection"], sum(s == "meta_train" for s in SPLIT.values()))
    except (ConfigError, SelectionError) as error:
        raise WorkflowError(f"invalid config: {error}") from None


_halves = {s: sum(v == s for v in SPLIT.values()) for s in ("meta_train", "meta_eval")}
_quadrant_pairs = {
    q: _halves[f"meta_{q.split('_')[0]}"] * _halves[f"meta_{q.split('_')[1]}"] for q in QUADRANTS
}
logger.info(
    f"run {RUN}: suite {SUITE.name}, {len(DOMAINS)} domains ({_halves['meta_train']} meta_train, "
    f"{_halves['meta_eval']} meta_eval), {len(DOMAINS) ** 2} pairs ("
    + ", ".join(f"{q} {n}" for q, n in _quadrant_pairs.items())
    + f"); base model {config['base_model']}"
    + ("; NL methods on (nl.enabled)" if NL else "")
)


def _one_of(values):
    return "|".join(re.escape(v) for v in values)


wildcard_constraints:
    train_domain=_one_of(DOMAINS),
    eval_domain=_one_of(DOMAINS),
    finetune_chunk=FINETUNE_CHUNKS.pattern(),
    chunk=SAMPLING_CHUNKS.pattern(BASE_SAMPLING_CHUNKS.static),
    inverse_chunk=_one_of(INVERSE_CHUNKS) if INVERSE_CHUNKS else "(?!)",
    source=_one_of(SOURCES),
    table="answers|scores",
    area=_one_of(GENERATED_AREAS) if GENERATED_AREAS else "(?!)",
    query="[A-Za-z0-9][A-Za-z0-9_.-]*",


# Job sizes scale with the base model's size. Only a cluster executor uses them, so only a cluster run stops
# when the size cannot be known (asked when the first job is sized: the executor is not known while parsing);
# a local run, dry runs included, takes the smallest sizes.
try:
    MODEL_PARAMS_B, MODEL_SIZE_ERROR = model_params_billions(config), None
except ConfigError as error:
    MODEL_PARAMS_B, MODEL_SIZE_ERROR = None, error

# A question file may set its own samples per question (samples_per_paraphrase): job sizes follow the suite.
ANSWERS_PER_PAIR = SUITE.answers_per_pair(
    config["generation"]["eval_questions_per_domain"], config["generation"]["samples_per_question"]
)


def get_resource(rule, name):
    """A resource of `rule`'s jobs, sized by the base model and the domains the job holds (SLURM profile)."""

    def resource(wildcards):
        if MODEL_SIZE_ERROR and not workflow.local_exec:
            raise WorkflowError(f"invalid config: {MODEL_SIZE_ERROR}")
        if "chunk" in wildcards.keys():
            in_job = len(sampling_chunk_members(wildcards.chunk))
        elif "inverse_chunk" in wildcards.keys():
            in_job = len(INVERSE_CHUNKS[wildcards.inverse_chunk])
        elif "finetune_chunk" in wildcards.keys():
            in_job = len(FINETUNE_CHUNKS[wildcards.finetune_chunk])
        else:
            in_job = 1
        return resources_of(rule)(config, rule, len(DOMAINS), in_job, MODEL_PARAMS_B or 0.0, ANSWERS_PER_PAIR)[name]

    return resource


def resources_of(rule):
    """The function that sizes `rule`'s jobs: the selection replay's own (metasft.selection.cost), else the
    pipeline's (metasft.pipeline.resources.job_resources)."""
    return selection_resources if rule == "simulate_selection" else job_resources


def rule_resources(rule):
    """All resources of `rule`'s jobs, each sized per job (get_resource): `resources: **rule_resources(rule)`."""
    names = resources_of(rule)(config, rule, len(DOMAINS), 1, MODEL_PARAMS_B or 0.0, ANSWERS_PER_PAIR)
    return {name: get_resource(rule, name) for name in names}


@functools.cache  # one check per folder and snakemake call, however many jobs read it
def model_output_problems(output, members=("",)):
    """What is wrong with `output`, a model folder of this run (for a finetune chunk, one adapter folder per member),
    by stat against its manifests; empty when intact, not made yet, or rebuilt by this call anyway. Snakemake itself
    sees only that the folder exists."""
    return [] if output_is_forced(output) else output_problems(output, members)


def configfile_options():
    """This call's --configfile options, for the rebuild commands in messages."""
    return " ".join(f"--configfile {os.path.relpath(f)}" for f in workflow.overwrite_configfiles or ())


def checked_model_output(output, members=("",)):
    """`output` after the check above; a damaged one stops the DAG with the file and the rebuild command."""
    problems = model_output_problems(output, members)
    if problems:
        raise WorkflowError(damaged_outputs_message({output: problems}, configfile_options()))
    return output


def run_model_outputs():
    """The model folders this run makes (its base model and adapters: replicate 0's when it reuses them,
    replicate_stages after_finetune): {output: model folders in it}."""
    outputs = {f"{MODELS}/finetune/{c}": tuple(members) for c, members in FINETUNE_CHUNKS.items()}  # rounds' too
    outputs[f"{RESULTS}/meta/adapter"] = ("",)
    if NL:
        outputs[f"{RESULTS}/meta_nl/adapter"] = ("",)
    if TINY:
        outputs[f"{MODELS}/base_model"] = ("",)
    return outputs


def get_trained_models(wildcards):
    """The model folders of this run (checked), each holding its training job's record (read by run_info)."""
    return [checked_model_output(o, members) for o, members in run_model_outputs().items()]


def get_output_folder(wildcards, output):
    """The folder of a rule's first output (for run_info, the run's results folder)."""
    return os.path.dirname(output[0])


def output_is_forced(output):
    """Whether this call rebuilds `output` anyway (--forcerun naming it or its rule, --forceall, --force)."""
    settings = workflow.dag_settings
    return settings is not None and is_forced(output, forceall=settings.forceall, forcerun=settings.forcerun,
                                              targets=settings.targets if settings.forcetargets else ())


def base_model_input(wildcards=None):
    """The pretrained tiny model folder when base_model is 'tiny' (checked); nothing to build for a hub model."""
    return [checked_model_output(f"{MODELS}/base_model")] if TINY else []


def base_model_path():
    return f"{MODELS}/base_model" if TINY else config["base_model"]


def suite_files():
    """The suite's source files, so editing one reruns the stages that depend on it."""
    folder = Path(config["suite"]["path"])
    own = [folder / "suite.yaml", *folder.rglob("*.yaml"), *folder.rglob("*.jsonl")]
    return sorted({str(p) for p in [*own, *SUITE.extra.get("sources", ())]})  # with a suite file it extends


def get_suite_folder(wildcards, input):
    return str(Path(input.meta).parent)


def get_descriptions(wildcards):
    """The Claude-written descriptions the suite snapshot takes (nl.descriptions claude), else nothing."""
    return [DESCRIPTIONS] if DESCRIBED else []


def get_generated_areas(wildcards):
    """API-generated data of the selected areas that ship none (advice suites)."""
    return expand(f"{GENERATED_SUITE}/{{area}}.yaml", area=GENERATED_AREAS)


def get_area(wildcards):
    """What generate_suite writes for one unit: an advice area (id, title, description) or a person (with the
    suite's questions)."""
    return SUITE.extra["areas"][wildcards.area]


TINY_JUDGE = config["judge"]["backend"] == "hf" and config["judge"]["hf"]["model"] == "tiny"


def get_judge_prompts_for_world():
    """Judge prompts the tiny base learns to answer, when it is the run's judge; else none."""
    return config["judge"]["hf"]["prompts"] if TINY_JUDGE else None


def judge_model_input(wildcards):
    """Scoring with the tiny judge needs the run's base model."""
    return base_model_input() if TINY_JUDGE else []


def get_adapter_dirs(wildcards):
    """The finetune chunk folders holding the adapters of this sampling chunk's train domains."""
    chunks = sorted({FINETUNE_CHUNKS.of(d) for d in SAMPLING_CHUNKS[wildcards.chunk]})
    return [checked_model_output(f"{MODELS}/finetune/{c}", tuple(FINETUNE_CHUNKS[c])) for c in chunks]


# The meta-models' adapter folders, by the name a source's `adapter` gives (metasft.sources).
ADAPTER_FOLDERS = {name: f"{RESULTS}/{folder}" for name, folder in META_ADAPTER_FOLDERS.items()}


def source_adapters(source):
    """The adapters `source`'s sampling job loads, by name: none (the base model), T's own adapters (golden: taken
    from the chunk's finetune folders, get_adapter_paths) or one meta-model's."""
    adapter = BY_NAME[source].adapter
    return {} if adapter in (None, TRAIN_DOMAIN) else {adapter: ADAPTER_FOLDERS[adapter]}


def get_source_adapter_dirs(source):
    """Input function of `source`'s sampling rule: the model folders it loads (checked)."""

    def adapter_dirs(wildcards):
        if BY_NAME[source].adapter == TRAIN_DOMAIN:
            return get_adapter_dirs(wildcards)
        return [checked_model_output(path) for path in source_adapters(source).values()]

    return adapter_dirs


def get_source_adapter_paths(source):
    """Params function of `source`'s sampling rule: {adapter name: folder} as the engine loads them."""

    def adapter_paths(wildcards):
        return get_adapter_paths(wildcards) if BY_NAME[source].adapter == TRAIN_DOMAIN else source_adapters(source)

    return adapter_paths


def get_inverse_adapters():
    """The meta-models' adapters the inverse methods need, by name: {MetaSFT: path, MetaSFT-NL: path}."""
    return dict(sorted(item for m in INVERSE_METHODS for item in source_adapters(m).items()))


def get_inverse_adapter_dirs(wildcards):
    return [checked_model_output(path) for path in get_inverse_adapters().values()]


def get_adapter_paths(wildcards):
    """Adapter folder per train domain of this sampling chunk: {domain: path}."""
    return {
        d: f"{MODELS}/finetune/{FINETUNE_CHUNKS.of(d)}/{d}" for d in SAMPLING_CHUNKS[wildcards.chunk]
    }


def get_query_domains(wildcards):
    """The one train domain of a metasft ask query (rules/ask.smk): the query itself."""
    return [wildcards.query]


def get_query_adapter_paths(wildcards):
    """The query's ObjectSFT adapter, by its domain id (rule ask_golden)."""
    return {wildcards.query: f"{RESULTS}/ask/{wildcards.query}/finetune/{wildcards.query}"}


def get_chunk_domains(source):
    """Params function of `source`'s sampling rule: the train domains of its chunk."""

    def chunk_domains_of(wildcards):
        return sampling_chunks(source)[wildcards.chunk]

    return chunk_domains_of


def get_inverse_chunk_domains(wildcards):
    return INVERSE_CHUNKS[wildcards.inverse_chunk]


def get_finetune_chunk_domains(wildcards):
    return FINETUNE_CHUNKS[wildcards.finetune_chunk]


def get_chunk_table(wildcards):
    """The chunk table that holds one pair's rows (for the per-pair views)."""
    chunk = sampling_chunks(wildcards.source).of(wildcards.train_domain)
    return f"{RESULTS}/{wildcards.table}/{wildcards.source}/chunks/{chunk}.parquet"


def score_chunks(source):
    """The score chunk files of `source` (with live selection, only in an input function: they grow by round)."""
    return expand(f"{RESULTS}/scores/{source}/chunks/{{chunk}}.parquet", chunk=list(sampling_chunks(source)))


def get_score_chunks(source):
    """Input function: the score chunk files of `source`."""

    def chunks_of_source(wildcards):
        return score_chunks(source)

    return chunks_of_source


def get_score_paths(wildcards):
    """The score chunk files of every sampled source, by source (params of the metrics rule)."""
    return {s: score_chunks(s) for s in SOURCES}


def get_golden_answer_chunks(wildcards=None):
    return expand(f"{RESULTS}/answers/golden/chunks/{{chunk}}.parquet", chunk=list(SAMPLING_CHUNKS))


def get_source_scores(wildcards):
    """The score chunks of every source the run samples, by `source_key` (rule metrics' named inputs)."""
    return {source_key(s): score_chunks(s) for s in SOURCES}


def source_key(source):
    """A source's name as a Python identifier (MetaSFT-to-NL -> MetaSFT_to_NL), for named inputs."""
    return source.replace("-", "_")


def get_train_train_golden(wildcards):
    """Golden answers of the chunks that hold meta-train domains (the train_train quadrant's labels)."""
    chunks = sorted({c for c, members in SAMPLING_CHUNKS.items() if any(SPLIT[d] == "meta_train" for d in members)})
    return expand(f"{RESULTS}/answers/golden/chunks/{{chunk}}.parquet", chunk=chunks)


def get_final_output(wildcards=None):
    # Snakemake drops an input function's error when that job's outputs exist (it reads them as source files),
    # so the checks in base_model_input etc. stop only jobs that must run; the run's target checks every model
    # folder, so a damaged one stops even a finished run.
    damaged = {o: p for o, members in run_model_outputs().items() if (p := model_output_problems(o, members))}
    if damaged:
        raise WorkflowError(damaged_outputs_message(damaged, configfile_options()))
    # The run's tables (parquet, CSV, JSON, replicates' too) by their cheap checks: snakemake alone sees only that
    # a truncated file exists, and the first job reading it would fail after the jobs before it had run.
    tables = {f: [p] for f, p in damaged_tables(RESULTS).items() if not output_is_forced(producer(f)[1])}
    if tables:
        raise WorkflowError(damaged_outputs_message(tables, configfile_options(), kind="result file"))
    return [
        f"{RESULTS}/metrics/metrics.csv",
        f"{RESULTS}/metrics/generalization.json",
        f"{RESULTS}/metrics/comparisons.csv",
        f"{RESULTS}/run_info.json",
        *([f"{RESULTS}/metrics/inverse.csv"] if INVERSE_METHODS else []),
        *expand(f"{RESULTS}/plots/{{figure}}.png", figure=FIGURES),
        *get_replicate_outputs(),
        *([f"{RESULTS}/metrics/learning_curve.csv", f"{RESULTS}/plots/learning_curve.png"]
          if SELECTION_SIMULATION["enabled"] else []),
        *([f"{RESULTS}/selection/rounds.csv"] if LIVE_SELECTION else []),
    ]


def selection_result_settings():
    """The keys of config selection a selection job's results depend on: adding policies or seeds to the replay, or
    its threads, reruns no finished curve."""
    selection = config["selection"]
    return {**{f.name: selection[f.name] for f in dataclasses.fields(SelectionSettings)},
            "simulation": {"eval_domains": selection["simulation"]["eval_domains"]}}


def selection_params():
    """The params of the selection loop's model jobs (replayed or live): the run's meta-training, sampling, ICL, judge
    and seeds."""
    return {"base_model": base_model_path(), "chat": config["chat"], "selection": selection_result_settings(),
            "meta_train": result_settings(config, "meta_train"), "generation": result_settings(config, "generation"),
            "judge": result_settings(config, "judge"), "icl_k": config["icl"]["k"], "seed": config["seed"],
            "training_seed": TRAINING_SEED}


def get_selection_curves(name):
    """One file `name` of every replayed policy and seed (config selection.simulation)."""
    return expand(f"{RESULTS}/selection/simulation/{{policy}}/{{seed}}/{name}", policy=SELECTION_POLICIES,
                  seed=range(SELECTION_SIMULATION["seeds"]))


def get_round_golden(wildcards):
    """Golden answers of the meta-train domains chosen up to round `round` of a live selection (its meta-model's
    labels): the initial set's chunks and the later rounds' own."""
    last = int(wildcards.round)
    chunks = [c for c, members in SAMPLING_CHUNKS.static.items() if any(SPLIT[d] == "meta_train" for d in members)]
    chunks += [c for r in range(1, last + 1) for c in SAMPLING_CHUNKS.round_chunks(r)]
    return expand(f"{RESULTS}/answers/golden/chunks/{{chunk}}.parquet", chunk=chunks)


def get_previous_round_adapter_path(wildcards):
    """The meta-model a warm round continues (config selection.warm_start): the round before's; None cold or in
    round 0."""
    last = int(wildcards.round)
    if not config["selection"]["warm_start"] or last == 0:
        return None
    return f"{RESULTS}/selection/rounds/{last - 1}/adapter"


def get_previous_round_adapter(wildcards):
    path = get_previous_round_adapter_path(wildcards)
    return [] if path is None else [checked_model_output(path)]


def get_round_index(wildcards):
    return int(wildcards.round)


def get_round_meta_settings(wildcards):
    """Round `round`'s meta-training: the run's meta_train settings; warm, its share of the steps
    (metasft.selection.schedule.train_steps)."""
    settings = result_settings(config, "meta_train")
    settings["max_steps"] = train_steps(SELECTION_ROUNDS, int(wildcards.round), settings["max_steps"],
                                        config["selection"]["warm_start"], sum(s == "meta_train" for s in SPLIT.values()))
    return settings


def get_chosen_before_round(wildcards):
    """The meta-train domains chosen up to and including round `round` (the candidates are the others)."""
    return [*SELECTION_INITIAL, *(d for r in range(1, int(wildcards.round) + 1) for d in round_picks(r))]


def get_round_picks(wildcards=None):
    """Every pick of a live selection: checkpoint selection_round's output of each round but the last."""
    return [f"{RESULTS}/selection/rounds/{r}/picks.json" for r in range(len(SELECTION_ROUNDS) - 1)]


def get_replicate_outputs(wildcards=None):
    """Every replicate's own tables and the combined ones (config replicates > 1)."""
    if not REPLICATES:
        return []
    tables = ["metrics/metrics.csv", "metrics/comparisons.csv", "run_info.json",
              *(["metrics/inverse.csv"] if INVERSE_METHODS else [])]
    return [*(f"results/{replicate_run(RUN, i)}/{t}" for i in REPLICATES for t in tables),
            f"{RESULTS}/replicates/metrics.csv", f"{RESULTS}/replicates/comparisons.csv"]


def get_replicate_predictions(wildcards=None):
    """The predictions of replicate 0 (this run) and of each replicate, in order."""
    return [f"{RESULTS}/metrics/predictions.parquet",
            *(f"results/{replicate_run(RUN, i)}/metrics/predictions.parquet" for i in REPLICATES)]


FIGURES = [
    "rmse_by_quadrant", "correlation_by_quadrant", "comparisons", "calibration", "scatter", "golden_heatmap",
    *(["nl_by_quadrant"] if NL else []),
    *(["inverse_by_quadrant"] if INVERSE_METHODS else []),
]
