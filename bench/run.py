"""`make bench`: load datasets, run serve and scale, write a Markdown report.

Environment (all optional):
  BENCH_SIZES     dataset sizes for the scale table   (default 10000,100000)
  BENCH_PG        PostgreSQL server URL, "" to skip    (default postgresql+psycopg://postgres@127.0.0.1:5432)
  BENCH_DURATION  seconds per wrk run                  (default 8)
  BENCH_SERVERS   comma-separated names from bench/serve.py SERVERS (default all)
  BENCH_DATA      where SQLite datasets live           (default bench/data)
  BENCH_KEEP      1 keeps the PostgreSQL bench databases afterwards

Serving is measured on the smallest size (the issue's reference is 10,000
articles) on every backend; the scale table covers every size.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench import dataset, report, scale, serve

HERE = Path(__file__).resolve().parent


def _label(n: int) -> str:
    return f"{n // 1_000_000}m" if n >= 1_000_000 and n % 1_000_000 == 0 else f"{n // 1000}k"


def main() -> None:
    sizes = [int(s) for s in os.environ.get("BENCH_SIZES", "10000,100000").split(",") if s]
    pg = os.environ.get("BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
    duration = int(os.environ.get("BENCH_DURATION", "8"))
    # bjoern needs libev-dev to build, so it is measured only where it is installed.
    available = [s for s in serve.SERVERS if s != "bjoern" or importlib.util.find_spec("bjoern")]
    servers = [s for s in os.environ.get("BENCH_SERVERS", ",".join(available)).split(",") if s]
    data_dir = Path(os.environ.get("BENCH_DATA", HERE / "data"))
    urls: dict[str, dict[int, str]] = {"sqlite": {}, "postgresql": {}}
    for n in sizes:
        urls["sqlite"][n] = f"sqlite:///{data_dir / (_label(n) + '.db')}"
        if pg:
            urls["postgresql"][n] = f"{pg.rstrip('/')}/feedserver_bench_{_label(n)}"
    for backend in urls.values():
        for n, url in backend.items():
            seconds = dataset.load(url, n)
            print(f"dataset {url}: {n} articles ({seconds:.0f} s to load)", flush=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    serving = []
    for by_size in urls.values():
        if by_size:
            url = by_size[min(by_size)]
            print(f"serve: {url}", flush=True)
            serving.append(serve.run(url, servers, os.cpu_count() or 2, duration))
    print("scale", flush=True)
    scaling = [scale.measure(url) for backend in urls.values() for url in backend.values()]
    raw = out / f"{stamp}.json"
    raw.write_text(json.dumps({"serve": serving, "scale": scaling}, indent=2))
    md = out / f"{stamp}.md"
    md.write_text(report.markdown(serving, scaling))
    print(f"wrote {md}")
    if pg and os.environ.get("BENCH_KEEP") != "1":
        for url in urls["postgresql"].values():
            dataset.drop_postgres_database(url)


if __name__ == "__main__":
    sys.exit(main())
