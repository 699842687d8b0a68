"""Compare fast feed parsers with feedparser, on our terms: what ``feeds.upstream.parse`` makes.

    python bench/parser_eval.py CORPUS_DIR [--out bench/results/parser-evaluation.md]

CORPUS_DIR is feedparser's own test corpus (the ``tests/`` folder of its sdist:
``pip download --no-binary :all: --no-deps feedparser`` and unpack). Each file
is parsed by feedparser (through ``feeds.upstream.parse.parse_feed``, the
reference: what the golden and corpus tests expect) and by each candidate,
whose output is mapped to the same ``UpstreamFeed`` by a small adapter. A file
counts as *parsed* when the parser returns entries or a recognized format
without raising, and as *same* on a field when every entry agrees on it with
feedparser's (entry count first). Then the project's fixtures
(tests/data/upstream), the hostile cases and timings on the bench feeds.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from feeds.errors import ParseError  # noqa: E402
from feeds.model import UpstreamFeed  # noqa: E402
from feeds.upstream import parse as ours  # noqa: E402
from feeds.upstream.fastparse import parse_fast  # noqa: E402
from feeds.upstream.jsonfeed import looks_like_json  # noqa: E402

FIELDS = ("entries", "ids", "links", "titles", "dates", "authors", "content", "everything")
Parser = Callable[[bytes, str], UpstreamFeed]


def plain(value: Any) -> Any:
    """feedparser-rs objects → dicts and lists (what feeds.upstream.parse reads)."""
    if isinstance(value, str | int | float | bool | bytes) or value is None:
        return value
    if isinstance(value, list | tuple) and not hasattr(value, "tm_year"):
        return [plain(v) for v in value]
    if hasattr(value, "tm_year"):
        return value
    if hasattr(value, "keys"):
        return {k: plain(value[k]) for k in value.keys()}  # noqa: SIM118
    if hasattr(value, "value") and hasattr(value, "type"):  # TextConstruct, Content
        return {a: getattr(value, a, None) for a in ("type", "value", "base", "language")}
    fields = [a for a in dir(value) if not a.startswith("_") and not callable(getattr(value, a))]
    return {a: plain(getattr(value, a)) for a in fields}


class _Result(dict[str, Any]):
    """feedparser's result shape (attribute access to feed/entries) over plain dicts."""

    def __getattr__(self, name: str) -> Any:
        return self[name]


def parse_feedparser_rs(body: bytes, url: str) -> UpstreamFeed:
    import feedparser_rs

    raw = feedparser_rs.parse(body, sanitize_html=False, resolve_relative_uris=False)
    version = raw.version or ""
    entries = [_Result(plain(e)) for e in raw.entries]
    if not version and not entries:
        raise ParseError(url, "not a feed")
    result = _Result(feed=_Result(plain(raw.feed)), entries=entries)
    return ours._from_feedparser(result, url, version or "unknown")


def _iso(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def parse_fastfeedparser(body: bytes, url: str) -> UpstreamFeed:
    import fastfeedparser

    try:
        raw = fastfeedparser.parse(body)
    except ValueError as exc:
        raise ParseError(url, str(exc)[:200]) from None
    feed = raw.get("feed") or {}
    entries = []
    for item in raw.get("entries") or []:
        contents = item.get("content") or []
        entry = {
            "id": item.get("id"),
            "link": item.get("link"),
            "title": item.get("title"),
            "title_detail": item.get("title_detail") or {"type": "text/html"},
            "summary": item.get("description"),
            "summary_detail": {"type": "text/html"},
            "content": contents,
            "authors": item.get("authors") or [],
            "author": item.get("author"),
            "tags": item.get("tags") or [],
        }
        for key in ("published", "updated"):
            moment = _iso(item.get(key))
            entry[f"{key}_parsed"] = moment.timetuple() if moment else None
        entries.append(_Result(entry))
    plain_feed = _Result(
        title=feed.get("title"),
        title_detail=feed.get("title_detail") or {},
        link=feed.get("link"),
        id=feed.get("id"),
        authors=feed.get("authors") or [],
    )
    version = "atom10" if b"http://www.w3.org/2005/Atom" in body[:4096] else "rss20"
    return ours._from_feedparser(_Result(feed=plain_feed, entries=entries), url, version)


def parse_reference(body: bytes, url: str) -> UpstreamFeed:
    if looks_like_json(body, None):
        return ours.parse_feed(body, url)
    return ours.parse_feedparser(body, url, None)


def parse_adopted(body: bytes, url: str) -> UpstreamFeed:
    return ours.parse_feed(body, url)


def _norm(text: str | None) -> str:
    return " ".join((text or "").split())


def field_values(feed: UpstreamFeed, field: str) -> Any:
    es = feed.entries
    if field == "entries":
        return len(es)
    if field == "ids":
        return [e.id for e in es]
    if field == "links":
        return [e.link for e in es]
    if field == "titles":
        return [e.title for e in es]
    if field == "dates":
        return [(e.published, e.updated) for e in es]
    if field == "authors":
        return [[a.name for a in e.authors] for e in es]
    if field == "content":
        return [(_norm(e.content_html), _norm(e.summary_html)) for e in es]
    return feed  # everything: the whole UpstreamFeed, feed fields and categories too


def compare(files: list[Path], parsers: dict[str, Parser]) -> dict[str, dict[str, int]]:
    """{parser: {"files", "parsed", "refused", field…: files agreeing with the reference}}."""
    table: dict[str, dict[str, int]] = {
        n: dict.fromkeys(("parsed", "crashed", *FIELDS), 0) for n in parsers
    }
    for path in files:
        body = path.read_bytes()
        url = "http://example.org/" + path.name
        try:
            ref: UpstreamFeed | None = parse_reference(body, url)
        except Exception:
            ref = None
        for name, parse in parsers.items():
            try:
                got: UpstreamFeed | None = parse(body, url)
            except ParseError:
                got = None
            except Exception:
                got = None
                table[name]["crashed"] += 1
            if got is not None:
                table[name]["parsed"] += 1
            for field in FIELDS:
                if (got is None and ref is None) or (
                    got is not None
                    and ref is not None
                    and field_values(got, field) == field_values(ref, field)
                ):
                    table[name][field] += 1
    return table


def timing(body: bytes, parse: Parser, rounds: int = 30) -> tuple[float, float]:
    """(median ms, peak MiB of Python allocations) of one parse of ``body``."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        parse(body, "http://example.org/feed")
        times.append((time.perf_counter() - start) * 1000)
    tracemalloc.start()
    parse(body, "http://example.org/feed")
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return statistics.median(times), peak


def bench_bodies() -> dict[str, bytes]:
    sys.path.insert(0, str(ROOT / "bench"))
    import tempfile

    import poll as bench_poll

    out = {}
    for label, kwargs in (
        ("bench farm feed (20 items)", {}),
        ("~1 kB HTML per item (20)", {"html_kb": 1}),
    ):
        with tempfile.TemporaryDirectory() as tmp:
            www = Path(tmp) / "www"
            bench_poll.write_feeds(www, 1, 20, **kwargs)
            out[label] = (www / "feed0.xml").read_bytes()
    return out


def hostile_cases() -> dict[str, bytes]:
    lol = (
        b'<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
        + b"".join(
            b'<!ENTITY a%d "&a%s;&a%s;&a%s;&a%s;&a%s;&a%s;&a%s;&a%s;&a%s;&a%s;">'
            % ((i,) + (b"" if i == 1 else str(i - 1).encode(),) * 10)
            for i in range(1, 9)
        )
        + b']><rss version="2.0"><channel><title>&a8;</title></channel></rss>'
    )
    item = b"<item><title>t</title><guid>g%d</guid><description>d</description></item>"
    rss = b'<?xml version="1.0" encoding="%s"?><rss version="2.0"><channel><title>T</title>%s</channel></rss>'
    cases = {
        "billion laughs (internal entities)": lol,
        "external entity (file:///etc/passwd)": b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><rss version="2.0"><channel><title>&x;</title><item><title>&x;</title></item></channel></rss>',
        "huge: 20,000 items": rss % (b"utf-8", b"".join(item % i for i in range(20000))),
        "deep: 100,000 nested elements": b'<rss version="2.0"><channel><title>T</title><item><title>x</title>'
        + b"<a>" * 100000
        + b"</a>" * 100000
        + b"</item></channel></rss>",
        "body is a URL string": b"http://127.0.0.1:9/feed",
    }
    for encoding in (
        "utf-8",
        "utf-16",
        "utf-16-le",
        "utf-32",
        "iso-8859-1",
        "windows-1252",
        "koi8-r",
        "shift_jis",
        "gb18030",
        "big5",
    ):
        text = (
            '<?xml version="1.0" encoding="%s"?><rss version="2.0"><channel><title>T</title>'
            "<item><guid>1</guid><title>%s</title></item></channel></rss>"
        )
        title = {"koi8-r": "Привет", "shift_jis": "日本語", "gb18030": "中文", "big5": "中文"}.get(
            encoding, "café ÿ"
        )
        with contextlib.suppress(UnicodeEncodeError, LookupError):
            cases[f"encoding {encoding}"] = (text % (encoding.replace("-le", ""), title)).encode(
                encoding
            )
    return cases


def run_hostile(parsers: dict[str, Parser]) -> list[str]:
    rows = ["| case | " + " | ".join(parsers) + " |", "|---" * (len(parsers) + 1) + "|"]
    for label, body in hostile_cases().items():
        cells = []
        for parse in parsers.values():
            start = time.perf_counter()
            try:
                feed = parse(body, "http://example.org/feed")
                title = (feed.entries[0].title if feed.entries else feed.title) or ""
                cell = f"{len(feed.entries)} entries, title {title[:12]!r}"
            except ParseError as exc:
                cell = f"refused ({exc.problem[:40]})"
            except Exception as exc:  # what a candidate must not do
                cell = f"**{type(exc).__name__}**"
            cells.append(f"{cell}, {1000 * (time.perf_counter() - start):.0f} ms")
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/parser-evaluation.md")
    args = ap.parse_args()
    parsers: dict[str, Parser] = {
        "feedparser-rs 0.7": parse_feedparser_rs,
        "fastfeedparser 0.6": parse_fastfeedparser,
    }
    parsers["adopted: parse_feed (gate + feedparser-rs, else feedparser)"] = parse_adopted
    corpus = sorted(
        p
        for p in args.corpus.rglob("*")
        if p.is_file() and p.suffix in (".xml", ".rdf", ".atom", ".rss")
    )
    fixtures = sorted(
        p
        for p in (ROOT / "tests/data/upstream").glob("*")
        if p.suffix in (".xml", ".json", ".txt", ".html")
    )
    lines = [
        "# Parser evaluation",
        "",
        f"`python bench/parser_eval.py {args.corpus}` — generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
        "",
    ]
    lines += [
        "Reference: feedparser through `feeds.upstream.parse` (sanitize and URI resolving off).",
        "A file is *same* on a field when every entry agrees with the reference after our",
        "mapping (both refusing also counts as same).",
        "",
    ]
    for title, files in (
        (f"feedparser's corpus ({len(corpus)} files)", corpus),
        (f"project fixtures ({len(fixtures)} files)", fixtures),
    ):
        table = compare(files, parsers)
        taken = sum(parse_fast(p.read_bytes(), None) is not None for p in files)
        lines += [
            f"## {title}",
            "",
            "| parser | parsed | crashed | " + " | ".join(FIELDS) + " |",
            "|---" * (len(FIELDS) + 3) + "|",
        ]
        for name, counts in table.items():
            lines.append(
                f"| {name} | {counts['parsed']} | {counts['crashed']} | "
                + " | ".join(str(counts[f]) for f in FIELDS)
                + " |"
            )
        lines += [
            "",
            f"The adopted parser's fast path took {taken} of these files; feedparser the rest.",
            "",
        ]
    lines += ["## Hostile cases", "", *run_hostile({"feedparser": parse_reference, **parsers}), ""]
    lines += [
        "## Speed (median of 30 parses; peak Python allocations)",
        "",
        "| feed | " + " | ".join(["feedparser", *parsers]) + " |",
        "|---" * (len(parsers) + 2) + "|",
    ]
    for label, body in bench_bodies().items():
        cells = []
        for parse in (parse_reference, *parsers.values()):
            ms, peak = timing(body, parse)
            cells.append(f"{ms:.2f} ms, {peak:.1f} MiB")
        lines.append(f"| {label}, {len(body) // 1024} kB | " + " | ".join(cells) + " |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
