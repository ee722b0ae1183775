"""Bad config or arguments: one clear line naming what is wrong, exit code 2, nothing written."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml

from tests.crawling import ROOT

GOOD = {"sources": [{"id": "x", "name": "某区人民政府", "district": "某区",
                     "start_urls": ["http://127.0.0.1:9/list/index.html"], "article_urls": ["/content/"]}]}


def _config(tmp_path, text: str | None = None, **source_changes) -> str:
    path = tmp_path / "sources.yaml"
    if text is None:
        data = {"sources": [{**GOOD["sources"][0], **source_changes}]}
        text = yaml.safe_dump(data, allow_unicode=True)
    path.write_text(text, encoding="utf-8")
    return str(path)


def _run(args: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "crawler.run", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}, timeout=60)


CASES = {
    "missing config": (lambda t: ["--source", "x", "--config", str(t / "nope.yaml")], "config file not found"),
    "broken yaml": (lambda t: ["--source", "x", "--config", _config(t, "sources: [\n")], "not valid YAML"),
    "unknown source": (lambda t: ["--source", "y", "--config", _config(t)], "no source with id 'y'"),
    "bad regex": (lambda t: ["--source", "x", "--config", _config(t, article_urls=["(["])], "article_urls"),
    "bad setting value": (lambda t: ["--source", "x", "--config", _config(t, settings={"DOWNLOAD_TIMEOUT": "slow"})],
                          "DOWNLOAD_TIMEOUT must be a non-negative number"),
    "no --source": (lambda t: ["--config", _config(t)], "--source"),
    "bad --run-id": (lambda t: ["--source", "x", "--config", _config(t), "--run-id", "abc"], "--run-id"),
    "--db is a directory": (lambda t: ["--source", "x", "--config", _config(t), "--db", str(t)], "is a directory"),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_clear_line_and_exit_2(tmp_path, case):
    make_args, expected = CASES[case]
    args = make_args(tmp_path)
    if "--db" not in args:
        args += ["--db", str(tmp_path / "archive.db")]
    done = _run(args)
    assert done.returncode == 2, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], done.stderr
    assert not (tmp_path / "archive.db").exists(), "nothing may be written on bad input"


def test_broken_guard_rules_are_a_config_error(tmp_path):
    from crawler import guard

    data = yaml.safe_load(guard.RULES_PATH.read_text(encoding="utf-8"))
    del data["not_found"]["markers"]
    rules = tmp_path / "guard.yaml"
    rules.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    done = _run(["--source", "x", "--config", _config(tmp_path), "--db", str(tmp_path / "archive.db")],
                env={"ZWGK_GUARD_RULES": str(rules)})
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert str(rules) in line and "not_found.markers" in line
    assert not (tmp_path / "archive.db").exists()


def test_shipped_guard_rules_load():
    from crawler import guard

    rules = guard.load_rules()
    assert 412 in rules.blocked_statuses and 404 in rules.not_found_statuses
