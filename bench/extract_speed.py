"""Extraction speed and output stability: `extract_page` against bare `trafilatura.extract` on every page
the project has (replica farm pages in both states, held-out templates, real captured pages; enumerated
as bench/fidelity.py does), timed in the same run so that only the ratio counts on a noisy machine.

    python -m bench.extract_speed                       # ms/page of both and the ratio
    python -m bench.extract_speed --snapshot out.json   # also write every output (before an optimisation)
    python -m bench.extract_speed --check out.json      # fail on any output that differs from the snapshot
    python -m bench.extract_speed --profile 30          # cProfile of extract_page, top 30 functions
    python -m bench.extract_speed --site 300            # the bench site's first 300 articles (both states)
"""
from __future__ import annotations

import cProfile
import json
import pstats
import re
import sys
import time
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.fidelity import Case, farm_cases, real_cases, unseen_cases  # noqa: E402
from crawler.extract import extract_page  # noqa: E402


def all_cases() -> list[Case]:
    """Every page, each under a unique name."""
    cases = [*farm_cases(), *unseen_cases(), *real_cases()]
    seen: dict[str, int] = {}
    for case in cases:
        count = seen.get(case.name, 0)
        seen[case.name] = count + 1
        if count:
            case.name = f"{case.name}#{count}"
    return cases


def site_cases(n: int) -> list[Case]:
    """The article pages of bench/site.py's N-article site, in both states (an edited article differs in
    state 2), as the first crawl and a recrawl see them."""
    from bench.site import BenchSite

    site = BenchSite.generate(n)
    cases = []
    for state in (1, 2):
        for article in site.articles:
            if state == 2 and article.path not in site.edited:
                continue
            page = site.pages[state][article.path]
            charset = page.content_type.split("charset=", 1)[1]
            cases.append(Case(f"site{state}{article.path}", f"http://127.0.0.1:8000{article.path}",
                              page.body.decode(charset), "深圳市基准测试区人民政府", (), {}))
    return cases


def output(case: Case) -> dict:
    """Everything extract_page returns for one page, as JSON-able data."""
    page = extract_page(case.html, case.url, site_name=case.site_name, prune=case.prune)
    return {"title": page.title, "published": page.published, "publisher": page.publisher,
            "report_year": page.report_year, "text": page.text, "record": page.record,
            "attachments": [list(a) for a in page.attachments]}


def bare(case: Case) -> None:
    import trafilatura

    trafilatura.extract(case.html, url=case.url)


def timed(cases: list[Case], repeat: int) -> tuple[float, float]:
    """Seconds over all pages of extract_page and of bare trafilatura, each page's best of `repeat`; the
    two run alternately page by page so that load on a shared machine hits both alike."""
    ours = [float("inf")] * len(cases)
    theirs = [float("inf")] * len(cases)
    for _ in range(repeat):
        for i, case in enumerate(cases):
            start = time.perf_counter()
            output(case)
            middle = time.perf_counter()
            bare(case)
            ours[i] = min(ours[i], middle - start)
            theirs[i] = min(theirs[i], time.perf_counter() - middle)
    return sum(ours), sum(theirs)


LOCAL_PORT_RE = re.compile(r"127\.0\.0\.1:\d+")


def portless(outputs: dict) -> dict:
    """Outputs with the replica servers' ports (new each run) masked, so runs compare."""
    return json.loads(LOCAL_PORT_RE.sub("127.0.0.1:PORT", json.dumps(outputs, ensure_ascii=False)))


def differences(got: dict, want: dict) -> list[str]:
    lines = []
    for name in sorted(set(got) | set(want)):
        if name not in got or name not in want:
            lines.append(f"{name}: {'missing now' if name not in got else 'not in snapshot'}")
            continue
        for key in sorted(set(got[name]) | set(want[name])):
            if got[name].get(key) != want[name].get(key):
                lines.append(f"{name}: {key} differs: {want[name].get(key)!r:.120} -> {got[name].get(key)!r:.120}")
    return lines


@click.command()
@click.option("--repeat", default=3, show_default=True, help="Timing runs per page (the best counts).")
@click.option("--snapshot", "snapshot", type=click.Path(dir_okay=False, path_type=Path),
              help="Write every extract_page output to this JSON file.")
@click.option("--check", "check", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Compare every output with this snapshot; exit 1 on any difference.")
@click.option("--profile", "profile", type=int, default=0, help="Print cProfile's top N functions of extract_page.")
@click.option("--site", "site", type=int, default=0,
              help="Use the article pages of an N-article bench site (bench/site.py) instead of the project's.")
def main(repeat: int, snapshot: Path | None, check: Path | None, profile: int, site: int) -> None:
    """Time extract_page against bare trafilatura, e.g. `python -m bench.extract_speed --check snap.json`."""
    cases = site_cases(site) if site else all_cases()
    outputs = portless({case.name: output(case) for case in cases})  # also the warm-up
    bare(cases[0])
    ours_s, bare_s = timed(cases, repeat)
    n = len(cases)
    click.echo(f"{n} pages: extract_page {ours_s / n * 1000:.1f} ms/page, trafilatura.extract "
               f"{bare_s / n * 1000:.1f} ms/page, ratio {ours_s / bare_s:.2f}")
    if profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for case in cases:
            output(case)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(profile)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(profile)
    if snapshot:
        snapshot.write_text(json.dumps(outputs, ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8")
        click.echo(f"snapshot of {n} pages written to {snapshot}")
    if check:
        diff = differences(outputs, json.loads(check.read_text(encoding="utf-8")))
        for line in diff:
            click.echo(line, err=True)
        if diff:
            raise SystemExit(f"{len(diff)} differences from {check}")
        click.echo(f"all {n} pages identical to {check}")


if __name__ == "__main__":
    main()
