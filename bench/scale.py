"""The archive at scale: a synthetic archive of many revisions, then search (through Datasette), diff and
CLI latencies on it.

The synthetic archive goes through the real schema (archive.db.connect) and the real segmenter for its
full-text index; rows are bulk-inserted rather than written page by page (that path is what the crawl
benchmark measures). Every revision carries a realistic compressed capture so the size per revision is
what a real archive pays.
"""
from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
import statistics
import subprocess
import sys
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from archive.db import connect
from archive.search import segment
from tests.sites.seeds import SEED_SPECS, seed_body, vary

ROOT = Path(__file__).resolve().parents[1]
REVISIONS_PER_DOCUMENT = 5
BATCH_DOCUMENTS = 1000


def _bodies(count: int = 60) -> list[list[str]]:
    """`count` distinct report bodies (paragraph lists) varied from the seeds."""
    seeds = sorted(SEED_SPECS)
    return [vary(seed_body(seeds[k % len(seeds)]), salt=f"scale{k}", drop_every=4 + k % 4) for k in range(count)]


def _revision_text(body: list[str], doc: int, rev: int) -> str:
    """Revision `rev` of document `doc`: the body with one paragraph per revision so far corrected."""
    paras = list(body)
    for r in range(1, rev + 1):
        k = (doc + r * 7) % len(paras)
        paras[k] = paras[k] + f"(第{r}次更正,编号{doc}-{r}。)"
    paras[0] = f"文档{doc}:" + paras[0]
    return "\n".join(paras)


def _segment_pair(args: tuple[str, str]) -> tuple[str, str]:
    return segment(args[0]), segment(args[1])


def build_archive(path: Path, revisions: int, captures: list[bytes], workers: int = 2) -> dict:
    """Create a synthetic archive of `revisions` revisions (5 per document). Returns build figures."""
    start = time.perf_counter()
    for old in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        old.unlink(missing_ok=True)
    db = connect(path)
    conn = db.conn
    conn.execute("INSERT INTO sources (id, name, district, listing, start_urls, schedule, timezone, config, "
                 "updated_at) VALUES ('synthetic', '合成来源', '合成区', 'html', '[]', 'every 6h', "
                 "'Asia/Shanghai', '{}', '2025-01-01T00:00:00+00:00')")
    recent = datetime.now(UTC) - timedelta(hours=REVISIONS_PER_DOCUMENT)
    for r in range(REVISIONS_PER_DOCUMENT):  # recent runs, so `status` reports a healthy source
        conn.execute("INSERT INTO runs (id, source_id, started_at, finished_at, status, pid) VALUES "
                     "(?, 'synthetic', ?, ?, 'ok', 1)", (r + 1, (recent + timedelta(hours=r)).isoformat(),
                                                          (recent + timedelta(hours=r, minutes=30)).isoformat()))
    bodies = _bodies()
    documents = revisions // REVISIONS_PER_DOCUMENT
    rev_id = 0
    with ProcessPoolExecutor(workers) as pool:
        for first in range(0, documents, BATCH_DOCUMENTS):
            docs = range(first, min(first + BATCH_DOCUMENTS, documents))
            rows = []
            for d in docs:
                body = bodies[d % len(bodies)]
                title = f"深圳市合成区第{d}号单位{2020 + d % 5}年法治政府建设年度报告"
                for r in range(REVISIONS_PER_DOCUMENT):
                    rows.append((d, r, title, _revision_text(body, d, r)))
            segmented = list(pool.map(_segment_pair, [(t, x) for _, _, t, x in rows], chunksize=100))
            conn.execute("BEGIN")
            for (d, r, title, text), (seg_title, seg_text) in zip(rows, segmented, strict=True):
                doc_id = d + 1
                fetched = f"2025-0{r + 1}-01T00:{d % 60:02d}:00+00:00"
                if r == 0:
                    conn.execute("INSERT INTO documents (id, url, source_id, title, published, publisher, district,"
                                 " report_year, status, first_seen, last_seen, last_changed) VALUES "
                                 "(?, ?, 'synthetic', ?, '2025-01-01', '合成区司法局', '合成区', ?, 'live', ?, ?, ?)",
                                 (doc_id, f"https://synthetic.example/post_{d}.html", title, 2020 + d % 5,
                                  fetched, fetched, fetched))
                rev_id += 1
                capture = hashlib.sha256(f"synthetic-capture-{rev_id}".encode()).hexdigest()
                blob = captures[rev_id % len(captures)]
                conn.execute("INSERT INTO captures (hash, url, fetched_at, http_status, headers, encoding, size, body)"
                             " VALUES (?, ?, ?, 200, '{}', 'utf-8', ?, ?)",
                             (capture, f"https://synthetic.example/post_{d}.html", fetched, len(blob) * 4, blob))
                digest = hashlib.sha256(text.encode()).hexdigest()
                conn.execute("INSERT INTO revisions (id, document_id, fetched_at, content_hash, title, published,"
                             " publisher, report_year, text, capture_hash, reextracted, extractor) VALUES "
                             "(?, ?, ?, ?, ?, '2025-01-01', '合成区司法局', ?, ?, ?, 0, '1')",
                             (rev_id, doc_id, fetched, digest, title, 2020 + d % 5, text, capture))
                conn.execute("INSERT INTO revisions_fts (rowid, title, text) VALUES (?, ?, ?)",
                             (rev_id, seg_title, seg_text))
                conn.execute("INSERT INTO fetches (run_id, url, document_id, http_status, outcome, content_hash,"
                             " fetched_at) VALUES (?, ?, ?, 200, ?, ?, ?)",
                             (r + 1, f"https://synthetic.example/post_{d}.html", doc_id,
                              "new" if r == 0 else "changed", digest, fetched))
                if r == REVISIONS_PER_DOCUMENT - 1:
                    conn.execute("UPDATE documents SET latest_revision_id = ?, last_seen = ?, last_changed = ? "
                                 "WHERE id = ?", (rev_id, fetched, fetched, doc_id))
                    conn.execute("INSERT INTO documents_fts (rowid, title, text) VALUES (?, ?, ?)",
                                 (doc_id, seg_title, seg_text))
            conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("ANALYZE")
    db.close()
    return {"revisions": rev_id, "documents": documents, "build_s": time.perf_counter() - start,
            "size_bytes": path.stat().st_size}


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"median_ms": statistics.median(ordered) * 1000, "p95_ms": p95 * 1000}


SEARCH_VIEWS = (  # the table pages as served (rows, count, configured facets), and without facets
    "revisions.json?_search={term}",
    "revisions.json?_search={term}&_nofacet=1",
    "documents.json?_search={term}",
)


def archive_figures(path: Path) -> dict:
    """What a kept synthetic archive holds (for --scale-db: measured again without being rebuilt)."""
    conn = sqlite3.connect(path)
    try:
        revisions, documents = (conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                                for t in ("revisions", "documents"))
    finally:
        conn.close()
    return {"revisions": revisions, "documents": documents, "build_s": None, "size_bytes": path.stat().st_size}


# where a search request's time goes: the SQL statements Datasette's tracer records, by kind, and the rest
STATEMENT_KINDS = ("rows", "count", "count and facets in one pass", "facets", "other SQL", "outside SQL")


def _statement_kind(sql: str) -> str:
    sql = " ".join(sql.split())
    if "as value, count(*) as count" in sql:
        return "facets"
    if "count(*)" in sql and " group by " in sql:
        return "count and facets in one pass"
    if sql.startswith("select count(*)"):
        return "count"
    if "_fts where " in sql and " limit " in sql:
        return "rows"
    return "other SQL"


def _statement_times(traces: list[dict], total_ms: float) -> dict[str, float]:
    """One request's traced SQL time (ms) by kind, and the rest of its wall time ("outside SQL": the
    view's Python, JSON encoding, the client)."""
    out: dict[str, float] = {}
    for entry in traces:
        if entry.get("type") == "sql":
            kind = _statement_kind(entry["sql"])
            out[kind] = out.get(kind, 0.0) + entry["duration_ms"]
    out["outside SQL"] = total_ms - sum(out.values())
    return out


def datasette_search(path: Path, terms: dict[str, str], repeat: int = 20) -> dict[str, dict]:
    """Latency of ?_search= through the real Datasette app (in-process client), configured as
    `python -m archive serve` runs it (project metadata, facet suggestions off), per term and view; also the
    CPU time a request takes (all threads of this process: the view and its SQL), which, unlike the
    latency, a busy machine barely changes."""
    import yaml
    from datasette.app import Datasette
    from datasette.tracer import capture_traces

    metadata = yaml.safe_load((ROOT / "config" / "datasette.yaml").read_text(encoding="utf-8"))
    name = path.stem

    async def run() -> dict[str, dict]:
        ds = Datasette([str(path)], metadata=metadata, settings={"suggest_facets": False})
        await ds.invoke_startup()
        out = {}
        for label, term in terms.items():
            for query in SEARCH_VIEWS:
                view = query.format(term=term)
                url = f"/{name}/{view}"
                first = await ds.client.get(url)
                if first.status_code != 200:  # e.g. over Datasette's sql_time_limit_ms on a loaded machine
                    out[f"{label}: {view}"] = {"term": term, "view": view, "matches": None,
                                               "error": f"HTTP {first.status_code}: {first.text[:120]}"}
                    continue
                data = first.json()
                samples, cpu, parts = [], [], []
                for _ in range(repeat):
                    traces: list[dict] = []
                    t, c = time.perf_counter(), time.process_time()
                    with capture_traces(traces):
                        response = await ds.client.get(url)
                    samples.append(time.perf_counter() - t)
                    cpu.append(time.process_time() - c)
                    parts.append(_statement_times(traces, samples[-1] * 1000))
                    if response.status_code != 200:
                        samples[-1] = float("inf")  # a failed request counts as slower than any answer
                    else:
                        data = response.json()
                out[f"{label}: {view}"] = {"term": term, "view": view,
                                           "matches": data.get("filtered_table_rows_count"),
                                           **_percentiles(samples),
                                           "cpu_median_ms": statistics.median(cpu) * 1000,
                                           "where_ms": {k: statistics.median(p.get(k, 0.0) for p in parts)
                                                        for k in STATEMENT_KINDS}}
        return out

    return asyncio.run(run())


def diff_texts_20k() -> dict[str, tuple[str, str]]:
    """Pairs of 20,000-character report texts: a realistic edit, every paragraph edited, and every
    paragraph rewritten (the worst case for paragraph pairing)."""
    seeds = sorted(SEED_SPECS)
    sentences = []
    k = 0
    while sum(map(len, sentences)) < 20_000:
        for para in vary(seed_body(seeds[k % len(seeds)]), salt=f"diff{k}"):
            sentences.extend(s + "。" for s in para.split("。") if s)
        k += 1
    old_paras, total = [], 0
    for s in sentences:
        if total >= 20_000:
            break
        old_paras.append(s)
        total += len(s) + 1
    old = "\n".join(old_paras)[:20_000]
    paras = old.split("\n")
    edited = list(paras)
    for i in range(0, len(edited), 20):  # 5% of paragraphs corrected, one added, one dropped
        edited[i] = vary([edited[i]], salt=f"e{i}")[0] + "(已更正)"
    edited.insert(len(edited) // 2, "新增段落:本年度还完成了行政执法案卷评查工作,共评查案卷120宗。")
    del edited[len(edited) // 3]
    every = [vary([p], salt=f"all{i}")[0] + "。" for i, p in enumerate(paras)]
    rewritten = list(reversed(paras))  # every paragraph replaced by another one
    return {"5% edited": (old, "\n".join(edited)), "every paragraph edited": (old, "\n".join(every)),
            "every paragraph rewritten": (old, "\n".join(rewritten))}


def diff_latency(repeat: int = 5) -> dict[str, dict]:
    from archive.diff import diff_texts

    out = {}
    for label, (old, new) in diff_texts_20k().items():
        samples = []
        for _ in range(repeat):
            t = time.perf_counter()
            diff_texts(old, new)
            samples.append(time.perf_counter() - t)
        out[label] = {"chars": (len(old), len(new)), "paragraphs": old.count("\n") + 1, **_percentiles(samples)}
    return out


def cli_latency(path: Path, document: int, repeat: int = 3) -> dict[str, dict]:
    """Wall time of `python -m archive status` and `history` (a whole process each, as a user runs them)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = {}
    for label, args in {"status": ["status"], "history": ["history", str(document)]}.items():
        samples = []
        for _ in range(repeat):
            t = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "archive", "--db", str(path), *args], cwd=ROOT, env=env,
                                  capture_output=True, text=True)
            samples.append(time.perf_counter() - t)
            if done.returncode != 0:
                raise RuntimeError(f"archive {' '.join(args)} failed: {done.stderr[-500:]}")
        out[label] = _percentiles(samples)
    return out


def compressed_captures(bodies: list[bytes], count: int = 200) -> list[bytes]:
    return [zlib.compress(b, 6) for b in bodies[:count]]
