"""Performance benchmark: the whole pipeline on a generated N-page replica site, side by side with bare
trafilatura, then the archive at scale (search, diff, CLI) on a synthetic 100,000-revision database.

    .venv/bin/python -m bench.run                     # N=2000 pages, 100,000 revisions (a few minutes)
    .venv/bin/python -m bench.run --pages 300 --revisions 10000 --no-write   # a quick look

Prints a table, writes the figures (and the machine) into docs/benchmarks.md between its bench markers,
and prints a final line `BENCH {json}` with every figure. Timings live here, never in the test suite.
"""
from __future__ import annotations

import json
import os
import platform
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import click
import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import scale  # noqa: E402
from bench.crawl import CrawlResult, run_crawl  # noqa: E402
from bench.site import BenchSite  # noqa: E402

DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
CRAWL_SETTINGS = {"DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False, "CONCURRENT_REQUESTS": 16,
                  "CONCURRENT_REQUESTS_PER_DOMAIN": 16, "LOGSTATS_INTERVAL": 600}


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    try:
        mem = int(Path("/proc/meminfo").read_text().split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    import scrapy
    import trafilatura
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_mb": mem, "python": platform.python_version(),
            "os": platform.platform(terse=True), "scrapy": scrapy.__version__, "trafilatura": trafilatura.__version__,
            "sqlite": sqlite3.sqlite_version, "load_before": round(os.getloadavg()[0], 2),
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}


def bare_trafilatura(site: BenchSite) -> dict:
    """trafilatura.extract (defaults) over the same article pages, one process, decoded text in."""
    import trafilatura

    pages = []
    for article in site.articles:
        page = site.pages[1][article.path]
        pages.append((article.path, page.body.decode(page.content_type.rsplit("=", 1)[1])))
    trafilatura.extract(pages[0][1], url="http://127.0.0.1" + pages[0][0])  # imports, lazy init
    start = time.perf_counter()
    for path, html in pages:
        trafilatura.extract(html, url="http://127.0.0.1" + path)
    seconds = time.perf_counter() - start
    return {"pages": len(pages), "seconds": seconds, "pages_per_s": len(pages) / seconds}


def crawl_figures(result: CrawlResult, served: dict[str, int], articles: int) -> dict:
    return {"wall_s": round(result.wall, 2), "returncode": result.returncode, "status": result.run.get("status"),
            "pages_per_s": round(articles / result.wall, 1),
            "extracted": result.run.get("pages_extracted", result.stats.get("zwgk/extracted")),
            "not_modified": served.get("304", 0),
            "served_200": served.get("200", 0), "rows_added": result.rows_added,
            "peak_rss_mb": round(result.peak_rss_mb), "peak_pss_mb": round(result.peak_pss_mb),
            "requests": result.stats.get("downloader/request_count")}


def _delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: after.get(k, 0) - before.get(k, 0) for k in after}


def crawl_benchmark(site: BenchSite, work: Path, workers: int | None) -> dict:
    settings = dict(CRAWL_SETTINGS)
    if workers is not None:
        settings["ZWGK_EXTRACT_WORKERS"] = workers
    db = work / "crawl.db"
    for old in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        old.unlink(missing_ok=True)  # a fresh database every time
    out: dict = {}
    with site.serve() as server:
        config = work / "sources.yaml"
        config.write_text(yaml.safe_dump({"sources": [site.source_entry(server.base_url, settings)]},
                                         allow_unicode=True, sort_keys=False), encoding="utf-8")
        for label, state in (("first", 1), ("unchanged", 1), ("edited", 2)):
            server.set_state(state)
            before = server.stats()
            result = run_crawl(config, db, "bench", work / f"crawl-{label}.log")
            if result.returncode != 0:
                raise RuntimeError(f"{label} crawl failed (exit {result.returncode}):\n{result.log_tail}")
            out[label] = crawl_figures(result, _delta(server.stats(), before), site.n)
    conn = sqlite3.connect(db)
    revised = {row[0] for row in conn.execute(
        "SELECT url FROM fetches WHERE run_id = (SELECT max(id) FROM runs) AND outcome IN ('new', 'changed')")}
    revisions = conn.execute("SELECT count(*) FROM revisions").fetchone()[0]
    conn.close()
    edited = {server.base_url + p for p in site.edited}
    out["edited"]["expected_revisions"] = len(edited)
    out["edited"]["exactly_the_edited_pages"] = revised == edited
    out["bytes_per_revision"] = round(db.stat().st_size / max(1, revisions))
    return out


def fmt(value, unit: str = "", digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}f}{unit}"
    return f"{value:,}{unit}"


def report(fig: dict) -> str:
    """The figures as a markdown table (also what is printed)."""
    c, m = fig["crawl"], fig["machine"]
    first, same, edited = c["first"], c["unchanged"], c["edited"]
    bare = fig["bare_trafilatura"]
    rows = [
        ("1. first crawl", "end to end", f"{fmt(first['pages_per_s'])} pages/s ({fig['pages']:,} pages in "
                                          f"{fmt(first['wall_s'], ' s', 1)})", ""),
        ("", "bare `trafilatura.extract`, one process", f"{fmt(bare['pages_per_s'])} pages/s", ""),
        ("", "**ratio crawl / bare**", f"**{fig['ratio']:.2f}×**", "≥ 0.8×"),
        ("2. recrawl, nothing changed", "wall time", f"{fmt(same['wall_s'], ' s')} = "
                                                     f"{same['wall_s'] / first['wall_s']:.0%} of the first crawl",
         "≤ 50%"),
        ("", "pages extracted again", fmt(same["extracted"]), "0"),
        ("", "rows added", ", ".join(f"{k} {v}" for k, v in same["rows_added"].items() if v) or "none",
         "fetches + runs only"),
        ("", "requests answered 304", f"{same['not_modified']:,} (200: {same['served_200']:,})", ""),
        ("3. recrawl, 5% edited", "revisions added", f"{edited['rows_added']['revisions']:,} of "
                                                     f"{edited['expected_revisions']:,} edited; exactly those: "
                                                     f"{'yes' if edited['exactly_the_edited_pages'] else 'NO'}",
         "= edited"),
        ("", "pages extracted / wall", f"{fmt(edited['extracted'])} / {fmt(edited['wall_s'], ' s')}", ""),
        ("4. peak memory of the crawl", "RSS (PSS) of the crawl's process tree",
         f"{max(x['peak_rss_mb'] for x in (first, same, edited))} MB "
         f"({max(x['peak_pss_mb'] for x in (first, same, edited))} MB)", "< 400 MB"),
    ]
    if fig.get("scale"):
        s = fig["scale"]
        rows.append(("5. archive at scale", "synthetic archive",
                     f"{s['build']['revisions']:,} revisions, {s['build']['documents']:,} documents, "
                     f"{s['build']['size_bytes'] / 2**20:,.0f} MB = {s['bytes_per_revision']:,} bytes/revision "
                     f"(built in {s['build']['build_s']:.0f} s)", ""))
        for r in s["search"].values():
            rows.append(("", f"Datasette `{r['view']}` ({fmt(r['matches'])} matches)",
                         f"median {r['median_ms']:.0f} ms, p95 {r['p95_ms']:.0f} ms", "p95 < 100 ms"))
        for label, r in s["diff"].items():
            rows.append(("", f"`diff` 2×20,000 chars, {label} ({r['paragraphs']} paragraphs)",
                         f"median {r['median_ms']:.0f} ms, slowest of 5 {r['p95_ms']:.0f} ms", "< 100 ms"))
        for label, r in s["cli"].items():
            rows.append(("6. CLI" if label == "status" else "", f"`python -m archive {label}` (whole process)",
                         f"median {r['median_ms']:.0f} ms", ""))
    lines = ["| | measure | result | target |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {r} | {t} |" for a, b, r, t in rows]
    head = (f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_mb']:,} MB RAM; {m['os']}; Python {m['python']}, "
            f"Scrapy {m['scrapy']}, trafilatura {m['trafilatura']}, SQLite {m['sqlite']}; "
            f"load average before the run {m['load_before']}; {m['date']}; bench took {fig['total_s']:.0f} s.")
    return head + "\n\n" + "\n".join(lines) + "\n"


def write_doc(table: str, fig: dict) -> None:
    block = f"{BEGIN}\n{table}\n<details><summary>raw figures (JSON)</summary>\n\n```json\n" \
            f"{json.dumps(fig, ensure_ascii=False, indent=1)}\n```\n</details>\n{END}"
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text:
        text += f"\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1] if END in rest else ""
    DOC.write_text(head + block + tail, encoding="utf-8")


@click.command()
@click.option("--pages", default=2000, show_default=True, help="Article pages on the generated site.")
@click.option("--revisions", default=100_000, show_default=True, help="Revisions in the synthetic archive.")
@click.option("--extract-workers", type=int, default=None, help="ZWGK_EXTRACT_WORKERS for the crawls.")
@click.option("--no-scale", is_flag=True, help="Skip the archive-at-scale part (5 and 6).")
@click.option("--no-write", is_flag=True, help="Do not update docs/benchmarks.md.")
@click.option("--keep", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep the databases and crawl logs in this directory.")
def main(pages: int, revisions: int, extract_workers: int | None, no_scale: bool, no_write: bool,
         keep: Path | None) -> None:
    """Run the benchmark and report; e.g. `python -m bench.run --pages 2000`."""
    started = time.perf_counter()
    fig: dict = {"machine": machine(), "pages": pages}
    with tempfile.TemporaryDirectory(prefix="zwgk-bench-") as tmp:
        work = keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        click.echo(f"generating a {pages}-page site …", err=True)
        site = BenchSite.generate(pages)
        click.echo("bare trafilatura …", err=True)
        fig["bare_trafilatura"] = bare_trafilatura(site)
        click.echo("crawls (first, unchanged, 5% edited) …", err=True)
        fig["crawl"] = crawl_benchmark(site, work, extract_workers)
        fig["ratio"] = round(fig["crawl"]["first"]["pages_per_s"] / fig["bare_trafilatura"]["pages_per_s"], 3)
        if not no_scale:
            click.echo(f"synthetic archive of {revisions:,} revisions …", err=True)
            path = work / "archive.db"
            captures = scale.compressed_captures([site.pages[1][a.path].body for a in site.articles])
            build = scale.build_archive(path, revisions, captures)
            click.echo("search, diff and CLI latencies …", err=True)
            fig["scale"] = {
                "build": build, "bytes_per_revision": round(build["size_bytes"] / build["revisions"]),
                "search": scale.datasette_search(path, {"2 characters": "调解", "4 characters": "行政复议"}),
                "diff": scale.diff_latency(), "cli": scale.cli_latency(path, build["documents"] // 2)}
        fig["total_s"] = round(time.perf_counter() - started, 1)
        (work / "bench.json").write_text(json.dumps(fig, ensure_ascii=False, indent=1), encoding="utf-8")
    table = report(fig)
    click.echo("\n" + table)
    if not no_write:
        write_doc(table, fig)
    click.echo("BENCH " + json.dumps(fig, ensure_ascii=False, separators=(",", ":")))


if __name__ == "__main__":
    main()
