"""Fast ``?_search=`` pages in Datasette 0.65 with exact counts and facets (used by archive.datasette_plugin).

What Datasette runs for one search page of ``revisions`` or ``documents``: a rows statement, a count and one
statement per column facet, each with the condition ``rowid in (select rowid from T_fts where T_fts match
escape_fts(:search))``. SQLite evaluates that condition by running the MATCH and building a temporary list of
every matching rowid (70,000 for 调解 in the 100,000-revision bench archive), then looks rows up from the list;
the rows statement sorts nothing but still builds the whole list first. So each statement costs a full MATCH,
a list of every match and a lookup per match (~20–30 ms of CPU each), and a page with one facet three of them.

While a request is served (the plugin's ASGI wrapper calls :func:`begin_request`), the statements Datasette
sends to an archive database are changed in two ways, both giving exactly the rows and figures it would get:

- *Join form*: ``from T where … rowid in (select rowid from T_fts where T_fts match Q) …`` becomes
  ``from (select rowid as zwgk_match_rowid from T_fts where T_fts match Q) as zwgk_matches join T on
  T.rowid = zwgk_matches.zwgk_match_rowid where … 1 …`` — the same rows, each once (FTS rowids are unique),
  with the MATCH driving the lookups and no list. When the page is sorted by the primary key (``revisions``
  is, newest first) the ORDER BY names the match's rowid, equal to the key, so FTS5 returns matches newest
  first and the rows statement stops after one page instead of reading every match.
- *One grouped pass*: the count becomes ``select c1, …, ck, count(*) from … group by c1, …, ck`` over the
  columns the page facets on that the table's covering search index holds (:data:`archive.search.
  SEARCH_INDEXES`); its groups give the count (their sum) and those facets (sums per value, ordered and
  cut as Datasette's facet statement orders and cuts them), so the facet statements that follow for the
  same condition and parameters are answered without running.

Statements of other tables, of other databases, of a request with a raw ``?_where=`` (which could comment
out what is appended) and anything not in Datasette's own shapes run unchanged.
"""
from __future__ import annotations

import contextvars
import re
import urllib.parse
from collections import defaultdict

from datasette.database import Results
from datasette.utils import escape_sqlite

from archive import search

# per request: the query string's arguments and the grouped figures computed so far (None: not serving one)
_request: contextvars.ContextVar[dict | None] = contextvars.ContextVar("zwgk_search_request", default=None)

MATCHES = "zwgk_matches"
MATCH_ROWID = "zwgk_match_rowid"
PRIMARY_KEY = "id"  # of every table in SEARCH_INDEXES (archive.db)

# Datasette 0.65's count statement (views/table.py: f"select count(*) {from_sql}") and column facet statement
# (facets.py ColumnFacet.facet_results)
_COUNT_RE = re.compile(r"select count\(\*\) (from \S+ where .*) ", re.S)
_FACET_RE = re.compile(r"\s*select (?P<col>\S+) as value, count\(\*\) as count from \(\s*(?P<sql>select .*?)\s*\)"
                       r"\s*where (?P=col) is not null\s*group by (?P=col) order by count desc, value "
                       r"limit (?P<limit>\d+)\s*", re.S)
# the rows statement's sort when it is by the primary key (with the key again as tie-breaker after ?_next=)
_PK_ORDER_RE = re.compile(rf" order by {PRIMARY_KEY}(?P<desc> desc)?(?:, {PRIMARY_KEY})?"
                          r"(?P<tail> limit \d+(?: offset \d+)?)\Z")


def begin_request(query_string: bytes | str) -> contextvars.Token:
    """Start serving a request (call from an ASGI wrapper; pass the token to :func:`end_request`)."""
    if isinstance(query_string, bytes):
        query_string = query_string.decode("latin-1")
    args = urllib.parse.parse_qs(query_string, keep_blank_values=True)
    return _request.set({"args": args, "figures": {}})


def end_request(token: contextvars.Token) -> None:
    _request.reset(token)


def install(database) -> None:
    """Route `database`'s statements through :func:`_answer` (once; a Datasette ``Database``)."""
    if getattr(database, "_zwgk_search_original", None) is not None:
        return
    original = database.execute
    database._zwgk_search_original = original

    async def execute(sql, params=None, truncate=False, custom_time_limit=None, page_size=None,
                      log_sql_errors=True):
        state = _request.get()
        if state is not None and "_where" not in state["args"] and (params is None or isinstance(params, dict)):
            answer = await _answer(database, original, state, sql, dict(params or {}),
                                   truncate=truncate, custom_time_limit=custom_time_limit, page_size=page_size,
                                   log_sql_errors=log_sql_errors)
            if answer is not None:
                return answer
        return await original(sql, params, truncate=truncate, custom_time_limit=custom_time_limit,
                              page_size=page_size, log_sql_errors=log_sql_errors)

    database.execute = execute


def _searched_table(sql: str) -> tuple[str, str, str, tuple[str, ...]] | None:
    """(table, the ``from T where`` marker, the search condition, the index columns) when `sql` is a
    statement over a table with a search index and holds Datasette's ``?_search=`` condition once."""
    fts_of = {base: fts for fts, base in search.FTS_TABLES.items()}
    for table, columns in search.SEARCH_INDEXES.values():
        fts = fts_of.get(table)
        if fts is None:
            continue
        marker = f" from {escape_sqlite(table)} where "
        if sql.count(marker) != 1:
            continue
        for match in ("escape_fts(:search)", ":search"):  # Datasette's escaped and raw (?_searchmode=raw) modes
            condition = f"rowid in (select rowid from {escape_sqlite(fts)} where {escape_sqlite(fts)} match {match})"
            if sql.count(condition) == 1 and sql.index(condition) > sql.index(marker):
                return table, marker, condition, columns
    return None


def join_form(sql: str) -> str | None:
    """`sql` with Datasette's search condition turned into a join driven by the MATCH (None: not one of its
    search statements). Same rows: each row of the table whose rowid the MATCH returns, once."""
    found = _searched_table(sql)
    if found is None:
        return None
    table, marker, condition, _ = found
    fts = next(f for f, base in search.FTS_TABLES.items() if base == table)
    match = condition[condition.index(" match ") + 7:-1]
    source = (f" from (select rowid as {MATCH_ROWID} from {escape_sqlite(fts)} where {escape_sqlite(fts)} "
              f"match {match}) as {MATCHES} join {escape_sqlite(table)} on {escape_sqlite(table)}.rowid = "
              f"{MATCHES}.{MATCH_ROWID} where ")
    return sql.replace(marker, source, 1).replace(condition, "1", 1)


def _faceted_columns(database, state: dict, table: str, columns: tuple[str, ...]) -> list[str]:
    """The index columns this page facets on: the table's configured column facets and ``?_facet=``."""
    args = state["args"]
    if args.get("_nofacet", [""])[0] or args.get("_shape", [""])[0] in ("array", "object"):
        return []
    wanted = [f for f in database.ds.table_metadata(database.name, table).get("facets") or [] if isinstance(f, str)]
    wanted += args.get("_facet", [])
    return [c for c in dict.fromkeys(wanted) if c in columns and c != PRIMARY_KEY]


async def _answer(database, original, state: dict, sql: str, params: dict, **options) -> Results | None:
    """The answer to one of Datasette's search statements, or None to run `sql` as written."""
    facet = _FACET_RE.fullmatch(sql)
    if facet is not None:
        figures = _facet_figures(database, state, facet, params)
        if figures is not None:
            return figures
    joined = join_form(sql)
    if joined is None:
        return None
    count = _COUNT_RE.fullmatch(sql)
    if count is not None:
        grouped = await _grouped_count(database, original, state, sql, count.group(1), joined, params)
        if grouped is not None:
            return grouped
    elif facet is None and options.get("truncate"):  # the rows statement: sorted by the key → FTS5's order
        joined = _PK_ORDER_RE.sub(lambda m: f" order by {MATCHES}.{MATCH_ROWID}{m['desc'] or ''}{m['tail']}",
                                  joined)
    return await original(joined, params, **options)


async def _grouped_count(database, original, state: dict, sql: str, from_sql: str, joined: str,
                         params: dict) -> Results | None:
    """Run the count as one grouped statement and keep its figures for the facet statements (None: the
    page facets on no column of the index, so the count runs alone)."""
    table, _, _, columns = _searched_table(sql)
    grouped = _faceted_columns(database, state, table, columns)
    if not grouped:
        return None
    names = ", ".join(escape_sqlite(c) for c in grouped)
    result = await original(f"select {names}, {joined[len('select '):]}\ngroup by {names}", params)
    total = 0
    by_column: dict[str, dict] = {c: defaultdict(int) for c in grouped}
    for row in result.rows:
        n = row[-1]
        total += n
        for i, column in enumerate(grouped):
            if row[i] is not None:
                by_column[column][row[i]] += n
    state["figures"][(database.name, from_sql.rstrip(), tuple(sorted(params.items())))] = by_column
    return Results([(total,)], False, (("count(*)",) + (None,) * 6,))


def _facet_figures(database, state: dict, facet: re.Match, params: dict) -> Results | None:
    """A column facet's rows from the grouped pass over the same rows and parameters, or None."""
    inner = facet.group("sql")
    for (name, from_sql, key_params), by_column in state["figures"].items():
        if name != database.name or dict(key_params) != params or not inner.endswith(" " + from_sql):
            continue
        selected = inner[len("select "): len(inner) - len(from_sql) - 1]  # Datasette's list of every column
        if not re.fullmatch(r"(?:\w+|\[[^\]]*\]|\"(?:[^\"]|\"\")*\")(?:, (?:\w+|\[[^\]]*\]|\"(?:[^\"]|\"\")*\"))*",
                            selected):
            continue
        column = next((c for c in by_column if escape_sqlite(c) == facet.group("col")), None)
        if column is None:
            return None
        ordered = sorted(by_column[column].items(), key=lambda item: (-item[1], sqlite_order(item[0])))
        rows = [_FacetRow(item) for item in ordered[: int(facet.group("limit"))]]
        return Results(rows, False, (("value",) + (None,) * 6, ("count",) + (None,) * 6))
    return None


def sqlite_order(value) -> tuple:
    """SQLite's ascending order of non-null values: numbers, then text, then blobs."""
    if isinstance(value, int | float):
        return (0, value)
    if isinstance(value, str):
        return (1, value.encode("utf-8"))
    return (2, bytes(value))


class _FacetRow(tuple):
    """A (value, count) row that also answers row["value"] and row["count"], as sqlite3.Row does."""

    _KEYS = ("value", "count")

    def __getitem__(self, key):
        return tuple.__getitem__(self, self._KEYS.index(key) if isinstance(key, str) else key)

    def keys(self) -> list[str]:
        return list(self._KEYS)
