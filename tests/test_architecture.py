"""The package's structure (issue 11), checked from the source text alone: no pipeline run, no heavy import.

- No import loops among metasft modules; module-level and function-level imports both count.
- The subpackages stand in floors (LAYERS); an import goes down or sideways, except the few upward ones
  UPWARD names, each with its reason.
- No module over MAX_LINES lines unless its docstring has a line starting "Long because" that says why.
- No library function takes a Snakemake object: no name `snakemake` anywhere in src/metasft. A job script calls
  `start_job(...)`, unpacks `snakemake` into plain values, and makes one call to the library function that
  shares the script's (the stage's) name.
- Every subpackage `__init__.py` opens with a docstring whose first line states the subpackage's purpose.
- A command module's `if __name__ == "__main__":` block comes last (what follows it is undefined when the module runs
  as a command).
- No section-banner comments (`# ----`, `# ====`).
"""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "metasft"
SCRIPTS = ROOT / "workflow" / "scripts"
MAX_LINES = 400
LONG_REASON = re.compile(r"^Long because\b", re.M)
BANNER = re.compile(r"^\s*#.*(-{4}|={4})")
# Calls a job script may make before its one library call: they only read settings out of the Snakemake object.
SETTINGS_HELPERS = {"job_settings", "dict", "list", "tuple", "str", "int", "float", "bool"}


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules(package: Path = PACKAGE) -> dict[str, Path]:
    return {module_name(p, package): p for p in sorted(package.rglob("*.py"))}


def imported_modules(path: Path, name: str, modules: dict[str, Path]) -> set[str]:
    """The package modules `path` imports anywhere in its body (inside functions too), resolved to files."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")[:len(name.split(".")) - node.level + is_package]
                base = ".".join(anchor + ([base] if base else []))
            # `from a.b import c` imports module a.b.c when c is one, else the name c from a.b
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:  # `import a.b.c` of a non-module attribute: its module
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_cycles(modules: dict[str, Path]) -> list[list[str]]:
    """Import loops as paths that return to their start; a depth-first search finds at least one whenever any exists."""
    graph = {name: sorted(imported_modules(path, name, modules)) for name, path in modules.items()}
    cycles, done = [], set()
    for start in sorted(graph):
        if start in done:
            continue
        stack, on_path, seen = [(start, iter(graph[start]))], [start], {start}
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                on_path.pop()
                done.add(node)
            elif child in on_path:
                cycle = on_path[on_path.index(child):] + [child]
                if not any(set(cycle) == set(c) for c in cycles):
                    cycles.append(cycle)
            elif child not in seen and child not in done:
                seen.add(child)
                stack.append((child, iter(graph[child])))
                on_path.append(child)
    return cycles


def test_import_cycles_are_found_and_reported(tmp_path):
    package = tmp_path / "metasft"
    (package / "a").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a" / "__init__.py").write_text('"""A."""\n')
    (package / "a" / "x.py").write_text("from metasft.a.y import f\n")
    (package / "a" / "y.py").write_text("def f():\n    from . import z\n")  # function-level, relative
    (package / "a" / "z.py").write_text("import metasft.a.x\n")
    (package / "b.py").write_text("from metasft.a import x, y\n")
    assert import_cycles(package_modules(package)) == [["metasft.a.x", "metasft.a.y", "metasft.a.z", "metasft.a.x"]]
    (package / "a" / "z.py").write_text("import os\n")  # the loop broken; b importing x and y is no loop
    assert import_cycles(package_modules(package)) == []


def test_no_import_loops_among_metasft_modules():
    cycles = import_cycles(package_modules())
    assert not cycles, "import loops (module-level or inside functions):\n" + "\n".join(" -> ".join(c) for c in cycles)


# Floors, bottom first: a module imports from its own floor or those below. `sources` (the methods' registry) and
# `pipeline` (config, io, seeds, resources) are the floor; `runs` (the cost plan, the end-of-run summary) and
# `bench` the top, under the `metasft` command (cli) that calls them.
LAYERS = [{"sources", "pipeline"}, {"judging"}, {"suites"}, {"models"}, {"generation"}, {"methods"}, {"analysis"},
          {"selection"},
          {"runs", "bench"}, {"cli", "__main__"}]
# The imports that go up a floor, by subpackage, each with why it is not the other way round.
UPWARD = {
    ("judging", "suites"): "the score stage (judging.score) reads the suite snapshot; suites use the judging "
                           "vocabulary and API client far more (rubrics, cached requests)",
    ("judging", "models"): "the HF judge runs a model (judging.hf_judge); the tiny world learns the judge's prompts",
    ("generation", "methods"): "the sampling stage (generation.answers) builds each source's prompts "
                               "(methods.prompts), which inverse prediction scores with the generation package",
}


def floor(module: str) -> int | None:
    parts = module.split(".")
    name = parts[1] if len(parts) > 1 else parts[0]
    return next((i for i, layer in enumerate(LAYERS) if name in layer), None)


def upward_imports(modules: dict[str, Path]) -> dict[tuple[str, str], list[str]]:
    """{(from subpackage, to subpackage): [module -> module, ...]} for every import to a higher floor."""
    found: dict[tuple[str, str], list[str]] = {}
    for name, path in modules.items():
        for target in sorted(imported_modules(path, name, modules)):
            if floor(name) is not None and floor(target) is not None and floor(target) > floor(name):
                key = (name.split(".")[1], target.split(".")[1])
                found.setdefault(key, []).append(f"{name} -> {target}")
    return found


def test_every_subpackage_has_a_floor():
    names = {name.split(".")[1] for name in package_modules() if name.count(".") >= 1}
    assert names == set().union(*LAYERS)


def test_imports_go_down_except_the_named_few():
    upward = upward_imports(package_modules())
    unexplained = {key: edges for key, edges in upward.items() if key not in UPWARD}
    assert not unexplained, "imports to a higher floor (move the code, or name the arrow in UPWARD with its reason):\n" \
        + "\n".join(f"  {a} -> {b}: {', '.join(edges)}" for (a, b), edges in unexplained.items())
    assert len(UPWARD) <= 3 and set(UPWARD) == set(upward), f"UPWARD names arrows no import takes: " \
        f"{set(UPWARD) - set(upward)}"


def test_long_modules_say_why():
    """A module over MAX_LINES lines is usually two concepts: split it, or say in its docstring, on a line of its own
    starting "Long because", why it is one."""
    unexplained = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text()
        lines = len(text.splitlines())
        if lines > MAX_LINES and not LONG_REASON.search(ast.get_docstring(ast.parse(text)) or ""):
            unexplained.append(f"{path.relative_to(ROOT)}: {lines} lines")
    assert not unexplained, (f"modules over {MAX_LINES} lines without a 'Long because ...' line in their docstring: "
                             + ", ".join(unexplained))


def snakemake_uses(path: Path) -> list[str]:
    uses = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Name) and node.id == "snakemake":
            uses.append(f"{path.relative_to(ROOT)}:{node.lineno}: uses a name `snakemake`")
        elif isinstance(node, ast.arg) and node.arg == "snakemake":
            uses.append(f"{path.relative_to(ROOT)}:{node.lineno}: takes a parameter `snakemake`")
    return uses


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=module_name)
def test_library_takes_no_snakemake_object(path):
    """Library functions take plain paths and settings, so they can be called and tested without Snakemake."""
    assert not snakemake_uses(path), "\n".join(snakemake_uses(path))


def reads_only_snakemake(node: ast.AST, unpacked: set[str]) -> bool:
    """An expression built only from `snakemake`, names unpacked from it, literals and settings helpers."""
    for child in ast.walk(node):
        if isinstance(child, ast.Call):
            if not (isinstance(child.func, ast.Name) and child.func.id in SETTINGS_HELPERS
                    or isinstance(child.func, ast.Attribute)):  # methods such as snakemake.output.items()
                return False
        elif isinstance(child, ast.Name) and child.id not in unpacked and child.id not in SETTINGS_HELPERS:
            return False
        elif isinstance(child, (ast.Lambda, ast.NamedExpr, ast.comprehension)):
            return False
    return True


def arguments(call: ast.Call) -> list[ast.expr]:
    return [*call.args, *(k.value for k in call.keywords)]


def script_shape_problems(path: Path) -> list[str]:
    """How a job script departs from: imports, `start_job(...)`, assignments that only unpack `snakemake`
    (and settings helpers), then one call to the metasft function named like the script."""
    tree = ast.parse(path.read_text(), str(path))
    body = [s for s in tree.body if not isinstance(s, (ast.Import, ast.ImportFrom))
            and not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    library = {alias.asname or alias.name for s in tree.body if isinstance(s, ast.ImportFrom)
               and (s.module or "").startswith("metasft") for alias in s.names}
    problems = []
    first = body[0] if body else None
    if not (isinstance(first, ast.Expr) and isinstance(first.value, ast.Call) and ast.unparse(first.value.func)
            == "start_job" and all(reads_only_snakemake(a, {"snakemake"}) for a in arguments(first.value))):
        return ["the first statement is not start_job(...) with arguments from snakemake"]
    *unpacking, call = body[1:] or [None]
    unpacked = {"snakemake"}
    for statement in unpacking:
        targets = [n for t in getattr(statement, "targets", []) for n in ast.walk(t)]
        if not (isinstance(statement, ast.Assign) and reads_only_snakemake(statement.value, unpacked)
                and all(isinstance(n, (ast.Name, ast.Tuple, ast.Store)) for n in targets)):
            problems.append(f"line {statement.lineno} does more than unpack snakemake: {ast.unparse(statement)}")
        else:
            unpacked.update(n.id for n in targets if isinstance(n, ast.Name))
    if not (isinstance(call, ast.Expr) and isinstance(call.value, ast.Call)
            and isinstance(call.value.func, ast.Name) and call.value.func.id in library):
        problems.append("the last statement is not a call of a metasft function")
    else:
        if call.value.func.id != path.stem:
            problems.append(f"the library call is {call.value.func.id}(), not {path.stem}() (the stage's name)")
        problems += [f"line {call.lineno}: argument {ast.unparse(a)} does more than unpack snakemake"
                     for a in arguments(call.value) if not reads_only_snakemake(a, unpacked)]
    return problems


def test_script_shape_check_names_what_is_wrong(tmp_path):
    good = tmp_path / "metrics.py"
    good.write_text('"""Rule metrics."""\nfrom metasft.analysis.metrics import metrics\nfrom metasft.pipeline.jobs '
                    'import start_job\nfrom metasft.pipeline.reruns import job_settings\n\nstart_job(snakemake)\n'
                    'i, p = snakemake.input, snakemake.params\nsettings = job_settings(p.settings, snakemake.config, '
                    '"x")\nmetrics(suite=i.suite, outputs=dict(snakemake.output.items()), seed=p.seed, **settings)\n')
    assert script_shape_problems(good) == []
    bad = tmp_path / "plots.py"
    bad.write_text("from metasft.analysis.plots import make_figures\nfrom metasft.pipeline.io import read_parquet\n"
                   "start_job(snakemake)\ntable = read_parquet(snakemake.input[0])\nif table.is_empty():\n"
                   "    pass\nmake_figures(table.head(), snakemake.output)\n")
    assert script_shape_problems(bad) == [
        "line 4 does more than unpack snakemake: table = read_parquet(snakemake.input[0])",
        "line 5 does more than unpack snakemake: if table.is_empty():\n    pass",
        "the library call is make_figures(), not plots() (the stage's name)",
        "line 7: argument table.head() does more than unpack snakemake"]


@pytest.mark.parametrize("path", sorted(SCRIPTS.glob("*.py")), ids=lambda path: path.stem)
def test_job_scripts_make_one_library_call(path):
    """rule -> script -> function in one hop each: a script translates `snakemake` into plain arguments only."""
    assert not script_shape_problems(path), f"{path.relative_to(ROOT)}: " + "; ".join(script_shape_problems(path))


@pytest.mark.parametrize("init", sorted(PACKAGE.glob("*/__init__.py")), ids=lambda init: init.parent.name)
def test_subpackages_state_their_purpose(init):
    """A newcomer finds a concern's room from the first line of each subpackage's docstring."""
    docstring = ast.get_docstring(ast.parse(init.read_text())) or ""
    first = docstring.split("\n\n")[0]
    assert "\n" not in first and len(first.split()) >= 4 and first.endswith("."), (
        f"{init.relative_to(ROOT)} needs a docstring whose first line (a sentence of its own) states its purpose")


def test_main_block_comes_last():
    """bench/generation.py once defined a function after its main block: `python -m` then failed with a NameError."""
    late = []
    for path in sorted(PACKAGE.rglob("*.py")):
        body = ast.parse(path.read_text()).body
        late += [f"{path.relative_to(ROOT)}:{s.lineno}" for s in body[:-1] if isinstance(s, ast.If)
                 and ast.unparse(s.test) in ("__name__ == '__main__'", "'__main__' == __name__")]
    assert not late, "statements after the `if __name__ == '__main__':` block: " + ", ".join(late)


def test_no_section_banner_comments():
    paths = [ROOT / "Snakefile", *(p for folder in ("src", "rules", "workflow", "tests")
                                   for p in sorted((ROOT / folder).rglob("*")) if p.suffix in (".py", ".smk"))]
    banners = [f"{p.relative_to(ROOT)}:{n}: {line.strip()}" for p in paths
               for n, line in enumerate(p.read_text().splitlines(), 1) if BANNER.match(line)]
    assert not banners, "section-banner comments (let the code's structure speak):\n" + "\n".join(banners)
