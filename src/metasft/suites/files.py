"""Reading suite files: UTF-8 YAML that refuses repeated keys, JSONL with true line numbers, and JSON-schema checks whose messages name the file, domain and key."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from metasft.suites.domains import SuiteError

try:  # the C loader parses the 100-topic suite several times faster; DAG construction reads it
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _Loader


class _DuplicateKey(yaml.YAMLError):
    def __init__(self, key, line: int, first_line: int):
        super().__init__(key, line, first_line)
        self.key, self.line, self.first_line = key, line, first_line


class _UniqueKeyLoader(_Loader):
    """The safe loader, refusing a key repeated in one mapping: YAML would silently keep only the last value."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base` may be overridden on purpose
                    continue
                key, line = self.construct_object(key_node, deep=True), key_node.start_mark.line + 1
                try:
                    if key in seen:
                        raise _DuplicateKey(key, line, seen[key])
                    seen[key] = line
                except TypeError:  # an unhashable key: the base constructor reports it
                    continue
        return super().construct_mapping(node, deep)


def read_text(path: str | Path, domain: str | None = None) -> str:
    """The UTF-8 text of a suite file (a leading byte-order mark dropped); a `SuiteError` names the file, and the
    line and byte offset of the first byte that is not UTF-8."""
    where = f"{path}: domain '{domain}'" if domain else f"{path}"
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise SuiteError(f"{where}: file not found") from None
    except OSError as exc:
        raise SuiteError(f"{where}: cannot read the file: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise SuiteError(f"{path}:{line}: {'domain ' + repr(domain) + ': ' if domain else ''}not UTF-8 text: byte "
                         f"0x{data[exc.start]:02x} at byte offset {exc.start} (save the file as UTF-8)") from None
    return text.removeprefix("\ufeff")


def parse_yaml(text: str, path: str | Path):
    """Parse the YAML `text` of the suite file `path`, refusing repeated keys."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except _DuplicateKey as exc:
        raise SuiteError(f"{path}:{exc.line}: duplicate key {exc.key!r} (first at line {exc.first_line}); "
                         "YAML would silently keep only the last value") from None
    except yaml.YAMLError as exc:
        raise SuiteError(f"{path}: not valid YAML: {exc}") from None


def entry_lines(text: str) -> list[tuple[int, dict[str, int]]]:
    """Per entry of a YAML text's top-level list: its line and the line of each of its keys (1-based), for error
    messages; empty when the text is not a list (or not YAML: `parse_yaml` reports that)."""
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError:
        return []
    if not isinstance(root, yaml.SequenceNode):
        return []
    return [(item.start_mark.line + 1,
             {k.value: k.start_mark.line + 1 for k, _ in item.value} if isinstance(item, yaml.MappingNode) else {})
            for item in root.value]


def read_yaml(path: str | Path):
    """Every suite, topic and area YAML file is read here: UTF-8 only, no repeated keys."""
    return parse_yaml(read_text(path), path)


_SCHEMAS: dict = {}


def _validator(name: str):
    """The validator of the JSON schema `schemas/<name>.yaml` (package data), built once per process."""
    if name not in _SCHEMAS:
        from importlib.resources import files

        import jsonschema
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT202012

        if "registry" not in _SCHEMAS:
            folder = files("metasft.suites") / "schemas"
            documents = {f.name: yaml.load(f.read_text(encoding="utf-8"), Loader=_Loader)
                         for f in folder.iterdir() if f.name.endswith(".yaml")}
            _SCHEMAS["documents"] = documents
            _SCHEMAS["registry"] = Registry().with_resources(
                (n, Resource.from_contents(d, default_specification=DRAFT202012)) for n, d in documents.items())
        _SCHEMAS[name] = jsonschema.Draft202012Validator(_SCHEMAS["documents"][f"{name}.yaml"],
                                                         registry=_SCHEMAS["registry"])
    return _SCHEMAS[name]


_TYPE_NAMES = {"string": "a string", "integer": "an integer", "number": "a number", "array": "a list",
               "object": "a mapping", "boolean": "true or false", "null": "empty"}


def _schema_message(error) -> str:
    instance, schema, check = error.instance, error.schema, error.validator
    if check == "additionalProperties":
        allowed = list(schema.get("properties", {}))
        unknown = [k for k in instance if k not in allowed]
        return (f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(repr(k) for k in unknown)}"
                f" (allowed: {', '.join(allowed)})" if allowed else f"unknown key {unknown[0]!r}")
    if check == "required":
        missing = [k for k in error.validator_value if k not in instance]
        return f"missing key{'s' if len(missing) > 1 else ''} {', '.join(repr(k) for k in missing)}"
    got = repr(instance)
    got = got if len(got) <= 60 else got[:57] + "..."
    if check == "type":
        wanted = [error.validator_value] if isinstance(error.validator_value, str) else error.validator_value
        message = schema.get("errorMessage") or "must be " + " or ".join(_TYPE_NAMES.get(t, t) for t in wanted)
        hint = " (YAML reads unquoted yes/no/on/off/true/false as booleans and digits as numbers: quote it)" \
            if isinstance(instance, (bool, int, float)) and "string" in wanted else ""
        return f"{message}, got {got}{hint}"
    if schema.get("errorMessage"):
        return f"{schema['errorMessage']}, got {got}"
    if check == "minimum":
        return f"must be at least {error.validator_value}, got {got}"
    if check == "minItems":
        n = error.validator_value
        return f"must list at least {n} entr{'y' if n == 1 else 'ies'}, got {len(instance)}"
    if check == "uniqueItems":
        return f"has a repeated entry: {got}"
    return error.message


def _key_path(parts) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")


def check_schema(data, schema: str, path: str | Path, domain: str | None = None,
                 domain_list: tuple | None = None) -> None:
    """Validate the data of suite file `path` against `schemas/<schema>.yaml`; a `SuiteError` names the file, the
    domain (`domain`, or the id of the entry of the list at key path `domain_list` that holds the error), the key
    path and what is wrong with it. One error is reported, one of the earliest entry at fault; the count of others
    follows."""
    errors = list(_validator(schema).iter_errors(data))
    if not errors:
        return
    # earlier list entries first; within one mapping an unknown key first, as a misspelt key also shows as missing
    errors.sort(key=lambda e: ([(0, p) if isinstance(p, int) else (1, p) for p in e.absolute_path],
                               e.validator != "additionalProperties"))
    error = errors[0]
    parts = list(error.absolute_path)
    if domain is None and domain_list is not None and parts[:len(domain_list)] == list(domain_list) \
            and len(parts) > len(domain_list):  # inside one domain's entry: name the domain
        n, entries = len(domain_list), data
        for part in domain_list:
            entries = entries[part]
        entry = entries[parts[n]]
        entry_id = entry.get("id") if isinstance(entry, dict) else None
        if isinstance(entry_id, str) and entry_id:
            domain, parts = entry_id, parts[n + 1:]
    where = f"{path}: domain '{domain}'" if domain else f"{path}"
    key = _key_path(parts)
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''} in this file)" \
        if len(errors) > 1 else ""
    raise SuiteError(f"{where}: {key + ': ' if key else ''}{_schema_message(error)}{more}")


def unit_file(shipped_dir: Path, generated_dir, unit_id: str) -> tuple[Path | None, bool]:
    """(the data file of a unit that may be generated (an advice area, a person), whether it ships one): the shipped
    ``<shipped_dir>/<id>.yaml`` first, else the one generate_suite wrote, else None (pending)."""
    shipped = shipped_dir / f"{unit_id}.yaml"
    if shipped.exists():
        return shipped, True
    generated = Path(generated_dir) / f"{unit_id}.yaml" if generated_dir is not None else None
    return (generated if generated is not None and generated.exists() else None), False


def require(cond: bool, path: Path | str, domain: str | None, message: str) -> None:
    if not cond:
        where = f"{path}: domain '{domain}'" if domain else f"{path}"
        raise SuiteError(f"{where}: {message}")


def normalize_question_text(question: str) -> str:
    """Case and spacing do not make two questions different."""
    return " ".join(question.lower().split())


def read_jsonl(path: Path, domain_id: str) -> list[tuple[int, dict]]:
    """(line number, row) of every non-blank line. JSON Lines end at "\\n" only: `str.splitlines` would also split
    at U+2028 or NEL, which JSON strings may hold raw, and break the row and the numbering after it."""
    rows = []
    for number, line in enumerate(read_text(path, domain_id).split("\n"), 1):
        if not line.strip(" \t\r"):
            continue
        try:
            rows.append((number, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise SuiteError(f"{path}:{number}: domain '{domain_id}': not valid JSON: {exc.msg} "
                             f"(column {exc.colno})") from None
    return rows
