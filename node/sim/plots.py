"""PNG plots of a simulation run: hop histogram, success and hops over time, migration."""

from __future__ import annotations

import os
import statistics

from node.sim.experiment import Series


def _windows(values: list[float], size: int) -> tuple[list[int], list[float]]:
    xs, ys = [], []
    for start in range(0, len(values), size):
        chunk = values[start : start + size]
        if chunk:
            xs.append(start + len(chunk) // 2)
            ys.append(statistics.fmean(chunk))
    return xs, ys


def write_plots(directory: str, series: Series) -> list[str]:
    """Write the three plots into ``directory``; return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(directory, exist_ok=True)
    paths = []
    hops = [h for h in series.hops if h >= 0]
    window = max(10, len(series.hops) // 50)

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.hist(hops, bins=range(0, max(hops, default=0) + 2), align="left", rwidth=0.8)
    ax.set_xlabel("hops to the data")
    ax.set_ylabel("requests")
    ax.set_title("Hop count of successful requests")
    paths.append(_save(fig, directory, "hops_histogram.png"))

    fig, ax = plt.subplots(figsize=(6, 4))
    xs, ok = _windows([1.0 if f else 0.0 for f in series.found], window)
    ax.plot(xs, ok, label="success rate")
    ax.set_xlabel("request (issue order)")
    ax.set_ylabel("success rate")
    ax.set_ylim(0, 1.05)
    ax2 = ax.twinx()
    xs, mh = _windows([float(h) for h in series.hops if h >= 0], window)
    ax2.plot(xs, mh, color="tab:orange", label="mean hops")
    ax2.set_ylabel("mean hops")
    ax.set_title("Success and hops over time")
    paths.append(_save(fig, directory, "success_and_hops.png"))

    fig, ax = plt.subplots(figsize=(6, 4))
    pop = [float(h) for h, p in zip(series.hops, series.popular, strict=True) if p and h >= 0]
    xs, ys = _windows(pop, max(5, len(pop) // 30))
    ax.plot(xs, ys, marker=".")
    ax.set_xlabel("request for a popular key (issue order)")
    ax.set_ylabel("mean hops")
    ax.set_title("Migration: popular data moves toward demand")
    paths.append(_save(fig, directory, "migration.png"))
    return paths


def _save(fig: object, directory: str, name: str) -> str:
    import matplotlib.pyplot as plt

    path = os.path.join(directory, name)
    fig.savefig(path, dpi=100)  # type: ignore[attr-defined]
    plt.close(fig)  # type: ignore[arg-type]
    return path
