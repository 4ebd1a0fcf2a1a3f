"""The bench's figures, from its logs alone: savings against the frontier, first reach, medians over
seeds, the tables and the plot. Nothing here trains; bench.py calls it after training, and

    python report.py bench-cpu          # re-reads bench-cpu/results.json: the tables and loss.png again

Definitions (README, "Counting the saving"):
  - saved vs frontier: 1 - FLOPs(arm) / FLOPs the frontier needs for the arm's final loss, the
    frontier being the baseline trained to completion at several budgets, interpolated on log
    FLOPs and never extrapolated; wall time the same way;
  - first reach: the FLOPs and wall time at which the arm's full model first reaches the reference
    baseline's final loss, against the reference's totals (not reached: no figure).
Per arm, figures over seeds are median [min, max].
"""
import json
import math
import sys
from pathlib import Path

import commandline
from commandline import ConfigError

GPU_BF16_PEAK_FLOPS = {'H100 SXM': 989e12, 'H100 80GB HBM3': 989e12, 'H100 PCIe': 756e12, 'H100 NVL': 835e12,
                       'H200': 989e12, 'A100': 312e12, 'L4': 121e12, 'RTX 4090': 165e12, 'A10G': 70e12}


def first_reach(log, target):
    """(FLOPs, seconds) at which the level-1 model's validation loss first reaches target,
    interpolated linearly between two evaluations; None if it never does."""
    previous = None
    for r in log:
        if r['level'] != 1:
            previous = None
            continue
        if r['val_loss'] <= target:
            if previous is None or previous['val_loss'] == r['val_loss']:
                return r['flops'], r['time_s']
            f = (previous['val_loss'] - target) / (previous['val_loss'] - r['val_loss'])
            return (previous['flops'] + f * (r['flops'] - previous['flops']),
                    previous['time_s'] + f * (r['time_s'] - previous['time_s']))
        previous = r
    return None


def frontier_cost(points, loss):
    """The cost (FLOPs or seconds) at which the frontier reaches `loss`. points: (cost, final loss)
    of complete runs. The frontier is the best loss at most that cost buys (a larger budget that
    ended higher does not count), interpolated linearly in log cost between the two budgets that
    bracket `loss`; None if `loss` lies outside the frontier's range (never extrapolated)."""
    best, frontier = math.inf, []
    for cost, final in sorted(points):
        if final < best:
            best = final
            frontier.append((cost, final))
    if not frontier or loss > frontier[0][1] or loss < frontier[-1][1]:
        return None
    for (c0, l0), (c1, l1) in zip(frontier, frontier[1:]):
        if l1 <= loss <= l0:
            f = (l0 - loss) / (l0 - l1)
            return math.exp(math.log(c0) + f * (math.log(c1) - math.log(c0)))
    return frontier[0][0]  # loss equals the only point's


def tokens_per_s_by_level(log):
    """Training tokens per second of each level, over all of its stages."""
    tokens, seconds = {}, {}
    for a, b in zip(log, log[1:]):
        if (a['stage'], a['level']) == (b['stage'], b['level']):
            tokens[a['level']] = tokens.get(a['level'], 0) + b['tokens'] - a['tokens']
            seconds[a['level']] = seconds.get(a['level'], 0) + b['time_s'] - a['time_s']
    return {level: tokens[level] / seconds[level] for level in tokens if seconds[level] > 0}


def saving_pct(cost, reference_cost):
    """100 (1 - cost / reference_cost); None where either is unknown."""
    return None if cost is None or reference_cost is None else 100 * (1 - cost / reference_cost)


def summarize(name, log, reference, frontier):
    """One arm at one seed: its final loss and costs, saved vs frontier, and first reach."""
    last, ref = log[-1], reference[-1]
    frontier_flops = frontier_cost([(p['flops'], p['val_loss']) for p in frontier], last['val_loss'])
    frontier_time = frontier_cost([(p['time_s'], p['val_loss']) for p in frontier], last['val_loss'])
    reach = first_reach(log, ref['val_loss']) or (None, None)
    return {'name': name, 'final_val_loss': last['val_loss'], 'final_val_acc': last.get('val_acc'),
            'total_flops': last['flops'],
            'total_time_s': last['time_s'], 'frontier_flops': frontier_flops, 'frontier_time_s': frontier_time,
            'flops_saved_pct': saving_pct(last['flops'], frontier_flops),
            'time_saved_pct': saving_pct(last['time_s'], frontier_time),
            'first_reach_flops_saved_pct': saving_pct(reach[0], ref['flops']),
            'first_reach_time_saved_pct': saving_pct(reach[1], ref['time_s']),
            'tokens_per_s_by_level': tokens_per_s_by_level(log)}


SAVINGS = ('flops_saved_pct', 'time_saved_pct', 'first_reach_flops_saved_pct', 'first_reach_time_saved_pct')


def median_range(values):
    """(median, min, max) of per-seed figures where None (not reached, or off the frontier) ranks
    below every number: the median is None if more than half the seeds have none."""
    ranked = sorted(values, key=lambda v: -math.inf if v is None else v)
    n = len(ranked)
    mid = ranked[n // 2] if n % 2 else (None if None in ranked[n // 2 - 1:n // 2 + 1]
                                         else (ranked[n // 2 - 1] + ranked[n // 2]) / 2)
    return mid, ranked[0], ranked[-1]


def aggregate(rows_by_seed):
    """Per arm: median, min and max over seeds of the final loss and of every saving."""
    names = list(dict.fromkeys(r['name'] for rows in rows_by_seed.values() for r in rows))
    summary = []
    for name in names:
        rows = [r for rows in rows_by_seed.values() for r in rows if r['name'] == name]
        entry = {'name': name, 'seeds': len(rows),
                 'first_reached': sum(r['first_reach_flops_saved_pct'] is not None for r in rows)}
        for key in ('final_val_loss', 'final_val_acc', 'total_flops') + SAVINGS:
            entry[key] = dict(zip(('median', 'min', 'max'), median_range([r[key] for r in rows])))
        summary.append(entry)
    return summary


def mfu(log, device):
    """Model FLOPs per second over the device's dense bf16 peak, at the median steady-state
    throughput (so torch.compile's first steps do not count); None for a CPU or an unknown GPU."""
    peak = next((v for k, v in GPU_BF16_PEAK_FLOPS.items() if k in device), None)
    rates = sorted(r['tokens_per_s'] for r in log if r['tokens_per_s'])
    if peak is None or not rates:
        return None
    flops_per_s = rates[len(rates) // 2] * log[-1]['flops'] / log[-1]['tokens']
    return {'device': device, 'peak_flops': peak, 'model_flops_per_s': flops_per_s, 'mfu_pct': 100 * flops_per_s / peak}


def pct(v):
    return f"{v:5.1f}%" if v is not None else "   -  "


def print_seed(seed, rows, frontier):
    print(f"\nseed {seed}: frontier (steps: final loss) " +
          ', '.join(f"{p['steps']}: {p['val_loss']:.4f}" for p in frontier))
    print(f"{'arm':42s} {'final loss':>10s} {'FLOPs':>10s} {'frontier FLOPs':>14s} {'FLOPs saved':>11s} "
          f"{'time saved':>10s} {'first reach FLOPs/time saved':>28s}")
    for r in rows:
        frontier_flops = f"{r['frontier_flops']:14.3e}" if r['frontier_flops'] else f"{'off frontier':>14s}"
        print(f"{r['name']:42s} {r['final_val_loss']:10.4f} {r['total_flops']:10.3e} {frontier_flops} "
              f"{pct(r['flops_saved_pct']):>11s} {pct(r['time_saved_pct']):>10s} "
              f"{pct(r['first_reach_flops_saved_pct']):>19s} {pct(r['first_reach_time_saved_pct'])}")


def print_summary(summary, seeds):
    def cell(stat, fmt=pct):
        return f"{fmt(stat['median'])} [{fmt(stat['min'])}, {fmt(stat['max'])}]"
    print(f"\nover {len(seeds)} seed(s) {list(seeds)}: median [min, max]")
    print(f"{'arm':42s} {'final loss':>26s} {'FLOPs saved vs frontier':>26s} {'time saved vs frontier':>26s} "
          f"{'first reach FLOPs saved':>26s} {'reached':>7s}")
    for s in summary:
        accuracy = f"  val acc {cell(s['final_val_acc'], lambda v: f'{v:.4f}')}" if s['final_val_acc']['max'] else ''
        print(f"{s['name']:42s} {cell(s['final_val_loss'], lambda v: f'{v:.4f}'):>26s} {cell(s['flops_saved_pct']):>26s} "
              f"{cell(s['time_saved_pct']):>26s} {cell(s['first_reach_flops_saved_pct']):>26s} "
              f"{s['first_reached']:>3d}/{s['seeds']}{accuracy}")


def plot(runs, frontiers, names, path):
    """Each arm's median validation loss over the seeds with the seeds' range as a band, against
    FLOPs and wall time; dotted lines at level changes; the frontier's budgets as points."""
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install matplotlib); results.json is written")
        return False
    import numpy as np
    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    for ax, key, label in ((axes[0], 'flops', 'training FLOPs'), (axes[1], 'time_s', 'training wall time (s)')):
        for name in names:
            logs = [runs[seed][name] for seed in runs]
            x = np.median([[r[key] for r in log] for log in logs], axis=0)
            y = np.array([[r['val_loss'] for r in log] for log in logs])
            line, = ax.plot(x, np.median(y, axis=0), label=name, lw=1.6)
            ax.fill_between(x, y.min(axis=0), y.max(axis=0), color=line.get_color(), alpha=0.2, lw=0)
            for i, (a, b) in enumerate(zip(logs[0], logs[0][1:])):
                if a['level'] != b['level']:
                    ax.axvline(x[i + 1], color=line.get_color(), ls=':', lw=0.9)
        by_steps = {}
        for points in frontiers.values():
            for p in points:
                by_steps.setdefault(p['steps'], []).append((p[key], p['val_loss']))
        fx = [np.median([c for c, _ in v]) for v in by_steps.values()]
        fy = [np.array([l for _, l in v]) for v in by_steps.values()]
        ax.errorbar(fx, [np.median(v) for v in fy], yerr=[[np.median(v) - v.min() for v in fy],
                    [v.max() - np.median(v) for v in fy]], fmt='ks', ms=4, capsize=3, label='frontier (final losses)')
        ax.set_xscale('log')
        ax.set_xlabel(label + ('  (dotted: level changes)' if key == 'flops' else ''))
        ax.set_ylabel(f'validation loss (median, band: range over {len(runs)} seeds)')
        lowest = min([np.median(v) for v in fy] + [np.median([runs[s][n][-1]['val_loss'] for s in runs]) for n in names])
        ax.set_ylim(lowest - 0.05, lowest + 0.8)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def report(results, out):
    """Every arm's figures at every seed and over the seeds, printed, and the plot written to
    out/loss.png; returns results with 'rows', 'summary' and 'baseline_mfu' filled in."""
    seeds, logs, frontiers = results['seeds'], results['logs'], results['frontiers']
    rows = {}
    for seed in seeds:
        reference = next(iter(logs[seed].values()))
        rows[seed] = [summarize(name, log, reference, frontiers[seed]) for name, log in logs[seed].items()]
        print_seed(seed, rows[seed], frontiers[seed])
    summary = aggregate(rows)
    baseline_mfu = mfu(next(iter(logs[seeds[0]].values())), results['device'])
    print_summary(summary, seeds)
    if baseline_mfu:
        print(f"baseline MFU {baseline_mfu['mfu_pct']:.1f}% of {baseline_mfu['device']} bf16 peak")
    names = [name for name in logs[seeds[0]] if not name.startswith('ablation')]
    if plot(logs, frontiers, names, Path(out) / 'loss.png'):
        print(f"plot: {Path(out) / 'loss.png'}")
    return dict(results, rows=rows, summary=summary, baseline_mfu=baseline_mfu)


def main(argv):
    if len(argv) != 1:
        raise ConfigError("give one bench folder, the out_dir of a bench: python report.py bench-cpu")
    path = Path(argv[0]) / 'results.json'
    if not path.is_file():
        raise ConfigError(f"{path} not found: run the bench first (python bench.py), or name its out_dir")
    results = json.loads(path.read_text())
    results['seeds'] = [str(s) for s in results['seeds']]  # JSON keys are strings
    report(results, argv[0])


if __name__ == '__main__':
    sys.exit(commandline.command(sys.argv[1:], main, commandline.help_text(__doc__, {'--help, -h': 'this text'}, '')))
