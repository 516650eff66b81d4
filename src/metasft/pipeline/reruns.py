"""Which settings rerun which jobs: the split of every config section into result and performance settings.

Snakemake reruns a job when its `params` change (a default rerun trigger). Rules therefore pass as params only
the settings that can change what the job writes, `result_settings(config, section)`; the performance knobs
below (threads, batching, concurrency, caches, retries, job layout) change how fast or where a job runs, never
its output, so changing one reruns nothing. The job script gets them back from the config with `job_settings`.

Every key not listed here is a result setting: a new config key reruns the jobs that read it until it is listed.

Batching is performance-only because the hf engine draws every sample from its request's own seed, whatever
shares its batch (metasft.generation.sampling), and the hf judge scores each prompt on its own; a batch's shape can
still move a logit in its last float bits, which flips a sampled token very rarely (docs/generation.md, "Seeds"). Gradient
checkpointing leaves trained weights the same (tests/test_generation.py). `domains_per_job` only
changes which job holds a domain; a job's `domains` param records that, so a chunk whose domains change reruns.
Settings of a backend the config does not use (generation.vllm with the hf backend, judge.anthropic with the hf
judge) are not passed at all.
"""

from __future__ import annotations

import copy

PERFORMANCE_KEYS: dict[str, tuple[str, ...]] = {
    "tiny": ("threads",),
    "finetune": ("threads", "domains_per_job", "gradient_checkpointing"),
    "meta_train": ("threads", "domains_per_job", "gradient_checkpointing"),
    "generation": (
        "threads", "domains_per_job", "batch_size", "max_batch_tokens", "static_decode",
        # vllm: scheduling and memory; its seeded samples do not depend on them (dtype and max_model_len do)
        "vllm.max_loras", "vllm.max_lora_rank", "vllm.gpu_memory_utilization", "vllm.max_num_seqs",
        "vllm.max_num_batched_tokens", "vllm.enforce_eager", "vllm.tensor_parallel_size",
    ),
    "judge": (
        # judgments are cached by (backend, model, prompt, question, answer), not by where or how they were made
        "cache_dir", "hf.batch_size", "hf.threads", "anthropic.concurrency", "anthropic.max_retries",
        "anthropic.max_attempts", "anthropic.timeout_s", "anthropic.use_batches", "anthropic.poll_interval_s",
    ),
    "suite_generation": ("max_retries", "timeout_s"),
    "inverse": ("batch_tokens",),  # an answer's log-probability does not depend on what shares its batch
}


# Sub-sections that only matter for one value of a selector key: {section: (selector, {value: sub-section})}.
BACKEND_SECTIONS: dict[str, tuple[str, dict[str, str]]] = {
    "generation": ("backend", {"vllm": "vllm"}),
    "judge": ("backend", {"hf": "hf", "anthropic": "anthropic"}),
}


def _sorted(value):
    """Mappings with sorted keys at every depth: Snakemake compares params by repr, so key order must not count."""
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def _split(path: str) -> tuple[list[str], str]:
    *parents, key = path.split(".")
    return parents, key


def result_settings(config: dict, section: str) -> dict:
    """Config `section` without its performance keys and unused backend sections, keys sorted: a rule's params."""
    settings = copy.deepcopy(config[section])
    selector = BACKEND_SECTIONS.get(section)
    if selector:
        key, sections = selector
        for value, name in sections.items():
            if settings.get(key) != value:
                settings.pop(name, None)
    for path in PERFORMANCE_KEYS.get(section, ()):
        parents, key = _split(path)
        node = settings
        for parent in parents:
            node = node.get(parent) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(key, None)
    return _sorted(settings)


def job_settings(result: dict, config: dict, section: str) -> dict:
    """The settings a job runs with: the result settings its rule passed as params, plus the performance keys of
    config `section` (only under sub-sections the params hold, i.e. of the backend in use)."""
    settings = copy.deepcopy(dict(result))
    for path in PERFORMANCE_KEYS.get(section, ()):
        parents, key = _split(path)
        source, target = config.get(section, {}), settings
        for parent in parents:
            source = source.get(parent, {}) if isinstance(source, dict) else {}
            target = target.get(parent) if isinstance(target, dict) else None
        if isinstance(target, dict) and isinstance(source, dict) and key in source:
            target[key] = copy.deepcopy(source[key])
    return settings
