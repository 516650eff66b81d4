"""Domain suites: loading and validating suite folders, the meta split and its quadrants, generated areas.

- domains: `Suite`, `Domain`, `Option`, `SuiteError`; the seeded meta split, quadrants, ICL example sampling.
- files: suite-file readers (strict YAML, JSONL with line numbers) and JSON-schema checks (schemas/).
- load: `load_suite`, which dispatches on a suite's `kind` to one loader module per kind:
  trivia (``preferences``), chat_jsonl (``chat_jsonl``), advice (``advice``).
- questions: eval questions in the Emergent Misalignment question-YAML layout (judged chat_jsonl domains).
- generation: advice areas generated through the Anthropic API (stage `generate_suite`).
- snapshot: the run's `suite/suite.json` that every later stage reads (stage `suite`); the pair table.
"""
