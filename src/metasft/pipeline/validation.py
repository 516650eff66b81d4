"""Config schema errors in one line each: the key path, the value given (never a secret's), what is allowed.

Snakemake's `validate` prints "Error validating config file." and a raw jsonschema dump of the schema; the workflow
runs this check first (metasft.pipeline.config.check_schema), so a user reads which key, what value and what the
schema accepts, as the suite loader says.
"""

from __future__ import annotations

import difflib
import re

import jsonschema

# Keys that hold credentials: their values are never shown (here, nor by metasft.pipeline.config's secret check).
# Counts such as max_tokens end in "tokens" and are not secrets.
SECRET_KEY = re.compile(r"api[_-]?key|secret|passw(or)?d|(^|[_-])token$", re.I)
_SHOWN_CHARACTERS = 60


def schema_problems(config, schema: dict) -> list[str]:
    """One line per schema violation of `config` (a config as given, before defaults), sorted by key path."""
    validator = jsonschema.validators.validator_for(schema)(schema)
    lines = {_line(error) for error in validator.iter_errors(config)}
    return sorted(lines)


def _key_path(path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text or "(top level)"


def _shown(value, path) -> str:
    """The value as given, cut short; a value under a credential's key name is never shown."""
    if any(isinstance(part, str) and SECRET_KEY.search(part) for part in path):
        return "(value hidden)"
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARACTERS else text[:_SHOWN_CHARACTERS - 3] + "..."


_TYPE_NAMES = {"integer": "a whole number", "number": "a number", "string": "text", "boolean": "true or false",
               "object": "a mapping of keys", "array": "a list", "null": "null"}
_BOUNDS = {"minimum": "at least {}", "maximum": "at most {}", "exclusiveMinimum": "above {}",
           "exclusiveMaximum": "below {}", "minLength": "at least {} characters", "maxLength": "at most {} characters",
           "minItems": "at least {} items", "maxItems": "at most {} items"}


def _line(error: jsonschema.ValidationError) -> str:
    path, schema, value, kind = list(error.absolute_path), error.schema, error.instance, error.validator
    where = _key_path(path)
    if kind == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        unknown = sorted(str(key) for key in value if key not in schema.get("properties", {}))
        hints = [f"{key!r} (did you mean {close[0]!r}?)" if (close := difflib.get_close_matches(key, allowed, 1))
                 else repr(key) for key in unknown]
        return f"{where}: unknown key {', '.join(hints)}; allowed keys: {', '.join(allowed)}"
    if "propertyNames" in error.relative_schema_path and kind == "enum":  # keys limited to a list (no properties)
        close = difflib.get_close_matches(str(value), [str(v) for v in error.validator_value], 1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"{where}: unknown key {value!r}{hint}; allowed keys: {', '.join(map(str, error.validator_value))}"
    if kind == "required":
        return f"{where}: {error.message}"
    if kind == "type":
        types = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        allowed = " or ".join(_TYPE_NAMES.get(t, t) for t in types)
    elif kind == "enum":
        allowed = "one of " + ", ".join(repr(v) if isinstance(v, str) else str(v) for v in error.validator_value)
    elif kind == "pattern":
        allowed = f"text matching {error.validator_value}"
    elif kind in _BOUNDS:
        allowed = _BOUNDS[kind].format(error.validator_value)
    else:  # a validator this schema does not use today: jsonschema's own sentence, without the schema dump
        return f"{where}: {_shown(value, path)} is not allowed: {error.message.splitlines()[0]}"
    reason = schema.get("description", "") if kind in _BOUNDS or kind == "pattern" else ""
    reason = f" ({reason.strip()})" if reason and len(reason) <= 120 else ""
    return f"{where}: {_shown(value, path)} is not allowed; allowed: {allowed}{reason}"
