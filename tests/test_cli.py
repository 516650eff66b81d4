"""The `metasft` command: its subcommands are the modules' own command lines, by name."""

import subprocess
import sys

import pytest
from conftest import ROOT

from metasft.cli import COMMANDS, main


def test_help_lists_every_subcommand(capsys):
    assert main(["--help"]) == 0
    listed = capsys.readouterr().out
    for name, (module, summary) in COMMANDS.items():
        assert f"metasft {name}" in listed and summary in listed


def test_a_subcommand_is_its_module_command(capsys):
    preset = str(ROOT / "config/presets/paper/trivia_qwen3_4b.yaml")
    assert main(["plan", "--configfile", preset]) == 0
    through_cli = capsys.readouterr().out
    direct = subprocess.run([sys.executable, "-m", "metasft.runs.plan", "--configfile", preset], capture_output=True,
                            text=True, check=True).stdout
    assert through_cli == direct and "total" in direct
    with pytest.raises(SystemExit):  # the module's own parser, named for the subcommand
        main(["bench", "metrics", "--no-such-option"])
    assert "usage: metasft bench metrics" in capsys.readouterr().err


def test_an_unknown_command_says_so_and_lists_the_real_ones(capsys):
    assert main(["bench", "nothing"]) == 2
    assert "metasft: unknown command 'bench nothing'" in capsys.readouterr().err
    module = subprocess.run([sys.executable, "-m", "metasft", "--help"], capture_output=True, text=True, check=True)
    assert "metasft plan" in module.stdout
