"""Performance benchmark: the whole pipeline on a generated N-page replica site, side by side with bare
trafilatura, then the archive at scale (search, diff, CLI) on a synthetic 100,000-revision database.

    .venv/bin/python -m bench.run                     # N=2000 pages, 100,000 revisions (a few minutes)
    .venv/bin/python -m bench.run --pages 300 --revisions 10000 --no-write   # a quick look
    .venv/bin/python -m bench.run --large 20000       # crawl figures on a 20,000-page site (own block)

Prints a table, writes the figures (and the machine) into docs/benchmarks.md between its bench markers,
and prints a final line `BENCH {json}` with every figure. Timings live here, never in the test suite.
"""
from __future__ import annotations

import json
import os
import platform
import sqlite3
import subprocess
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

from bench import profile, scale  # noqa: E402
from bench.crawl import CrawlResult, run_crawl  # noqa: E402
from bench.site import BenchSite  # noqa: E402

DOC = ROOT / "docs" / "benchmarks.md"
# The unchanged recrawl and its floor are run this many times, alternately, and the best of each compared:
# the figures of the first run (rows, requests) are the ones reported, every run's time is kept.
UNCHANGED_PAIRS = 3
# Likewise bare trafilatura and the first crawl (each pair: bare, then a crawl into a fresh archive), on the
# default site; the --large site's first crawl is run once.
FIRST_PAIRS = 3
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


def best_bare(runs: list[dict]) -> dict:
    """The fastest of several bare_trafilatura runs, with every run's time in `runs_s`."""
    best = dict(max(runs, key=lambda r: r["pages_per_s"]))
    best["runs_s"] = [round(r["seconds"], 2) for r in runs]
    return best


def bare_trafilatura(site: BenchSite) -> dict:
    """trafilatura.extract (defaults) over the same article pages, one process, decoded text in."""
    import trafilatura

    pages = []
    for article in site.articles:
        page = site.pages[1][article.path]
        pages.append((article.path, page.body.decode(page.content_type.rsplit("=", 1)[1])))
    trafilatura.extract(pages[0][1], url="http://127.0.0.1" + pages[0][0])  # imports, lazy init
    start, cpu = time.perf_counter(), time.process_time()
    for path, html in pages:
        trafilatura.extract(html, url="http://127.0.0.1" + path)
    seconds = time.perf_counter() - start
    return {"pages": len(pages), "seconds": seconds, "pages_per_s": len(pages) / seconds,
            "cpu_ms_per_page": round((time.process_time() - cpu) * 1000 / len(pages), 2)}


def crawl_figures(result: CrawlResult, served: dict[str, int], articles: int) -> dict:
    return {"wall_s": round(result.wall, 2), "returncode": result.returncode, "status": result.run.get("status"),
            "pages_per_s": round(articles / result.wall, 1),
            "extracted": result.run.get("pages_extracted", result.stats.get("zwgk/extracted")),
            "not_modified": served.get("304", 0),
            "served_200": served.get("200", 0), "rows_added": result.rows_added,
            "peak_rss_mb": round(result.peak_rss_mb), "peak_pss_mb": round(result.peak_pss_mb),
            "requests": result.stats.get("downloader/request_count"),
            "cpu_ms_per_page": round(result.cpu_s * 1000 / articles, 2) if result.cpu_s is not None else None,
            "cpu_ms_per_page_by_role": {k: round(v * 1000 / articles, 2) for k, v in result.cpu_by_role.items()}}


def _delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: after.get(k, 0) - before.get(k, 0) for k in after}


def recrawl_floor(asked: list[list], base_url: str, work: Path) -> dict:
    """A bare process (bench.floor, http.client) sending the requests the unchanged recrawl sent (as the
    site's server received them, in that order, with their conditional headers) one after another; timed
    as a whole process, start-up included, as the crawl is."""
    path = work / "floor-requests.json"
    path.write_text(json.dumps([[base_url + target, etag, modified] for target, etag, modified in asked]),
                    encoding="utf-8")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "bench.floor", str(path)], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"bench.floor failed: {done.stderr[-1000:]}")
    return {"wall_s": round(wall, 3), **json.loads(done.stdout.strip().splitlines()[-1])}


def fresh(db: Path) -> Path:
    for old in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        old.unlink(missing_ok=True)
    return db


def profiled_crawl(config: Path, work: Path, pages: int, label: str) -> dict:
    """A crawl into work/profiled.db under py-spy: where its time goes, by area and by function."""
    if profile.py_spy() is None:
        return {"error": "py-spy is not installed (pip install -e '.[test]')"}
    raw = work / f"profile-{label}.raw"
    result = run_crawl(config, work / "profiled.db", "bench", work / f"crawl-profiled-{label}.log", profile=raw)
    if result.returncode != 0 or not raw.exists():
        return {"error": f"profiled crawl failed (exit {result.returncode})"}
    samples = profile.parse_raw(raw)
    return {"wall_s": round(result.wall, 2), "areas": profile.areas(samples, pages),
            "top": profile.top_functions(samples, "crawl", limit=12)}


def compile_project() -> None:
    """Byte-compile the project's modules, as installing a package does: with PYTHONDONTWRITEBYTECODE set
    (or a read-only checkout) every crawl process would otherwise compile them again at start-up, a cost
    no deployed crawl pays. The floor's module is compiled too."""
    import compileall

    for package in ("crawler", "archive", "bench"):
        compileall.compile_dir(ROOT / package, quiet=1)


def crawl_benchmark(site: BenchSite, work: Path, workers: int | None, *, edited: bool = True,
                    profiled: bool = True, first_pairs: int = FIRST_PAIRS) -> dict:
    """The crawls of `site` (first, unchanged with its floor, 5% edited, profiled) and bare trafilatura,
    measured alternately with the first crawl; their figures."""
    settings = dict(CRAWL_SETTINGS)
    # every listing page of the site may be read: the default cap (ZWGK_MAX_LISTING_PAGES, 200 a source) is
    # for real columns and would cut a 20,000-page site's first crawl short (1,000 listing pages)
    listing_pages = sum(1 for c in range(site.columns) for path in site.pages[1] if path.startswith(f"/col{c}/index"))
    settings["ZWGK_MAX_LISTING_PAGES"] = max(200, listing_pages + 10)
    if workers is not None:
        settings["ZWGK_EXTRACT_WORKERS"] = workers
    db = fresh(work / "crawl.db")  # a fresh database every time
    compile_project()
    out: dict = {}
    runs = (("first", 1), ("unchanged", 1), ("edited", 2)) if edited else (("first", 1), ("unchanged", 1))
    with site.serve() as server:
        config = work / "sources.yaml"
        config.write_text(yaml.safe_dump({"sources": [site.source_entry(server.base_url, settings)]},
                                         allow_unicode=True, sort_keys=False), encoding="utf-8")
        bare, first_runs = [], []
        for n in range(first_pairs):  # the first pair's archive is the one the recrawls below use
            click.echo(f"bare trafilatura, then a first crawl ({n + 1} of {first_pairs}) …", err=True)
            bare.append(bare_trafilatura(site))
            server.set_state(1)
            before = server.stats()
            target = db if n == 0 else fresh(work / "crawl-again.db")
            log = work / ("crawl-first.log" if n == 0 else "crawl-first-again.log")
            result = run_crawl(config, target, "bench", log)
            if result.returncode != 0:
                raise RuntimeError(f"first crawl failed (exit {result.returncode}):\n{result.log_tail}")
            if n == 0:
                out["first"] = crawl_figures(result, _delta(server.stats(), before), site.n)
            first_runs.append(round(result.wall, 2))
        fresh(work / "crawl-again.db")
        out["bare_trafilatura"] = best_bare(bare)
        out["first"].update(runs_s=first_runs, wall_s=min(first_runs), pages_per_s=round(site.n / min(first_runs), 1))
        for label, state in runs[1:]:
            server.set_state(state)
            before, mark = server.stats(), server.asked_count()
            result = run_crawl(config, db, "bench", work / f"crawl-{label}.log")
            if result.returncode != 0:
                raise RuntimeError(f"{label} crawl failed (exit {result.returncode}):\n{result.log_tail}")
            out[label] = crawl_figures(result, _delta(server.stats(), before), site.n)
            if label == "unchanged":
                asked = server.asked(mark)
                before = server.stats()
                out["floor"] = recrawl_floor(asked, server.base_url, work)
                out["floor"]["served"] = _delta(server.stats(), before)
                out["unchanged"]["runs_s"] = [out["unchanged"]["wall_s"]]
                out["floor"]["runs_s"] = [out["floor"]["wall_s"]]
                for _ in range(UNCHANGED_PAIRS - 1):  # on a shared machine one run is a sample of its load
                    again = run_crawl(config, db, "bench", work / "crawl-unchanged-again.log")
                    if again.returncode != 0:
                        raise RuntimeError(f"unchanged crawl failed (exit {again.returncode}):\n{again.log_tail}")
                    out["unchanged"]["runs_s"].append(round(again.wall, 2))
                    out["floor"]["runs_s"].append(recrawl_floor(asked, server.base_url, work)["wall_s"])
                out["unchanged"]["wall_s"] = min(out["unchanged"]["runs_s"])
                out["floor"]["wall_s"] = min(out["floor"]["runs_s"])
        if profiled:
            server.set_state(1)
            fresh(work / "profiled.db")
            out["profile"] = profiled_crawl(config, work, site.n, "first")
            out["profile_unchanged"] = profiled_crawl(config, work, site.n, "unchanged")
    if not edited:
        return out
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


def _best_of(figures: dict) -> str:
    """", best of 3 runs (1.02, 0.98, 1.10 s)" when the figure is the best of several runs."""
    runs = figures.get("runs_s") or []
    return f", best of {len(runs)} runs ({', '.join(f'{r:.2f}' for r in runs)} s)" if len(runs) > 1 else ""


def fmt(value, unit: str = "", digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}f}{unit}"
    return f"{value:,}{unit}"


def crawl_rows(fig: dict) -> list[tuple[str, str, str, str]]:
    """Rows 1–4 of the table: first crawl against bare trafilatura, the recrawls, memory."""
    c = fig["crawl"]
    first, same, floor = c["first"], c["unchanged"], c["floor"]
    bare = fig["bare_trafilatura"]
    rows = [
        ("1. first crawl", "end to end" + _best_of(first),
         f"{fmt(first['pages_per_s'])} pages/s ({fig['pages']:,} pages in {fmt(first['wall_s'], ' s', 1)}; "
         f"{1000 / first['pages_per_s']:.1f} ms/page)", ""),
        ("", "bare `trafilatura.extract`, one process" + _best_of(bare), f"{fmt(bare['pages_per_s'])} pages/s", ""),
        ("", "**ratio crawl / bare**", f"**{fig['ratio']:.2f}×**", "≥ 0.8×"),
        *([("", "CPU time per page: the crawl's process tree (start-up included) / bare trafilatura",
            f"{first['cpu_ms_per_page']:.1f} ms / {bare['cpu_ms_per_page']:.1f} ms "
            f"(= {first['cpu_ms_per_page'] / bare['cpu_ms_per_page']:.2f}× bare's CPU, on two cores)", "")]
          if first.get("cpu_ms_per_page") and bare.get("cpu_ms_per_page") else []),
        *([("", "the same by thread (sampled from /proc every 50 ms)",
            "; ".join(f"{role} {ms:.1f} ms" for role, ms in first["cpu_ms_per_page_by_role"].items()), "")]
          if first.get("cpu_ms_per_page_by_role") else []),
        ("2. recrawl, nothing changed", "wall time" + _best_of(same), f"{fmt(same['wall_s'], ' s', 2)} = "
                                                     f"{same['wall_s'] / first['wall_s']:.0%} of the first crawl",
         ""),
        ("", "bare floor: the same requests one after another (http.client, one process)" + _best_of(floor),
         f"{fmt(floor['wall_s'], ' s', 2)} ({floor['requests']:,} requests: "
         + ", ".join(f"{v:,} × {k}" for k, v in sorted(floor["statuses"].items())) + ")", ""),
        ("", "**ratio recrawl / floor**", f"**{same['wall_s'] / floor['wall_s']:.2f}×**", "≤ 2×"),
        ("", "pages extracted again", fmt(same["extracted"]), "0"),
        ("", "rows added", ", ".join(f"{k} {v}" for k, v in same["rows_added"].items() if v) or "none",
         "0 revisions"),
        ("", "requests answered 304", f"{same['not_modified']:,} (200: {same['served_200']:,})", ""),
    ]
    runs = [first, same]
    if "edited" in c:
        edited = c["edited"]
        runs.append(edited)
        rows += [
            ("3. recrawl, 5% edited", "revisions added", f"{edited['rows_added']['revisions']:,} of "
                                                         f"{edited['expected_revisions']:,} edited; exactly those: "
                                                         f"{'yes' if edited['exactly_the_edited_pages'] else 'NO'}",
             "= edited"),
            ("", "pages extracted / wall", f"{fmt(edited['extracted'])} / {fmt(edited['wall_s'], ' s')}", "")]
    rows.append(("4. peak memory of the crawl", "RSS (PSS) of the crawl's process tree",
                 f"{max(x['peak_rss_mb'] for x in runs)} MB ({max(x['peak_pss_mb'] for x in runs)} MB)",
                 "< 400 MB"))
    return rows


def table(rows: list[tuple[str, str, str, str]]) -> str:
    lines = ["| | measure | result | target |", "|---|---|---|---|"]
    return "\n".join(lines + [f"| {a} | {b} | {r} | {t} |" for a, b, r, t in rows])


def profile_tables(prof: dict, pages: int, what: str, top: bool = True) -> str:
    """Where the time goes: samples by process and area, and the crawl thread's top functions."""
    if not prof or "error" in prof or not prof.get("areas"):
        return f"Profile of {what}: {prof.get('error', 'none')}.\n"
    roles = {"crawl": "crawl process, main thread (the revalidation stage, then Scrapy's reactor, the pipelines, "
                      "SQLite)",
             "crawl (other threads)": "crawl process, other threads", "worker": "extraction workers (all)"}
    lines = [f"Where the time goes in {what} of the same {pages:,} pages under py-spy "
             f"(100 samples/s of every process; {prof['wall_s']:.1f} s with the profiler attached): "
             "time sampled while running, in ms per page, and its share of that process's samples.", "",
             "| process | area | ms/page | share |", "|---|---|---|---|"]
    for role, label in roles.items():
        areas = prof["areas"].get(role)
        if not areas:
            continue
        total = areas["total"]
        lines.append(f"| **{label}** | **all** | **{total['ms_per_page']:.1f}** | {total['seconds']:.1f} s |")
        lines += [f"| | {area} | {a['ms_per_page']:.1f} | {a['share']:.0%} |"
                  for area, a in areas.items() if area != "total" and a["share"] >= 0.005]
    if top:
        lines += ["", "The crawl thread's functions by cumulative samples (on the stack) and self samples "
                      "(innermost):", "", "| function | cumulative | self |", "|---|---|---|"]
        lines += [f"| `{r['function']}` | {r['cumulative']:.0%} | {r['self']:.0%} |" for r in prof["top"]]
    return "\n".join(lines) + "\n"


def verdicts(fig: dict) -> str:
    """The targets of issue 16, each met or not by the figures of this run."""
    c = fig["crawl"]
    same, floor = c["unchanged"], c["floor"]
    runs = [x for x in (c["first"], same, c.get("edited")) if x]
    rss = max(x["peak_rss_mb"] for x in runs)
    checks = [
        ("first crawl ≥ 0.8× bare trafilatura (aim > 1×)", fig["ratio"] >= 0.8, f"{fig['ratio']:.2f}×"),
        ("unchanged recrawl ≤ 2× its bare floor", same["wall_s"] <= 2 * floor["wall_s"],
         f"{same['wall_s'] / floor['wall_s']:.2f}×"),
        ("unchanged recrawl: 0 extractions, 0 revisions", not same["extracted"]
         and not same["rows_added"]["revisions"],
         f"{same['extracted']} extractions, {same['rows_added']['revisions']} revisions"),
        ("peak RSS of the crawl < 400 MB", rss < 400, f"{rss} MB"),
    ]
    if c.get("edited"):
        checks.append(("5% edited: exactly those revisions", c["edited"]["exactly_the_edited_pages"],
                       f"{c['edited']['rows_added']['revisions']} of {c['edited']['expected_revisions']}"))
    if fig.get("scale"):
        sc = fig["scale"]
        served = [r for r in sc["search"].values()
                  if r["view"].startswith("revisions.json") and "_nofacet" not in r["view"]]
        worst = max(r.get("p95_ms", float("inf")) for r in served)
        checks.append((f"Datasette `_search` p95 < 100 ms on `revisions` at {sc['build']['revisions']:,} revisions",
                       worst < 100, f"worst p95 {worst:.0f} ms"))
        slowest = max(r["p95_ms"] for r in sc["diff"].values())
        checks.append(("`archive diff` of 2×20,000 chars < 100 ms", slowest < 100, f"slowest {slowest:.0f} ms"))
    checks.append(("the whole bench < 10 minutes", fig["total_s"] < 600, f"{fig['total_s']:.0f} s"))
    lines = ["| target | this run | verdict |", "|---|---|---|"]
    lines += [f"| {name} | {value} | {'met' if ok else '**not met**'} |" for name, ok, value in checks]
    return "\n".join(lines) + "\n"


def report(fig: dict) -> str:
    """The figures as markdown tables (also what is printed)."""
    m = fig["machine"]
    rows = crawl_rows(fig)
    if fig.get("scale"):
        rows += scale_rows(fig["scale"])
    head = (f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_mb']:,} MB RAM; {m['os']}; Python {m['python']}, "
            f"Scrapy {m['scrapy']}, trafilatura {m['trafilatura']}, SQLite {m['sqlite']}; "
            f"load average before the run {m['load_before']}; {m['date']}; bench took {fig['total_s']:.0f} s.")
    out = head + "\n\n" + table(rows) + "\n\n" + verdicts(fig)
    if fig.get("scale") and search_profile_table(fig["scale"]["search"]):
        out += "\n" + search_profile_table(fig["scale"]["search"])
    if fig["crawl"].get("profile"):
        out += "\n" + profile_tables(fig["crawl"]["profile"], fig["pages"], "a first crawl (fresh archive)")
    if fig["crawl"].get("profile_unchanged"):
        out += "\n" + profile_tables(fig["crawl"]["profile_unchanged"], fig["pages"],
                                      "the unchanged recrawl that follows it", top=False)
    return out


def search_profile_table(search: dict) -> str:
    """Where a search page's time goes: median ms per request by kind of SQL statement (Datasette's tracer)."""
    views = [r for r in search.values() if "where_ms" in r]
    if not views:
        return ""
    kinds = [k for k in scale.STATEMENT_KINDS if any(r["where_ms"].get(k) for r in views)]
    lines = ["Where a search page's time goes (median ms per request, wall time of each kind of SQL statement as "
             "Datasette's tracer records it, the rest of the request outside SQL, and the request's CPU time):",
             "", "| view | " + " | ".join(kinds) + " | total | CPU |", "|---|" + "---|" * (len(kinds) + 2)]
    for r in views:
        cells = [f"{r['where_ms'].get(k, 0):.1f}" for k in kinds]
        lines.append(f"| `{r['view']}` | " + " | ".join(cells)
                     + f" | {r['median_ms']:.0f} | {r.get('cpu_median_ms', 0):.0f} |")
    return "\n".join(lines) + "\n"


def scale_rows(s: dict) -> list[tuple[str, str, str, str]]:
    """Rows 5 and 6 (the archive at scale) of the figures table."""
    rows: list[tuple[str, str, str, str]] = []
    rows.append(("5. archive at scale", "synthetic archive",
                 f"{s['build']['revisions']:,} revisions, {s['build']['documents']:,} documents, "
                 f"{s['build']['size_bytes'] / 2**20:,.0f} MB = {s['bytes_per_revision']:,} bytes/revision "
                 + (f"(built in {s['build']['build_s']:.0f} s)" if s["build"]["build_s"] else "(kept)"), ""))
    for r in s["search"].values():
        result = (f"median {r['median_ms']:.0f} ms, p95 {r['p95_ms']:.0f} ms" if "error" not in r
                  else f"failed: {r['error'][:60]}")
        if "cpu_median_ms" in r:
            result += f" (CPU {r['cpu_median_ms']:.0f} ms)"
        rows.append(("", f"Datasette `{r['view']}` ({fmt(r['matches'])} matches)", result, "p95 < 100 ms"))
    for label, r in s["diff"].items():
        rows.append(("", f"`diff` 2×20,000 chars, {label} ({r['paragraphs']} paragraphs)",
                     f"median {r['median_ms']:.0f} ms, slowest of 5 {r['p95_ms']:.0f} ms", "< 100 ms"))
    for label, r in s["cli"].items():
        rows.append(("6. CLI" if label == "status" else "", f"`python -m archive {label}` (whole process)",
                     f"median {r['median_ms']:.0f} ms", ""))
    return rows


def write_doc(table: str, fig: dict, marker: str = "bench") -> None:
    """Replace the block between `<!-- {marker}:begin -->` and `<!-- {marker}:end -->` of docs/benchmarks.md."""
    begin, end = f"<!-- {marker}:begin -->", f"<!-- {marker}:end -->"
    block = f"{begin}\n{table}\n<details><summary>raw figures (JSON)</summary>\n\n```json\n" \
            f"{json.dumps(fig, ensure_ascii=False, indent=1)}\n```\n</details>\n{end}"
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Benchmarks\n"
    if begin not in text:
        text += f"\n{begin}\n{end}\n"
    head, rest = text.split(begin, 1)
    tail = rest.split(end, 1)[1] if end in rest else ""
    DOC.write_text(head + block + tail, encoding="utf-8")


def crawl_part(pages: int, work: Path, workers: int | None, *, edited: bool, profiled: bool) -> dict:
    """Site, bare trafilatura and the crawls on `pages` pages; the figures."""
    fig: dict = {"machine": machine(), "pages": pages}
    click.echo(f"generating a {pages}-page site …", err=True)
    site = BenchSite.generate(pages)
    click.echo("crawls (bare trafilatura and first, unchanged + its floor" + (", 5% edited" if edited else "")
               + (", profiled" if profiled else "") + ") …", err=True)
    fig["crawl"] = crawl_benchmark(site, work, workers, edited=edited, profiled=profiled,
                                   first_pairs=FIRST_PAIRS if edited else 1)
    fig["bare_trafilatura"] = fig["crawl"].pop("bare_trafilatura")
    fig["ratio"] = round(fig["crawl"]["first"]["pages_per_s"] / fig["bare_trafilatura"]["pages_per_s"], 3)
    fig["site"] = site
    return fig


def scale_part(pages: int, revisions: int, scale_db: Path | None, work: Path, site: BenchSite | None = None) -> dict:
    """The archive at scale: `scale_db`, or a synthetic archive of `revisions` built in `work` (its captures
    from `site`, or from a site of `pages` pages generated for them); search, diff and CLI latencies on it."""
    if scale_db is not None:
        path, build = scale_db, scale.archive_figures(scale_db)
    else:
        site = site or BenchSite.generate(pages)
        click.echo(f"synthetic archive of {revisions:,} revisions …", err=True)
        path = work / "archive.db"
        captures = scale.compressed_captures([site.pages[1][a.path].body for a in site.articles])
        build = scale.build_archive(path, revisions, captures)
    click.echo("search, diff and CLI latencies …", err=True)
    return {"build": build, "bytes_per_revision": round(build["size_bytes"] / build["revisions"]),
            "search": scale.datasette_search(path, {"2 characters": "调解", "4 characters": "行政复议"}),
            "diff": scale.diff_latency(), "cli": scale.cli_latency(path, build["documents"] // 2)}


@click.command()
@click.option("--pages", default=2000, show_default=True, help="Article pages on the generated site.")
@click.option("--revisions", default=100_000, show_default=True, help="Revisions in the synthetic archive.")
@click.option("--large", type=int, default=None,
              help="Instead: only the crawl figures (no edit, no profile) on a site this big, e.g. 20000, "
                   "written to the doc's large-site block.")
@click.option("--extract-workers", type=int, default=None, help="ZWGK_EXTRACT_WORKERS for the crawls.")
@click.option("--no-scale", is_flag=True, help="Skip the archive-at-scale part (5 and 6).")
@click.option("--no-profile", is_flag=True, help="Skip the profiled crawl.")
@click.option("--scale-db", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="Time search, diff and CLI on this kept synthetic archive instead of building one.")
@click.option("--no-write", is_flag=True, help="Do not update docs/benchmarks.md.")
@click.option("--keep", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep the databases, crawl logs and bench.json in this directory.")
@click.option("--only-scale", is_flag=True,
              help="Only the archive-at-scale part (5 and 6), printed, not written to the doc; with --scale-db it "
                   "measures a kept archive, e.g. `python -m bench.run --only-scale --scale-db DIR/archive.db`.")
@click.option("--report", "saved", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="Measure nothing: render the figures of a kept bench.json (and write the doc).")
def main(pages: int, revisions: int, large: int | None, extract_workers: int | None, no_scale: bool,
         no_profile: bool, no_write: bool, scale_db: Path | None, keep: Path | None, only_scale: bool,
         saved: Path | None) -> None:
    """Run the benchmark and report; e.g. `python -m bench.run --pages 2000`, `python -m bench.run --large 20000`."""
    if only_scale:
        fig = {"machine": machine()}
        with tempfile.TemporaryDirectory(prefix="zwgk-bench-") as tmp:
            work = keep or Path(tmp)
            work.mkdir(parents=True, exist_ok=True)
            fig["scale"] = scale_part(pages, revisions, scale_db, work)
        click.echo(f"load average before the run {fig['machine']['load_before']}; {fig['machine']['date']}\n\n"
                   + table(scale_rows(fig["scale"])) + "\n\n" + search_profile_table(fig["scale"]["search"]))
        click.echo("BENCH " + json.dumps(fig, ensure_ascii=False, separators=(",", ":")))
        return
    if saved is not None:
        fig = json.loads(saved.read_text(encoding="utf-8"))
        text = report(fig)
        click.echo(text)
        if not no_write:
            write_doc(text, fig, "bench" if "edited" in fig["crawl"] else "bench-large")
        return
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="zwgk-bench-") as tmp:
        work = keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        if large:
            fig = crawl_part(large, work, extract_workers, edited=False, profiled=False)
            fig.pop("site")
        else:
            fig = crawl_part(pages, work, extract_workers, edited=True, profiled=not no_profile)
            site = fig.pop("site")
        (work / "bench.json").write_text(json.dumps(fig, ensure_ascii=False, indent=1), encoding="utf-8")
        if not large and not no_scale:
            fig["scale"] = scale_part(pages, revisions, scale_db, work, site)
        fig["total_s"] = round(time.perf_counter() - started, 1)
        (work / "bench.json").write_text(json.dumps(fig, ensure_ascii=False, indent=1), encoding="utf-8")
    text = report(fig)
    click.echo("\n" + text)
    if not no_write:
        write_doc(text, fig, "bench-large" if large else "bench")
    click.echo("BENCH " + json.dumps(fig, ensure_ascii=False, separators=(",", ":")))


if __name__ == "__main__":
    main()
