"""Makes every import of the anthropic SDK fail, naming the importer, in each Python process whose PYTHONPATH holds
this folder: the mini (trivia) run of tests/conftest.py runs with it, so any import of the SDK anywhere in that run
(snakemake, the DAG code, every job) fails the run."""

import importlib.machinery
import importlib.util
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))


def _importer() -> str:
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith("<frozen"):  # importlib's own frames
        frame = frame.f_back
    if frame is None:
        return "an unknown module"
    return f"{frame.f_globals.get('__name__')} ({frame.f_code.co_filename}:{frame.f_lineno})"


class _NoAnthropic:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name == "anthropic" or name.startswith("anthropic."):
            raise ImportError(f"'{name}' imported by {_importer()}: a trivia run must not import the anthropic SDK "
                              f"(guard: {__file__})", name=name)
        return None


sys.meta_path.insert(0, _NoAnthropic())

# This file shadows any other sitecustomize (a distribution's or a virtual environment's): run that one too.
_next = importlib.machinery.PathFinder.find_spec(
    "sitecustomize", [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE])
if _next is not None and _next.loader is not None:
    _next.loader.exec_module(importlib.util.module_from_spec(_next))
