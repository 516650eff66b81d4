"""Domain suites: loading and validating suite folders, the meta split and its quadrants, generated areas.

- domains: `Suite`, `Domain`, `Option`, `SuiteError`; the seeded meta split, quadrants, ICL example sampling.
- files: suite-file readers (strict YAML, JSONL with line numbers) and JSON-schema checks (schemas/).
- load: `load_suite`, which dispatches on a suite's `kind` to one loader module per kind, named for the kind:
  preferences (the trivia suite), chat_jsonl, advice, broad_personas, reversal, historical_persons.
- questions: eval questions in the Emergent Misalignment question-YAML layout (judged chat_jsonl domains).
- api_generation: advice areas generated through the Anthropic API, and the cached requests all generators share.
- describe: domain descriptions written by Claude (stage `describe_domains`).
- units: stage `generate_suite`: one unit's data (an advice area, a person's answers, a reversal relation).
- snapshot: the run's `suite/suite.json` that every later stage reads (stage `suite`); the pair table.
"""
