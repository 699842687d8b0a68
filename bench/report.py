"""Turn serve and scale results (JSON) into a short Markdown report.

python -m bench.report serve-sqlite.json serve-pg.json --scale scale.json
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path
from typing import Any

WORDPRESS_RPS = 38  # 10-item category feed, 10k articles (the reference)
DJANGO_RPS, DJANGO_304_RPS = 350, 670


def _serve_table(run: dict[str, Any]) -> list[str]:
    nginx = run["nginx"]
    lines = [
        f"### Serving — `{run['url'].split('@')[-1]}`, {run['workers']} workers, "
        f"wrk -t2 -c32 -d{run['duration']}s, {run['cpus']} CPUs",
        "",
        "| server | request | req/s | p50 ms | p99 ms | bytes/resp | vs nginx "
        "| CPU µs/request (nginx's) | errors |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, load in nginx.items():
        lines.append(
            f"| **nginx static** | {label} | {load['rps']:,.0f} | {load['p50_ms']:.2f} | "
            f"{load['p99_ms']:.2f} | {load['bytes_per_response']:,.0f} | 1.00 | — | "
            f"{load['errors']} |"
        )
    for server in run["servers"]:
        for label, load in server["loads"].items():
            paired = server.get("ratios", {}).get(label)  # against nginx run just before
            ref = nginx.get(label)
            ratio = paired if paired is not None else (load["rps"] / ref["rps"] if ref else None)
            cpu = server.get("cpu_us", {}).get(label)
            cpu_text = f"{cpu:.1f} ({server['nginx_cpu_us'][label]:.1f})" if cpu else "—"
            lines.append(
                f"| {server['name']} | {label} | {load['rps']:,.0f} | {load['p50_ms']:.2f} | "
                f"{load['p99_ms']:.2f} | {load['bytes_per_response']:,.0f} | "
                f"{'—' if ratio is None else f'{ratio:.2f}'} | {cpu_text} | {load['errors']} |"
            )
    lines += ["", "| server | cold render after publish, median / max ms "
              "| publish → fresh answer, median / max ms | worker RSS MB |",
              "| --- | ---: | ---: | --- |"]  # fmt: skip
    for server in run["servers"]:
        cold = server["cold_ms"]
        if not cold:
            continue
        rss = ", ".join(f"{m:.0f}" for m in server["worker_rss_mb"])
        lag = (
            f"{cold['publish_to_fresh_median']:.1f} / {cold['publish_to_fresh_max']:.1f}"
            if "publish_to_fresh_median" in cold
            else "—"
        )
        lines.append(
            f"| {server['name']} | {cold['median']:.1f} / {cold['max']:.1f} | {lag} | {rss} |"
        )
    ours = [s for s in run["servers"] if s["cold_ms"]] or run["servers"]  # not "granian bare"
    best = max(ours, key=lambda s: s["loads"]["section RSS"]["rps"])
    hit, not_mod = best["loads"]["section RSS"], best["loads"]["304 (If-None-Match)"]

    def ratio(label: str) -> float:
        paired = best.get("ratios", {}).get(label)
        return (
            float(paired)
            if paired is not None
            else best["loads"][label]["rps"] / nginx[label]["rps"]
        )

    lines += [
        "",
        f"With **{best['name']}**: cached hit {ratio('section RSS'):.2f} of nginx (issue 16: ≥ 0.75), "
        f"304 {ratio('304 (If-None-Match)'):.2f} (≥ 0.50), "
        f"gzip hit {ratio('section RSS, gzip'):.2f} (≥ 0.50), p99 of a hit {hit['p99_ms']:.1f} ms "
        f"(< 5 ms); {hit['rps'] / WORDPRESS_RPS:.0f}× WordPress, "
        f"{hit['rps'] / DJANGO_RPS:.1f}× Django, {not_mod['rps'] / DJANGO_304_RPS:.1f}× Django's 304.",
        "",
    ]
    return lines


def _scale_table(scaling: list[dict[str, Any]]) -> list[str]:
    labels = list(scaling[0]["timings_ms"]) if scaling else []
    backends: dict[str, list[dict[str, Any]]] = {}
    for item in scaling:
        backends.setdefault(item["url"].split(":")[0].split("+")[0], []).append(item)
    lines = ["### Scale — median ms per call (one process, warm statement cache)", ""]
    for backend, items in backends.items():
        items.sort(key=lambda i: i["articles"])
        head = " | ".join(f"{i['articles']:,}" for i in items)
        lines += [f"**{backend}**", "", f"| query | {head} | largest ÷ smallest |",
                  "| --- | " + "---: | " * len(items) + "---: |"]  # fmt: skip
        for label in labels:
            values = [i["timings_ms"][label] for i in items]
            growth = values[-1] / values[0] if values[0] else 0
            cells = " | ".join(f"{v:.2f}" for v in values)
            lines.append(f"| {label} | {cells} | {growth:.2f} |")
        lines.append("")
    if scaling:
        largest = max(scaling, key=lambda i: (i["url"].startswith("postgresql"), i["articles"]))
        lines += [f"Query plans at {largest['articles']:,} articles (`{largest['url']}`):", ""]
        for label, stmts in largest["plans"].items():
            for stmt in stmts:
                lines += [f"- {label}: `{stmt['sql'][:140]}…`", "", "```", stmt["plan"], "```"]
        lines.append("")
    return lines


def markdown(serving: list[dict[str, Any]], scaling: list[dict[str, Any]]) -> str:
    lines = [
        "# feedserver benchmark",
        "",
        f"{platform.node()}, Python {platform.python_version()}, {platform.platform()}.",
        "Reproduce with `make bench` (see bench/run.py for the knobs).",
        "",
    ]
    for run in serving:
        lines += _serve_table(run)
    lines += _scale_table(scaling)
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("serve", nargs="*", type=Path)
    parser.add_argument("--scale", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    serving = [json.loads(p.read_text()) for p in args.serve]
    scaling = json.loads(args.scale.read_text()) if args.scale else []
    text = markdown(serving, scaling)
    if args.out:
        args.out.write_text(text)
    else:
        print(text)


if __name__ == "__main__":
    main()
