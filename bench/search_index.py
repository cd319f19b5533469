"""Full-text index layouts for IMAP SEARCH BODY/TEXT, measured side by side on the same messages.

    .venv/bin/python bench/search_index.py [--messages 20000,100000] [--batch 256] [--dir /tmp]

Generates ``--messages`` messages (``store_open.make_message``: 300 B - 4 KB, one in 10,000 holds a
rare word), parses them once with ``pochta.mime`` (not timed), and for each layout builds the index in
a fresh SQLite file (WAL, ``synchronous=FULL``, one transaction per ``--batch`` messages, as the
background indexer does), then prints:

- build: messages indexed per second (parse excluded, text compression included where the layout
  stores compressed text);
- size: the database file (after a checkpoint) divided by the message bytes;
- rare / common: median of 5 of a case-insensitive substring query for a word in 2 messages
  ("quetzalcoatlus") and one in most ("meeting"), *exact* (candidates the index returns are verified
  against the text when the layout gives a superset), as message ids.

Layouts (``LAYOUTS``):
- ``fts-content``: what pochta had up to revision 0006, FTS5 trigram over (body, headers) keeping
  its own copy of the text;
- ``fts-contentless``: FTS5 trigram ``content=''`` (detail=full: a phrase of trigrams is exact) plus
  the text stored once, zlib-compressed, in a plain table (needed to delete rows from a contentless
  table on SQLite < 3.43, and to search messages not yet indexed);
- ``fts-contentless-none``: the same with ``detail=none``: the index gives messages holding every
  trigram of the string (a superset), verified against the decompressed text;
- ``tantivy``: tantivy (PyPI ``tantivy``) with a 3-gram tokenizer, lower-cased, every trigram must
  be present (a superset), verified against compressed text kept in SQLite as above; its files are
  counted in the size. Skipped if the package is not installed.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
import statistics
import tempfile
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from pochta.config import Settings
from pochta.mime import parse_message

try:  # the bench runs from the checkout: bench/ is not a package
    from store_open import RARE, make_message
except ImportError:  # pragma: no cover
    from bench.store_open import RARE, make_message

COMMON = "meeting"
Doc = tuple[int, str, str]  # message id, body text, header text


def _db(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    return conn


def _size(path: Path, conn: sqlite3.Connection) -> int:
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return sum(f.stat().st_size for f in path.parent.iterdir() if f.is_file())


def _phrase(query: str) -> str:
    return '"' + query.replace('"', '""') + '"'


def _batches(docs: Sequence[Doc], size: int) -> Iterable[Sequence[Doc]]:
    for start in range(0, len(docs), size):
        yield docs[start : start + size]


def _texts(docs: Sequence[Doc]) -> list[tuple[int, bytes, bytes]]:
    return [(i, zlib.compress(b.encode(), 1), zlib.compress(h.encode(), 1)) for i, b, h in docs]


def _verify(conn: sqlite3.Connection, ids: Iterable[int], needle: str) -> set[int]:
    found = set()
    id_list = sorted(ids)
    for start in range(0, len(id_list), 500):
        chunk = id_list[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for mid, body, headers in conn.execute(
            f"SELECT id, body, headers FROM texts WHERE id IN ({marks})", chunk
        ):
            text = zlib.decompress(headers).decode() + "\n" + zlib.decompress(body).decode()
            if needle in text.lower():
                found.add(mid)
    return found


class Layout:
    name = ""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "index.db"
        self.conn = _db(self.path)

    def add(self, docs: Sequence[Doc]) -> None:
        raise NotImplementedError

    def query(self, needle: str) -> set[int]:
        raise NotImplementedError

    def size(self) -> int:
        return _size(self.path, self.conn)

    def close(self) -> None:
        self.conn.close()


class FtsContent(Layout):
    name = "fts-content"

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.conn.execute("CREATE VIRTUAL TABLE t USING fts5(body, headers, tokenize='trigram')")

    def add(self, docs: Sequence[Doc]) -> None:
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.executemany("INSERT INTO t (rowid, body, headers) VALUES (?, ?, ?)", docs)

    def query(self, needle: str) -> set[int]:
        return {r[0] for r in self.conn.execute("SELECT rowid FROM t WHERE t MATCH ?", (_phrase(needle),))}


class FtsContentless(Layout):
    name = "fts-contentless"
    detail = "full"

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.conn.execute("CREATE TABLE texts (id INTEGER PRIMARY KEY, body BLOB, headers BLOB)")
        self.conn.execute(
            "CREATE VIRTUAL TABLE t USING fts5(body, headers, tokenize='trigram', content='', "
            f"columnsize=0, detail={self.detail})"
        )

    def add(self, docs: Sequence[Doc]) -> None:
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.executemany("INSERT INTO texts (id, body, headers) VALUES (?, ?, ?)", _texts(docs))
            self.conn.executemany("INSERT INTO t (rowid, body, headers) VALUES (?, ?, ?)", docs)

    def candidates(self, needle: str) -> set[int]:
        if self.detail == "full":
            match = _phrase(needle)
        else:  # every trigram of the string, anywhere in the message (detail=none has no positions)
            match = " AND ".join(_phrase(needle[i : i + 3]) for i in range(len(needle) - 2))
        return {r[0] for r in self.conn.execute("SELECT rowid FROM t WHERE t MATCH ?", (match,))}

    def query(self, needle: str) -> set[int]:
        found = self.candidates(needle)
        return found if self.detail == "full" else _verify(self.conn, found, needle)


class FtsContentlessNone(FtsContentless):
    name = "fts-contentless-none"
    detail = "none"


class Tantivy(Layout):
    name = "tantivy"

    def __init__(self, directory: Path) -> None:
        import tantivy

        super().__init__(directory)
        self.tantivy = tantivy
        self.conn.execute("CREATE TABLE texts (id INTEGER PRIMARY KEY, body BLOB, headers BLOB)")
        self.index_dir = directory / "tantivy"
        self.index_dir.mkdir()
        builder = tantivy.SchemaBuilder()
        builder.add_integer_field("id", stored=True, indexed=True, fast=True)
        builder.add_text_field("text", stored=False, tokenizer_name="tri", index_option="basic")
        self.schema = builder.build()
        self.index = tantivy.Index(self.schema, path=str(self.index_dir))
        analyzer = (
            tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.ngram(3, 3, False))
            .filter(tantivy.Filter.lowercase())
            .build()
        )
        self.index.register_tokenizer("tri", analyzer)
        self.writer = self.index.writer(heap_size=50_000_000, num_threads=1)

    def add(self, docs: Sequence[Doc]) -> None:
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.executemany("INSERT INTO texts (id, body, headers) VALUES (?, ?, ?)", _texts(docs))
        for mid, body, headers in docs:
            self.writer.add_document(self.tantivy.Document(id=mid, text=headers + "\n" + body))
        self.writer.commit()

    def query(self, needle: str) -> set[int]:
        t = self.tantivy
        self.index.reload()
        searcher = self.index.searcher()
        grams = {needle[i : i + 3] for i in range(len(needle) - 2)}
        query = t.Query.boolean_query(
            [(t.Occur.Must, t.Query.term_query(self.schema, "text", g)) for g in sorted(grams)]
        )
        hits = searcher.search(query, limit=max(1, searcher.num_docs)).hits
        ids = {int(searcher.doc(address)["id"][0]) for _, address in hits}
        return _verify(self.conn, ids, needle)

    def size(self) -> int:
        self.writer.wait_merging_threads()
        return super().size() + sum(f.stat().st_size for f in self.index_dir.rglob("*") if f.is_file())


class FtsNoneFolded(Layout):
    """detail=none over the folded text, kept once uncompressed; candidates verified in SQL (instr)."""

    name = "fts-none-folded"

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.conn.execute("CREATE TABLE texts (id INTEGER PRIMARY KEY, body TEXT, headers TEXT)")
        self.conn.execute(
            "CREATE VIRTUAL TABLE t USING fts5(body, headers, tokenize='trigram', content='', "
            "columnsize=0, detail=none)"
        )

    def add(self, docs: Sequence[Doc]) -> None:
        folded = [(i, b.lower(), h.lower()) for i, b, h in docs]
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.executemany("INSERT INTO texts (id, body, headers) VALUES (?, ?, ?)", folded)
            self.conn.executemany("INSERT INTO t (rowid, body, headers) VALUES (?, ?, ?)", folded)

    def query(self, needle: str) -> set[int]:
        match = " AND ".join(_phrase(needle[i : i + 3]) for i in range(len(needle) - 2))
        sql = (
            "SELECT id FROM texts WHERE id IN (SELECT rowid FROM t WHERE t MATCH ?1) "
            "AND (instr(headers, ?2) OR instr(body, ?2))"
        )
        return {r[0] for r in self.conn.execute(sql, (match, needle))}


class FtsNoneZlib(Layout):
    """detail=none over the folded text, kept once zlib-compressed; candidates verified in Python."""

    name = "fts-none-zlib-folded"

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.conn.execute("CREATE TABLE texts (id INTEGER PRIMARY KEY, text BLOB)")
        self.conn.execute(
            "CREATE VIRTUAL TABLE t USING fts5(body, headers, tokenize='trigram', content='', "
            "columnsize=0, detail=none)"
        )

    def add(self, docs: Sequence[Doc]) -> None:
        folded = [(i, b.lower(), h.lower()) for i, b, h in docs]
        rows = [(i, zlib.compress((h + "\n" + b).encode(), 1)) for i, b, h in folded]
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.executemany("INSERT INTO texts (id, text) VALUES (?, ?)", rows)
            self.conn.executemany("INSERT INTO t (rowid, body, headers) VALUES (?, ?, ?)", folded)

    def query(self, needle: str) -> set[int]:
        match = " AND ".join(_phrase(needle[i : i + 3]) for i in range(len(needle) - 2))
        sql = "SELECT id, text FROM texts WHERE id IN (SELECT rowid FROM t WHERE t MATCH ?1)"
        key = needle.encode()
        return {mid for mid, text in self.conn.execute(sql, (match,)) if key in zlib.decompress(text)}


LAYOUTS: list[type[Layout]] = [
    FtsContent,
    FtsContentless,
    FtsContentlessNone,
    FtsNoneFolded,
    FtsNoneZlib,
    Tantivy,
]


def median_time(fn: Callable[[], Any], repeat: int = 5) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def run(count: int, batch: int, parent: str | None, layouts: list[str]) -> None:
    rnd = random.Random(1)
    settings = Settings()
    raw = [make_message(n, rnd) for n in range(count)]
    total = sum(map(len, raw))
    docs: list[Doc] = []
    for n, data in enumerate(raw, start=1):
        parsed = parse_message(data, settings.mime)
        docs.append((n, parsed.body_text, parsed.header_text))
    expected_rare = {i for i, b, h in docs if RARE in (h + "\n" + b).lower()}
    expected_common = {i for i, b, h in docs if COMMON in (h + "\n" + b).lower()}
    print(f"\n{count} messages, {total / 2**20:.1f} MB; '{RARE}' in {len(expected_rare)}, "
          f"'{COMMON}' in {len(expected_common)}")  # fmt: skip
    print(f"  {'layout':<22} {'build msg/s':>12} {'size/msgs':>10} {'rare ms':>9} {'common ms':>10}")
    for kind in LAYOUTS:
        if kind.name not in layouts:
            continue
        directory = Path(tempfile.mkdtemp(prefix="pochta-bench-index-", dir=parent))
        try:
            try:
                layout = kind(directory)
            except ImportError:
                print(f"  {kind.name:<22} skipped (not installed)")
                continue
            t0 = time.perf_counter()
            for chunk in _batches(docs, batch):
                layout.add(chunk)
            build = time.perf_counter() - t0
            size = layout.size()
            rare_t, rare = median_time(lambda x=layout: x.query(RARE))
            common_t, common = median_time(lambda x=layout: x.query(COMMON))
            assert rare == expected_rare, (kind.name, len(rare))
            assert common == expected_common, (kind.name, len(common))
            print(
                f"  {kind.name:<22} {count / build:>12.0f} {size / total:>10.2f} "
                f"{rare_t * 1000:>9.1f} {common_t * 1000:>10.1f}",
                flush=True,
            )
            layout.close()
        finally:
            shutil.rmtree(directory, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", default="20000,100000", help="comma-separated message counts")
    parser.add_argument("--batch", type=int, default=256, help="messages per transaction")
    parser.add_argument("--dir", default=None, help="parent of the temporary directories")
    parser.add_argument("--layouts", default=",".join(k.name for k in LAYOUTS))
    args = parser.parse_args()
    for count in (int(c) for c in args.messages.split(",")):
        run(count, args.batch, args.dir, args.layouts.split(","))


if __name__ == "__main__":
    main()
