#!/usr/bin/env python3
"""Render bench/results/latest.json as the table of docs/performance.md (between its markers).

.venv/bin/python bench/report.py [bench/results/latest.json] [docs/performance.md]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BEGIN = "<!-- bench:begin (written by bench/report.py from bench/results/latest.json) -->"
END = "<!-- bench:end -->"


def ok(value: bool | None) -> str:
    return "n/a" if value is None else ("met" if value else "**missed**")


def _cpu_split(integrator: dict[str, Any], bare: dict[str, Any]) -> str:
    """Row 6's CPU per accepted payment, by process, on each side (runs that measured it)."""
    if "cpu_ms_per_ok" not in integrator or "cpu_ms_per_ok" not in bare:
        return ""

    def split(side: dict[str, Any]) -> str:
        return (
            f"{side['cpu_ms_per_ok']} ms (web {side['worker_cpu_ms_per_ok']}, PostgreSQL "
            f"{side['postgres_cpu_ms_per_ok']}, Redis {side['redis_cpu_ms_per_ok']})"
        )

    return f"; CPU per payment: integrator {split(integrator)}, bare loop {split(bare)}"


def markdown(result: dict[str, Any]) -> str:
    m, v, mach = result["measurements"], result["verdicts"], result["machine"]
    rows = ["| # | measure | result | ratio | target | verdict |", "|---|---|---|---|---|---|"]
    lat = m.get("latency")
    if lat:
        d, i = lat["direct"], lat["integrator"]
        rows.append(
            f"| 1 | bills by consumer, {d['connections']} connections, "
            f"{lat['latency_ms']} ms DIGIT "
            f"| integrator {i['ok_rps']:.0f}/s, p50 {i['p50_ms']} ms, p99 {i['p99_ms']} ms; direct "
            f"{d['ok_rps']:.0f}/s, p50 {d['p50_ms']} ms, p99 {d['p99_ms']} ms "
            f"| {lat['throughput_ratio']:.2f}x throughput, {lat['p99_ratio']:.2f}x p99 "
            f"| >= 0.93x, p99 <= 1.3x (median round) | {ok(v['1_throughput'])} / {ok(v['1_p99'])} |"
        )
    nol = m.get("no_latency")
    if nol:
        i, b = nol["integrator"], nol["bare_proxy"]
        rows.append(
            f"| 2 | same, no added latency | integrator {i['ok_rps']:.0f}/s "
            f"(p99 {i['p99_ms']} ms); "
            f"bare Flask+requests proxy {b['ok_rps']:.0f}/s; sandbox alone "
            f"{nol['direct']['ok_rps']:.0f}/s | {nol['bare_proxy_ratio']:.2f}x "
            f"| >= 0.75x (median round) "
            f"| {ok(v['2_bare_proxy'])} |"
        )
    ctr = m.get("counter_payments")
    if ctr:
        d, i = ctr["rounds"]["direct_create"], ctr["rounds"]["integrator"]
        rows.append(
            f"| 3a | payment to receipt (accept + inline registration), {ctr['devices']} devices "
            f"at once, {ctr['latency_ms']} ms DIGIT, bills served moments ago "
            f"| integrator p50 {[r['p50_ms'] for r in i]} ms ({i[-1]['answers']}); DIGIT's "
            f"create alone p50 {[r['p50_ms'] for r in d]} ms, same clients "
            f"| {ctr['p50_ratio']}x (rounds {ctr['round_ratios']}) | <= 1.3x, all 201 "
            f"| {ok(v.get('3a_counter_p50'))} |"
        )
    drain = m.get("drain") or {}
    if "ratio" in drain:
        rows.append(
            f"| 3b | drain of {drain['backlog']} PENDING payments after an outage, "
            f"{drain['workers']} workers, {drain['latency_ms']} ms DIGIT "
            f"| {drain['drain_seconds']} s"
            f" ({drain['registered_per_s']}/s; {drain['statuses']}) vs limit "
            f"{drain['limit_seconds']} s ({drain['limit_per_s']}/s) | {drain['ratio']:.2f}x "
            f"| >= 0.8x | {ok(v['3_drain'])} |"
        )
    elif drain:
        rows.append(f"| 3b | drain | {drain.get('skipped')} | - | >= 0.8x | n/a |")
    acc = m.get("accept_outage")
    if acc:
        i, b = acc["integrator"], acc["bare_commit_loop"]
        rows.append(
            f"| 6 | payments accepted with DIGIT down (the 202 path), {acc['connections']} "
            f"connections | integrator {i['ok_rps']:.0f}/s (p99 {i['p99_ms']} ms, "
            f"{i['non_2xx']} not 2xx); bare loop of one insert + commit per request "
            f"{b['ok_rps']:.0f}/s (p99 {b['p99_ms']} ms), same PostgreSQL and pool"
            f"{_cpu_split(i, b)} | {acc['ratio']:.2f}x | >= 0.5x "
            f"| {ok(v.get('6_accept_outage'))} |"
        )
    budget = m.get("budget")
    for r in budget["rounds"] if budget else []:
        p, b = r["payments"], r["bills"]
        latency = r["latency_ms"] / 1000
        rows.append(
            f"| 7 | payments under a slow DIGIT ({latency:g} s per call), {p['requests']} at once "
            f"| max {p['max_s']} s; {p['statuses']} | - "
            f"| max <= {budget['registration_budget_s'] + 1:g} s (REGISTRATION_BUDGET_SECONDS + 1) "
            f"| {ok(p['met'])} |"
        )
        rows.append(
            f"| 7 | bills by consumer under a slow DIGIT ({latency:g} s per call), "
            f"{b['requests']} (sequential, then at once) | max {b['max_s']} s; {b['statuses']} | - "
            f"| max <= {budget['bills_budget_s']:g} s (BILLS_DEADLINE_SECONDS) | {ok(b['met'])} |"
        )
    rows.append(
        f"| 4 | DIGIT logins over the whole run | {m['logins']} | - | exactly 1 "
        f"| {ok(v['4_one_login'])} |"
    )
    rss = ", ".join(f"{k} {val}" for k, val in m["peak_rss_mb"].items())
    rows.append(f"| 5 | peak RSS (VmHWM, MB) | {rss} | - | <= 120 MB | {ok(v['5_rss'])} |")
    rounds = []
    for label, key, a, b in (
        ("(1)", "latency", "integrator", "direct"),
        ("(2)", "no_latency", "integrator", "bare_proxy"),
    ):
        block = m.get(key) or {}
        if "runs" in block.get(a, {}) and "runs" in block.get(b, {}):
            pairs = zip(block[a]["runs"], block[b]["runs"], strict=True)
            ratios = ", ".join(f"{x['ok_rps'] / y['ok_rps']:.2f}x" for x, y in pairs)
            rounds.append(f"{label} {ratios}")
    lines = [
        BEGIN,
        "",
        f"Run {result['started_at']}: `{result['command']}`",
        "",
        f"Machine: {mach['nproc']} cores ({mach['cpu_model']}), {mach['memory_gb']} GB, "
        f"{mach['os']}, kernel {mach['kernel']}, Python {mach['python']}, {mach['wrk']}; "
        f"{mach['taskset']}.",
        "",
        *rows,
        "",
        *(
            [
                f"Each side of (1) and (2) ran {len(m['latency']['direct']['runs'])} times, "
                f"alternating A B B A; the figures above combine them, and the ratio of each round "
                f"was: {'; '.join(rounds)}.",
                "",
            ]
            if rounds
            else []
        ),
        f"gunicorn: {m.get('gunicorn', {}).get('effective', '')}",
        "",
        END,
    ]
    return "\n".join(lines)


def write_block(target: Path, block: str, *, create: bool) -> bool:
    """Replace the text between the markers in `target` (append them when `create`)."""
    text = target.read_text() if target.exists() else ""
    if BEGIN not in text or END not in text:
        if not create:
            return False
        text = text.rstrip() + f"\n\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    target.write_text(head + block + tail)
    print(f"report: wrote {target}")
    return True


def main(argv: list[str]) -> int:
    source = Path(argv[1]) if len(argv) > 1 else ROOT / "bench" / "results" / "latest.json"
    if not source.exists():
        # a `--only` run writes its own file: the tables wait for a full run
        print(f"report: no {source} yet (a full `make bench` writes it); tables unchanged")
        return 0
    block = markdown(json.loads(source.read_text()))
    if len(argv) > 2:
        write_block(Path(argv[2]), block, create=True)
        return 0
    # docs/performance.md and the README's Performance section show the same latest run
    write_block(ROOT / "docs" / "performance.md", block, create=True)
    write_block(ROOT / "README.md", block, create=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
