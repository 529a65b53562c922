"""Tables from bench/results/*.json: medians over rounds, ratio glasscloud / bare relay, and
the issue's targets (bench/results/summary.json).

    .venv/bin/python -m bench.run report
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.stats import median


def _load(results: Path, name: str) -> dict[str, Any] | None:
    path = results / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _get(run: dict[str, Any], dotted: str) -> Any:
    value: Any = run
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def medians(data: dict[str, Any], keys: list[str]) -> dict[str, dict[str, float | None]]:
    """case -> key -> median over rounds (runs with an error are skipped)."""
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for run in data["runs"]:
        if "error" not in run:
            grouped[run["case"]].append(run)
    return {
        case: {k: median([_get(r, k) for r in runs]) for k in keys}
        for case, runs in grouped.items()
    }


def _f(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _lost(run: dict[str, Any]) -> int:
    return sum(run.get("lost", {}).values())


def saturate_table(data: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    m = medians(
        data, ["deliveries_per_s", "server_cpu_us_per_delivery", "server_cpu_pct", "client_cpu_pct"]
    )
    lines = [
        "| kind | target | deliveries/s | server µs/delivery | CPU ratio to bare relay | "
        "server CPU % | client CPU % |",
        "|---|---|---|---|---|---|---|",
    ]
    summary = {}
    for case, row in m.items():
        kind, target = case.split(":", 1)
        b = m.get(f"{kind}:baseline", {})
        ratio = _ratio(row.get("server_cpu_us_per_delivery"), b.get("server_cpu_us_per_delivery"))
        if target == "glasscloud":
            summary[kind] = {"baseline": b, "glasscloud": row, "cpu_ratio": ratio}
        lines.append(
            f"| {kind} | {target} | {_f(row.get('deliveries_per_s'), 0)} | "
            f"{_f(row.get('server_cpu_us_per_delivery'))} | {_f(ratio)}x | "
            f"{_f(row.get('server_cpu_pct'), 0)} | {_f(row.get('client_cpu_pct'), 0)} |"
        )
    return lines, summary


MIX_KEYS = [
    "lat_glasses_to_app.p50_ms",
    "lat_glasses_to_app.p99_ms",
    "lat_glasses_to_app.p999_ms",
    "lat_glasses_to_app_per_second.p50_ms",
    "lat_glasses_to_app_per_second.p99_ms",
    "lat_audio.p99_ms",
    "lat_events.p99_ms",
    "lat_display.p50_ms",
    "lat_display.p99_ms",
    "lat_display.p999_ms",
    "server_cpu_pct",
    "server_cpu_us_per_delivery",
    "deliveries_per_s",
    "server_rss_mb",
    "client_cpu_pct",
    "generator_late_s",
    "server_stalls.stalls_over_5ms",
    "server_stalls.stall_max_ms",
    "server_stalls.gc_pause_max_ms",
    "setup_s",
]


def mix_table(data: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    m = medians(data, MIX_KEYS)
    lost: dict[str, int] = defaultdict(int)
    displays: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for run in data["runs"]:
        if "error" not in run:
            lost[run["case"]] += _lost(run)
            displays[run["case"]][0] += run.get("displays_sent", 0)
            displays[run["case"]][1] += run.get("displays_received", 0)
    cols = [
        ("glasses->App p50 ms", "lat_glasses_to_app.p50_ms"),
        ("p99 ms", "lat_glasses_to_app.p99_ms"),
        ("p99.9 ms", "lat_glasses_to_app.p999_ms"),
        ("audio p99", "lat_audio.p99_ms"),
        ("events p99", "lat_events.p99_ms"),
        ("App->glasses display p50", "lat_display.p50_ms"),
        ("display p99", "lat_display.p99_ms"),
        ("server CPU %", "server_cpu_pct"),
        ("µs/delivery", "server_cpu_us_per_delivery"),
        ("RSS MB", "server_rss_mb"),
    ]
    lines = [
        "| case | " + " | ".join(c for c, _ in cols) + " | lost (all rounds) | displays "
        "received/sent |",
        "|---|" + "---|" * (len(cols) + 2),
    ]
    for case, row in m.items():
        sent, got = displays[case]
        lines.append(
            f"| {case} | "
            + " | ".join(_f(row[k]) for _, k in cols)
            + f" | {lost[case]} | {got}/{sent} |"
        )
    names = list(m)
    base = next((c for c in names if c.endswith(":baseline")), None)
    gc = next((c for c in names if c.endswith(":glasscloud")), None)
    main = next((c for c in names if c.endswith(":main")), None)
    for label, a, b in (("gc/bare", gc, base), ("gc/main", gc, main)):
        if a and b:
            lines.append(
                f"| ratio {label} | "
                + " | ".join(_f(_ratio(m[a][k], m[b][k])) + "x" for _, k in cols)
                + " | | |"
            )
    return lines, {"medians": m, "lost": dict(lost), "displays": dict(displays)}


def sweep_rows(data: dict[str, Any]) -> dict[str, list[tuple[int, dict[str, Any], int]]]:
    m = medians(data, MIX_KEYS)
    lost: dict[str, int] = defaultdict(int)
    for run in data["runs"]:
        if "error" not in run:
            lost[run["case"]] += _lost(run)
    rows: dict[str, list[tuple[int, dict[str, Any], int]]] = defaultdict(list)
    for case, row in m.items():
        n, target = case.split(":")
        rows[target].append((int(n[1:]), row, lost[case]))
    for target in rows:
        rows[target].sort(key=lambda item: item[0])
    return rows


def sweep_table(data: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    rows = sweep_rows(data)
    lines = [
        "| N sessions (x2 Apps) | target | p50 ms | p99 ms | p99.9 ms | display p99 ms | "
        "server CPU % | loop stalls > 5 ms (longest ms) | longest GC pause ms | "
        "sessions opened/s | lost |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    largest: dict[str, int | None] = {}
    for target, items in sorted(rows.items()):
        largest[target] = None
        for n, row, lost in items:
            lines.append(
                f"| {n} | {target} | {_f(row['lat_glasses_to_app.p50_ms'])} | "
                f"{_f(row['lat_glasses_to_app.p99_ms'])} | "
                f"{_f(row['lat_glasses_to_app.p999_ms'])} | "
                f"{_f(row['lat_display.p99_ms'])} | {_f(row['server_cpu_pct'], 0)} | "
                f"{_f(row['server_stalls.stalls_over_5ms'], 0)} "
                f"({_f(row['server_stalls.stall_max_ms'], 0)}) | "
                f"{_f(row['server_stalls.gc_pause_max_ms'], 0)} | "
                f"{_f(_ratio(n, row['setup_s']), 0)} | {lost} |"
            )
            p99 = row["lat_glasses_to_app.p99_ms"]
            if p99 is not None and p99 < 10 and lost == 0:
                largest[target] = n
    return lines, {"largest_n_p99_under_10ms": largest}


def idle_table(data: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    per: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for run in data["runs"]:
        if "error" not in run:
            per[run["target"]].append(run)
    lines = [
        "| target | sessions | sockets | RSS MB | liveness delivered/expected | "
        "opened/s (this step) |",
        "|---|---|---|---|---|---|",
    ]
    slopes: dict[str, float | None] = {}
    last: dict[str, dict[str, Any]] = {}
    for target, runs in sorted(per.items()):
        slopes[target] = median([r.get("kb_per_socket") for r in runs])
        previous = 0
        for lv in runs[-1]["levels"]:
            rate = _ratio(lv["live"] - previous, lv.get("open_s"))
            previous = lv["live"]
            lines.append(
                f"| {target} | {lv['live']} | {lv['sockets']} | {_f(lv['rss_mb'], 0)} |"
                f" {lv['liveness_delivered']}/{lv['liveness_expected']} | {_f(rate, 0)} |"
            )
        rss_last = median([r["levels"][-1]["rss_mb"] for r in runs])
        last[target] = {"sockets": runs[-1]["levels"][-1]["sockets"], "rss_mb": rss_last}
    summary: dict[str, Any] = {"kb_per_socket": slopes, "last": last}
    if "glasscloud" in last and "baseline" in last and all(slopes.values()):

        def at(target: str, sockets: int) -> float:
            lv = last[target]
            return lv["rss_mb"] + (sockets - lv["sockets"]) * slopes[target] / 1024  # type: ignore

        summary["glasscloud_10k_sessions_mb"] = at("glasscloud", 30000)
        summary["baseline_30k_sockets_mb"] = at("baseline", 30000)
        summary["ratio"] = (
            summary["glasscloud_10k_sessions_mb"] / summary["baseline_30k_sockets_mb"]
        )
        lines.append("")
        lines.append(
            f"KB per socket: glasscloud {_f(slopes['glasscloud'], 1)} (x3 = "
            f"{_f(slopes['glasscloud'] * 3, 1)} KB per session of glasses + 2 Apps), "
            f"bare relay {_f(slopes['baseline'], 1)}. Extrapolated (linear) to 30,000 "
            f"sockets: glasscloud {_f(summary['glasscloud_10k_sessions_mb'], 0)} MB, "
            f"bare relay {_f(summary['baseline_30k_sockets_mb'], 0)} MB, ratio "
            f"{_f(summary['ratio'])}x."
        )
    return lines, summary


def slow_table(data: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    m = medians(
        data,
        [*MIX_KEYS, "rss_growth_mb", "slow_received", "slow_expected", "lat_slow_audio.p99_ms"],
    )
    drops: dict[str, list[int]] = defaultdict(list)
    lost: dict[str, int] = defaultdict(int)
    for run in data["runs"]:
        if "error" in run:
            continue
        metrics = run.get("server_metrics", {})
        drops[run["case"]].append(
            sum(v for k, v in metrics.items() if k.startswith("send_dropped") and "queue_full" in k)
        )
        lost[run["case"]] += _lost(run)
    lines = [
        "| case | other Apps p50 ms | p99 ms | p99.9 ms | display p99 ms | server CPU % | "
        "RSS growth MB (20 s) | slow App got/sent | server drops (queue_full) | "
        "lost at other Apps |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for case, row in m.items():
        lines.append(
            f"| {case} | {_f(row['lat_glasses_to_app.p50_ms'])} | "
            f"{_f(row['lat_glasses_to_app.p99_ms'])} | {_f(row['lat_glasses_to_app.p999_ms'])}"
            f" | {_f(row['lat_display.p99_ms'])} | {_f(row['server_cpu_pct'], 0)} | "
            f"{_f(row['rss_growth_mb'], 1)} | {_f(row['slow_received'], 0)}/"
            f"{_f(row['slow_expected'], 0)} | {median(drops[case])} | {lost[case]} |"
        )
    return lines, {"medians": m, "drops": dict(drops), "lost": dict(lost)}


def light_table(data: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """glasses->App latency at light load, each target against the minimal relay: over the
    whole window, and per second (median over the seconds of each second's percentile,
    which a second of CPU starvation by the rest of the machine moves only once)."""
    m = medians(data, MIX_KEYS)
    floor = m.get("light:minimal", {})
    lines = [
        "| target | p50 ms | p99 ms | p99.9 ms | p50 ratio | p99 ratio | per-second p50 | "
        "per-second p99 | per-second p99 ratio | server CPU % | µs/delivery | "
        "server stalls > 5 ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    summary: dict[str, Any] = {}
    for case, row in m.items():
        ratios = {
            key: _ratio(row[f"lat_glasses_to_app{key}"], floor.get(f"lat_glasses_to_app{key}"))
            for key in (".p50_ms", ".p99_ms", "_per_second.p99_ms")
        }
        summary[case] = {"medians": row, "ratios": ratios}
        lines.append(
            f"| {case.split(':')[1]} | {_f(row['lat_glasses_to_app.p50_ms'])} | "
            f"{_f(row['lat_glasses_to_app.p99_ms'])} | {_f(row['lat_glasses_to_app.p999_ms'])} | "
            f"{_f(ratios['.p50_ms'])}x | {_f(ratios['.p99_ms'])}x | "
            f"{_f(row['lat_glasses_to_app_per_second.p50_ms'])} | "
            f"{_f(row['lat_glasses_to_app_per_second.p99_ms'])} | "
            f"{_f(ratios['_per_second.p99_ms'])}x | "
            f"{_f(row['server_cpu_pct'], 0)} | {_f(row['server_cpu_us_per_delivery'])} | "
            f"{_f(row['server_stalls.stalls_over_5ms'], 0)} |"
        )
    return lines, summary


_AB_TABLES = (("saturate", saturate_table), ("mix", mix_table), ("light", light_table))


def print_suite(results: Path) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for name, fn in (
        ("saturate", saturate_table),
        ("mix", mix_table),
        ("sweep", sweep_table),
        ("idle", idle_table),
        ("slow", slow_table),
        ("light", light_table),
        *((f"{n}-{x}", fn) for x in ("ab", "hunt") for n, fn in _AB_TABLES),
    ):
        data = _load(results, name)
        if data is None:
            continue
        lines, summary[name] = fn(data)
        print(f"\n### {name} (medians of {data['rounds']} rounds)\n")
        print("\n".join(lines))
    (results / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    return summary
