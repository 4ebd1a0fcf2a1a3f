"""Plot runs: validation loss against training FLOPs and against wall time, level changes marked.

    python plot.py out                       # one run
    python plot.py out out-baseline          # a V-cycle beside its baseline, as train.py suggests
    python plot.py bench-cpu/seed1337/*      # every run of a bench seed

Writes loss.png into the first run's folder. matplotlib is optional (pip install matplotlib);
report.py draws the bench's figure with the same pieces.
"""
import json
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


def read_log(folder):
    path = Path(folder) / 'log.jsonl'
    if not path.is_file():
        raise ConfigError(f"{path} not found: name the out_dir of a run (python train.py writes "
                          f"out/log.jsonl)")
    return [json.loads(line) for line in path.read_text().splitlines()]


def plot_runs(folders, path):
    """Every run's validation loss against FLOPs and wall time in one figure, written to path."""
    logs = {str(folder): read_log(folder) for folder in folders}
    plt = pyplot()
    fig, axes = plt.subplots(1, len(PANELS), figsize=(13, 5))
    lowest = min(r['val_loss'] for log in logs.values() for r in log)
    for ax, (key, label) in zip(axes, PANELS):
        for name, log in logs.items():
            x = [r[key] for r in log]
            line, = ax.plot(x, [r['val_loss'] for r in log], marker='.', ms=3, lw=1.4,
                            label=f"{name} ({log[-1]['val_loss']:.4f})")
            mark_level_changes(ax, x, log, line.get_color())
        finish(ax, label, lowest)
    fig.suptitle('validation loss (final in brackets)', fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv):
    if not argv or any(a.startswith('--') for a in argv):
        raise ConfigError("give the out_dir of one or more runs: python plot.py out out-baseline")
    print(f"plot: {plot_runs(argv, Path(argv[0]) / 'loss.png')}")


def cli(argv):
    help = commandline.help_text(__doc__, {'--help, -h': 'this text'}, '')
    return commandline.command(argv, main, help)


if __name__ == '__main__':
    sys.exit(cli(sys.argv[1:]))
