"""Raw captures: the exact bytes of every response that produced a revision, deduplicated by their
sha256 and zlib-compressed, in the `captures` table. File names and keys come from hashes, never URLs."""
from __future__ import annotations

import hashlib
import json
import sqlite3
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # sqlite-utils is imported where it is used: an unchanged recrawl never needs it
    import sqlite_utils



@dataclass(frozen=True)
class Capture:
    hash: str
    url: str
    fetched_at: str
    http_status: int
    headers: dict[str, str]
    encoding: str
    body: bytes


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def pack(body: bytes) -> tuple[str, bytes]:
    """A body's hash and its compressed bytes, as `save_capture` stores them (a crawl computes them in
    its extraction workers, off the thread that writes)."""
    return body_hash(body), zlib.compress(body, 6)


def save_capture(conn: sqlite3.Connection, *, url: str, body: bytes, fetched_at: str, http_status: int,
                 headers: dict[str, str], encoding: str, packed: tuple[str, bytes] | None = None) -> str:
    """Store a response's bytes once (by hash) inside the caller's transaction; return the hash.
    `packed` is `pack(body)` when the caller computed it already."""
    digest, compressed = packed or pack(body)
    conn.execute(
        "INSERT OR IGNORE INTO captures (hash, url, fetched_at, http_status, headers, encoding, size, body)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (digest, url, fetched_at, http_status, json.dumps(headers, ensure_ascii=False), encoding, len(body),
         compressed),
    )
    return digest


def load_capture(db: sqlite_utils.Database, digest: str) -> Capture | None:
    row = db.execute(
        "SELECT hash, url, fetched_at, http_status, headers, encoding, body FROM captures WHERE hash = ?",
        [digest],
    ).fetchone()
    if row is None:
        return None
    return Capture(row[0], row[1], row[2], row[3], json.loads(row[4] or "{}"), row[5], zlib.decompress(row[6]))
