"""The diff's properties (tests/test_diff_properties.py) on many more generated edits than the suite runs.

    .venv/bin/python -m bench.diff_properties                    # 100,000 examples (about half an hour)
    .venv/bin/python -m bench.diff_properties --examples 2000 --no-write   # a quick look

Every example is checked (a failing one is recorded and the run goes on, so the count of failures is
real); the examples run, the failures (the first few shown) and the time go into docs/testing.md between
its diff-properties markers. Exit status 1 if any example failed.
"""
from __future__ import annotations

import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import click
from hypothesis import HealthCheck, given, settings

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.test_diff_properties import FACTOR, SLACK, check_diff, edited_texts  # noqa: E402

DOC = ROOT / "docs" / "testing.md"
BEGIN, END = "<!-- diff-properties:begin -->", "<!-- diff-properties:end -->"


def run(examples: int) -> dict:
    """Check `examples` generated (old, new) pairs; the counts, the first failures and the seconds taken."""
    ran, failures = 0, []

    @settings(max_examples=examples, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(edited_texts())
    def check(example):
        nonlocal ran
        ran += 1
        try:
            check_diff(*example)
        except AssertionError as e:
            failures.append((example, str(e)[:500]))

    start = time.perf_counter()
    check()
    return {"examples": ran, "failures": failures, "seconds": time.perf_counter() - start}


def section(result: dict) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [BEGIN, "",
             f"Last run {when} on {platform.python_implementation()} {platform.python_version()}: "
             f"**{result['examples']:,} examples, {len(result['failures'])} failures, "
             f"{result['seconds']:.0f} s** (`python -m bench.diff_properties`; locality bound: shown changes "
             f"≤ {FACTOR} × minimal edit + {SLACK} characters).", ""]
    for example, why in result["failures"][:5]:
        lines += ["```", f"old, new, unmoved = {example!r}", f"broken: {why}", "```", ""]
    return "\n".join([*lines, END])


def write(result: dict) -> None:
    text = DOC.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        raise click.ClickException(f"{DOC}: markers {BEGIN} … {END} not found")
    head, rest = text.split(BEGIN, 1)
    DOC.write_text(head + section(result) + rest.split(END, 1)[1], encoding="utf-8")


@click.command()
@click.option("--examples", default=100_000, show_default=True, help="Generated edits to check.")
@click.option("--write/--no-write", "write_doc", default=True, show_default=True,
              help="Record the result in docs/testing.md.")
def main(examples: int, write_doc: bool) -> None:
    """Run the diff properties on EXAMPLES generated edits, e.g. `python -m bench.diff_properties`."""
    result = run(examples)
    click.echo(f"{result['examples']} examples, {len(result['failures'])} failures, {result['seconds']:.1f} s")
    for example, why in result["failures"][:5]:
        click.echo(f"FAIL {example!r}: {why}")
    if write_doc:
        write(result)
    sys.exit(1 if result["failures"] else 0)


if __name__ == "__main__":
    main()
