"""The README and docs/ name only real things: every repository path exists, every link resolves, every module named
imports (and every dotted name under it is there), and every flag of every `python -m metasft...` and `snakemake`
command parses."""

import functools
import importlib
import importlib.util
import re
import shlex
import subprocess
import sys

import pytest
from conftest import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
REPO_PATH = re.compile(r"^(?:config|src|tests|rules|workflow|resources|profiles|docs|report|envs|\.ci)/[\w./-]*$")
PLACEHOLDER = re.compile(r"[<>*{}]|\.\.\.")


def code_spans(text: str) -> list[str]:
    """Inline code (which may wrap a line) and every line of fenced blocks."""
    fenced = re.findall(r"^```[^\n]*\n(.*?)^```", text, re.S | re.M)
    prose = re.sub(r"^```[^\n]*\n.*?^```", "", text, flags=re.S | re.M)
    spans = [" ".join(s.split()) for s in re.findall(r"`([^`]+)`", prose)]
    return spans + [line.strip() for block in fenced for line in block.splitlines() if line.strip()]


def commands(text: str, program: str) -> list[list[str]]:
    """Command lines of `program` ('python -m metasft...' or 'snakemake') in the page's code, as tokens, with shell
    comments, continuations and placeholders' text kept out."""
    found = []
    joined = "\n".join(code_spans(text)).replace("\\\n", " ")
    for line in joined.splitlines():
        start = line.find(program)
        if start < 0:
            continue
        part = line[start:].split("#")[0].split("&&")[0].split("|")[0]
        try:
            tokens = shlex.split(part)
        except ValueError:  # an unbalanced quote in prose: split on blanks
            tokens = part.split()
        found.append(tokens)
    return found


@pytest.fixture(scope="module")
def pages():
    return {page.relative_to(ROOT).as_posix(): page.read_text() for page in PAGES}


def test_the_readme_is_short_and_every_docs_page_is_linked_from_it(pages):
    readme = pages["README.md"]
    assert len(readme.splitlines()) <= 250
    for page in PAGES[1:]:
        assert f"](docs/{page.name})" in readme, page.name


def test_every_repository_path_named_exists(pages):
    missing = []
    for name, text in pages.items():
        for span in code_spans(text):
            for token in re.split(r"[\s,;()]+", span):
                token = token.rstrip(".:")
                if REPO_PATH.match(token) and not PLACEHOLDER.search(token) and not (ROOT / token).exists():
                    missing.append(f"{name}: {token}")
    assert not missing, missing


def test_every_link_resolves(pages):
    broken = []
    for name, text in pages.items():
        here = (ROOT / name).parent
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"^[a-z]+://", target):
                continue
            path, _, anchor = target.partition("#")
            file = (here / path) if path else ROOT / name
            if not file.exists():
                broken.append(f"{name}: {target}")
            elif anchor:
                headings = re.findall(r"^#+ (.+)$", file.read_text(), re.M)
                slugs = {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}
                if anchor not in slugs:
                    broken.append(f"{name}: {target} (no such heading)")
    assert not broken, broken


def resolves(dotted: str) -> bool:
    """Whether `dotted` (metasft.a.b.name) is a module, or a name defined in the longest module prefix of it."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        module = ".".join(parts[:cut])
        try:
            if importlib.util.find_spec(module) is None:
                continue
        except ModuleNotFoundError:
            continue
        value = importlib.import_module(module)
        for attribute in parts[cut:]:
            if not hasattr(value, attribute):
                return False
            value = getattr(value, attribute)
        return True
    return False


# module.module.name (two dots at least: `generation.temperature` is a config key, not a module)
SUBPACKAGE = re.compile(r"^(?:suites|models|generation|methods|judging|analysis|pipeline|bench)"
                        r"\.\w+\.(?:\w+|\{[\w,]+\})$")


def named_in(span: str) -> list[str]:
    """Dotted names under metasft in a code span: `metasft.a.b`, and the architecture table's `a.b.{f,g}`."""
    found = re.findall(r"\bmetasft(?:\.\w+)+", span)
    if SUBPACKAGE.match(span):
        stem, _, names = span.partition(".{")
        found += [f"metasft.{stem}.{n}" for n in names.rstrip("}").split(",")] if names else [f"metasft.{span}"]
    return found


def test_every_module_and_name_under_metasft_is_real(pages):
    unknown = [f"{name}: {dotted}" for name, text in pages.items() for span in code_spans(text)
               for dotted in named_in(span) if not resolves(dotted)]
    assert not unknown, unknown


@functools.cache
def help_text(*program: str) -> str:
    result = subprocess.run([*program, "--help"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, (program, result.stderr[-2000:])
    return result.stdout


def test_every_flag_of_every_command_parses(pages):
    unknown = []
    for name, text in pages.items():
        for tokens in commands(text, "python -m metasft"):
            module = tokens[2]
            if PLACEHOLDER.search(module):  # python -m metasft.bench.{pipeline,...}: a list, not a command
                continue
            options = help_text(sys.executable, "-m", module)
            unknown += [f"{name}: {module} {t}" for t in tokens[3:] if t.startswith("--") and
                        not re.search(rf"{re.escape(t.split('=')[0])}\b", options)]
        for tokens in commands(text, "snakemake "):
            options = help_text(sys.executable, "-m", "snakemake")
            unknown += [f"{name}: snakemake {t}" for t in tokens[1:] if t.startswith("--") and
                        not re.search(rf"{re.escape(t.split('=')[0])}\b", options)]
    assert not unknown, unknown


def test_the_checks_catch_what_they_are_for(tmp_path):
    """The extractors on a page with one of each mistake."""
    page = ("Run `python -m metasft.runs.plan --configfile\nconfig/nowhere.yaml --budgte 3` or\n"
            "```bash\nsnakemake -n --configfile config/config.yaml   # a comment --not-a-flag\n```\n"
            "See `metasft.analysis.resampling.no_such_function` and [x](docs/none.md).")
    assert commands(page, "python -m metasft") == [["python", "-m", "metasft.runs.plan", "--configfile",
                                                    "config/nowhere.yaml", "--budgte", "3"]]
    assert commands(page, "snakemake ") == [["snakemake", "-n", "--configfile", "config/config.yaml"]]
    assert not resolves("metasft.analysis.resampling.no_such_function")
    assert named_in("analysis.plots.{plots,nl_plots}") == ["metasft.analysis.plots.plots",
                                                          "metasft.analysis.plots.nl_plots"]
    assert resolves("metasft.analysis.resampling.resample_weights") and resolves("metasft.bench.pipeline")
    assert "--budgte" not in help_text(sys.executable, "-m", "metasft.runs.plan")
