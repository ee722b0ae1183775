"""The README is the contract a new user reads: it opens with the two set-up commands, CI runs the
same test command, and every command and option of both command lines is documented in it."""
from __future__ import annotations

import re

import pytest

from archive.cli import cli
from tests.crawling import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def setup_commands() -> list[str]:
    setup = README.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)\n```", setup, re.S)[:2]


def test_readme_opens_with_the_two_setup_commands():
    main_job, tests = setup_commands()
    for command in (main_job, tests):
        assert "\n" not in command
        assert "-m venv .venv" in command and "pip install -q --upgrade pip" in command
    assert main_job.endswith("scheduler.py --once")
    assert tests.endswith("-m pytest") and "'.[test]'" in tests


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "README.md" in ci and "-e '.\\[test\\]'" in ci


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_archive_command_and_option_is_documented(name):
    assert f"python -m archive {name}" in README or f"archive {name}" in README, name
    for param in cli.commands[name].params:
        for opt in getattr(param, "opts", []):
            if opt.startswith("--"):
                assert opt in README, f"archive {name} {opt} is not in the README"
    assert "ARCHIVE_DB" in README


def test_every_scheduler_option_is_documented():
    import scheduler

    for action in scheduler.build_parser()._actions:
        for opt in action.option_strings:
            if opt.startswith("--") and opt != "--help":
                assert f"scheduler.py {opt}" in README or opt in README, f"scheduler.py {opt} is not in the README"
