"""Domain suites: loading and validating suite folders, the meta split and its quadrants, generated areas.

- domains: `Suite`, `Domain`, `Option`, `SuiteError`; the seeded meta split, quadrants, ICL example sampling.
- files: suite-file readers (strict YAML, JSONL with line numbers) and JSON-schema checks (schemas/).
- load: `load_suite`, which dispatches on a suite's `kind` to one loader module per kind:
  trivia (``preferences``), chat_jsonl (``chat_jsonl``), advice (``advice``), personas (``broad_personas``),
  reversal (``reversal``), persons (``historical_persons``).
- questions: eval questions in the Emergent Misalignment question-YAML layout (judged chat_jsonl domains).
- generation: advice areas generated through the Anthropic API, and the cached requests all generators share.
- units: stage `generate_suite`: one unit's data (an advice area, a person's answers, a reversal relation).
- snapshot: the run's `suite/suite.json` that every later stage reads (stage `suite`); the pair table.
"""
