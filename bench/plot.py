"""docs/performance-sweep.png: latency percentiles and server CPU against N (sweep suite)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench.report import sweep_rows


def plot_sweep(data: dict[str, Any], out: Path) -> None:
    rows = sweep_rows(data)
    fig, (lat, cpu) = plt.subplots(1, 2, figsize=(11, 4.2))
    styles = {"glasscloud": "-", "baseline": "--"}
    for target, items in sorted(rows.items()):
        ns = [n for n, _, _ in items]
        for key, label, colour in (
            ("p50_ms", "p50", "tab:green"),
            ("p99_ms", "p99", "tab:orange"),
            ("p999_ms", "p99.9", "tab:red"),
        ):
            values = [row[f"lat_glasses_to_app.{key}"] for _, row, _ in items]
            lat.plot(
                ns,
                values,
                styles.get(target, "-"),
                color=colour,
                marker="o",
                label=f"{target} {label}",
            )
        cpu.plot(
            ns,
            [row["server_cpu_pct"] for _, row, _ in items],
            styles.get(target, "-"),
            marker="o",
            label=target,
        )
    lat.axhline(10, color="grey", linewidth=0.8, linestyle=":")
    lat.set_yscale("log")
    lat.set_xlabel("glasses sessions (each with 2 Apps)")
    lat.set_ylabel("glasses -> App latency, ms (log)")
    lat.set_title("Latency at the realistic mix")
    lat.legend(fontsize=7)
    cpu.set_xlabel("glasses sessions (each with 2 Apps)")
    cpu.set_ylabel("server CPU, % of one core")
    cpu.set_title("Server CPU")
    cpu.axhline(100, color="grey", linewidth=0.8, linestyle=":")
    cpu.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
