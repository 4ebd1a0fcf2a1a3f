"""Plot runs: validation loss against training FLOPs and against wall time, level changes marked.

    python plot.py out                       # one run
    python plot.py out out-baseline          # a V-cycle beside its baseline, as train.py suggests
    python plot.py bench-cpu/seed1337/*      # every run of a bench seed

Writes loss.png into the first run's folder. Each run is named by its folder and what it trains.
Given two or more runs of plain training (a bench's baseline and frontier), their final losses
draw the frontier, the loss plain training reaches for each cost, and each V-cycle is marked with
what it saves there at its final loss. matplotlib is optional (pip install matplotlib); report.py
draws the bench's figure with the same pieces.
"""
import json
import math
import sys
from pathlib import Path

import commandline
from commandline import ConfigError

PANELS = (('flops', 'training FLOPs'), ('time_s', 'training wall time (s)'))


def pyplot():
    """matplotlib's pyplot drawing to files, or a one-line reason why not."""
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigError("plotting needs matplotlib: pip install matplotlib (or -r "
                          "requirements-optional.txt)") from None
    return plt


def level_changes(log):
    """(index, level) of each log line starting a stage at another level, after training began."""
    return [(i, b['level']) for i, (a, b) in enumerate(zip(log, log[1:]), 1)
            if b['level'] != a['level'] and b['flops'] > 0]


def mark_level_changes(ax, x, log, color):
    """A dotted line at each level change, labelled with the level it goes to."""
    for i, level in level_changes(log):
        ax.axvline(x[i], color=color, ls=':', lw=0.9)
        ax.annotate(f'M_{level}', (x[i], 1), xycoords=('data', 'axes fraction'), xytext=(2, -10),
                    textcoords='offset points', fontsize=7, color=color)


def finish(ax, label, lowest, shown=1.0):
    """Axis labels and a loss range from just below the lowest loss to `shown` above it, so that the
    first steps' high losses do not flatten the rest."""
    ax.set_xlabel(label + '  (dotted: level changes)')
    ax.set_ylabel('validation loss')
    ax.set_xlim(left=0)
    ax.set_ylim(lowest - 0.05, lowest + shown)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def envelope(points):
    """The frontier of points (cost, final loss) of complete runs: the best loss at most each cost
    buys, so a larger budget that ended higher does not count."""
    best, frontier = math.inf, []
    for cost, final in sorted(points):
        if final < best:
            best = final
            frontier.append((cost, final))
    return frontier


def frontier_cost(points, loss):
    """The cost (FLOPs or seconds) at which the frontier of points reaches `loss`, interpolated
    linearly in log cost between the two budgets that bracket it; None if `loss` lies outside the
    frontier's range (never extrapolated)."""
    frontier = envelope(points)
    if not frontier or loss > frontier[0][1] or loss < frontier[-1][1]:
        return None
    for (c0, l0), (c1, l1) in zip(frontier, frontier[1:]):
        if l1 <= loss <= l0:
            f = (l0 - loss) / (l0 - l1)
            return math.exp(math.log(c0) + f * (math.log(c1) - math.log(c0)))
    return frontier[0][0]  # loss equals the only point's


def frontier_loss(points, cost):
    """The loss the frontier of points reaches for `cost`, interpolated linearly in log cost between
    the two budgets that bracket it; None outside the budgets' range (never extrapolated)."""
    frontier = envelope(points)
    if not frontier or cost < frontier[0][0] or cost > max(c for c, _ in points):
        return None
    for (c0, l0), (c1, l1) in zip(frontier, frontier[1:]):
        if c0 <= cost <= c1:
            return l0 + (l1 - l0) * math.log(cost / c0) / math.log(c1 / c0)
    return frontier[-1][1]  # past the last improvement: what the best budget reached


def read_log(folder):
    path = Path(folder) / 'log.jsonl'
    if not path.is_file():
        raise ConfigError(f"{path} not found: name the out_dir of a run (python train.py writes "
                          f"out/log.jsonl)")
    return [json.loads(line) for line in path.read_text().splitlines()]


def levels_of(folder):
    """The number of levels of the run in folder (1: plain training), from its config.json."""
    path = Path(folder) / 'config.json'
    return json.loads(path.read_text())['levels'] if path.is_file() else None


def plot_runs(folders, path):
    """Every run's validation loss against FLOPs and wall time in one figure, written to path; with
    two or more runs of plain training, the frontier they draw and each V-cycle's saving on it."""
    logs = {str(folder): read_log(folder) for folder in folders}
    levels = {folder: levels_of(folder) for folder in logs}
    plain = [folder for folder in logs if levels[folder] == 1]
    plt = pyplot()
    fig, axes = plt.subplots(1, len(PANELS), figsize=(13, 5))
    lowest = min(r['val_loss'] for log in logs.values() for r in log)
    for ax, (key, label) in zip(axes, PANELS):
        for folder, log in logs.items():
            if len(plain) > 1 and folder in plain and len(log) <= 2:
                continue  # a frontier budget logs its start and end only: a point on the frontier
            what = 'plain training' if levels[folder] == 1 else f"{levels[folder]}-level V-cycle"
            x = [r[key] for r in log]
            line, = ax.plot(x, [r['val_loss'] for r in log], marker='.', ms=3, lw=1.4,
                            label=f"{Path(folder).name}: {what} ({log[-1]['val_loss']:.4f})")
            mark_level_changes(ax, x, log, line.get_color())
        if len(plain) > 1:
            draw_frontier(ax, key, {f: logs[f] for f in plain},
                          {f: log for f, log in logs.items() if levels[f] not in (1, None)})
        finish(ax, label, lowest)
    fig.suptitle('validation loss (final in brackets)', fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def draw_frontier(ax, key, plain, cycles):
    """The final losses of the plain runs against their cost `key`, joined (the frontier), and at
    each V-cycle's final loss an arrow from where the frontier reaches it, with the saving."""
    points = sorted((log[-1][key], log[-1]['val_loss']) for log in plain.values())
    ax.plot(*zip(*points), 'ks--', ms=5, lw=1, label='plain training to each budget: the frontier')
    for log in cycles.values():
        mark_saving(ax, log[-1][key], log[-1]['val_loss'], points)


def mark_saving(ax, cost, loss, points):
    """An arrow from where the frontier of points (cost, final loss) reaches `loss` to `cost`,
    labelled with the saving ("saves 24.8%", or "costs 3.1% more"); nothing off the frontier."""
    reach = frontier_cost(points, loss)
    if reach is not None and cost > 0:
        ax.annotate('', (cost, loss), (reach, loss), arrowprops=dict(arrowstyle='->', lw=1))
        saved = 1 - cost / reach
        ax.annotate(f'saves {saved:.1%}' if saved >= 0 else f'costs {-saved:.1%} more',
                    (cost, loss), xytext=(4, 6), textcoords='offset points', fontsize=8)


def main(argv):
    if not argv or any(a.startswith('--') for a in argv):
        raise ConfigError("give the out_dir of one or more runs: python plot.py out out-baseline")
    print(f"plot: {plot_runs(argv, Path(argv[0]) / 'loss.png')}")


def cli(argv):
    help = commandline.help_text(__doc__, {'--help, -h': 'this text'}, '')
    return commandline.command(argv, main, help)


if __name__ == '__main__':
    sys.exit(cli(sys.argv[1:]))
