"""The bench's figures, from its logs alone: savings against the frontier, first reach, medians over
seeds, the tables and the plot. Nothing here trains; bench.py calls it after training, and

    python report.py bench-cpu          # bench-cpu/results.json read again: the tables, loss.png

Definitions (README, "Counting the saving"):
  - saved vs frontier: 1 - FLOPs(arm) / FLOPs the frontier needs for the arm's final loss, the
    frontier being the baseline trained to completion at several budgets, interpolated on log
    FLOPs and never extrapolated; wall time the same way;
  - saved at its accuracy (models that report one: ViT, BERT): the same, the frontier read on
    accuracy;
  - first reach: the FLOPs and wall time at which the arm's full model first reaches the reference
    baseline's final loss, against the reference's totals (not reached: no figure).
At the reference's loss, read on the arm's own frontier (the arm trained to completion at each of
the bench's budget factors, interpolated on log FLOPs, never extrapolated):
  - (b) the arm's loss minus the reference's at the reference's tokens and at its FLOPs;
  - (c) the FLOPs the arm needs to reach the reference's final loss, and the saving there against
    the reference's FLOPs (not reached within the largest budget factor: no figure; reached at the
    smallest already: that budget's FLOPs, an upper bound, so the saving is at least the figure).
Per arm, figures over seeds are median [min, max].
"""
import json
import math
import sys
from pathlib import Path

import commandline
from commandline import ConfigError
from plot import (PANELS, finish, frontier_cost, frontier_loss, mark_level_changes, mark_saving,
                  pyplot)

GPU_BF16_PEAK_FLOPS = {'H100 SXM': 989e12, 'H100 80GB HBM3': 989e12, 'H100 PCIe': 756e12,
                       'H100 NVL': 835e12, 'H200': 989e12, 'A100': 312e12, 'L4': 121e12,
                       'RTX 4090': 165e12, 'A10G': 70e12}


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


def at_reference(own, ref, frontier):
    """The figures at the reference's loss of an arm at one seed, from its own frontier `own` (the
    final log lines of its budget factors, with 'budget'): (b) its loss gaps, (c) what reaching the
    reference's loss costs, and its saving at its own loss at every budget factor."""
    def points(cost):
        return [(p[cost], p['val_loss']) for p in own]
    def gap(cost):
        loss = frontier_loss(points(cost), ref[cost])
        return None if loss is None else loss - ref['val_loss']
    reach, at_most = frontier_cost(points('flops'), ref['val_loss']), False
    cheapest = min(own, key=lambda p: p['flops'])
    if reach is None and cheapest['val_loss'] <= ref['val_loss']:
        reach, at_most = cheapest['flops'], True
    baseline = [(p['flops'], p['val_loss']) for p in frontier]
    return {'loss_gap_tokens': gap('tokens'), 'loss_gap_flops': gap('flops'),
            'reach_flops': reach, 'reach_at_most': at_most,
            'reach_flops_saved_pct': saving_pct(reach, ref['flops']),
            'largest_budget': max(p['budget'] for p in own),
            'budget_flops_saved_pct': {f"{p['budget']:g}": saving_pct(
                p['flops'], frontier_cost(baseline, p['val_loss'])) for p in own}}


def accuracy_saving(last, frontier):
    """FLOPs saved at the arm's final accuracy, for a model that reports one (ViT, BERT): the
    frontier read on accuracy as it is on the loss (higher is better, so negated); None without
    one."""
    if last.get('val_acc') is None:
        return None
    points = [(p['flops'], -p['val_acc']) for p in frontier]
    return saving_pct(last['flops'], frontier_cost(points, -last['val_acc']))


def summarize(name, log, reference, frontier, own=None, shared=False):
    """One arm at one seed: its final loss and costs, saved vs frontier, first reach, and the
    figures at the reference's loss from its own frontier `own` (at_reference; none without). With
    shared (runs trained side by side), no wall-time figures: the runs slowed each other."""
    last, ref = log[-1], reference[-1]
    def frontier_at(cost):
        return frontier_cost([(p[cost], p['val_loss']) for p in frontier], last['val_loss'])
    frontier_flops, frontier_time = frontier_at('flops'), frontier_at('time_s')
    reach = first_reach(log, ref['val_loss']) or (None, None)
    no_times = {'time_saved_pct': None, 'first_reach_time_saved_pct': None,
                'tokens_per_s_by_level': None}
    return {'name': name, 'final_val_loss': last['val_loss'], 'final_val_acc': last.get('val_acc'),
            'total_flops': last['flops'], 'total_time_s': last['time_s'],
            'frontier_flops': frontier_flops, 'frontier_time_s': frontier_time,
            'flops_saved_pct': saving_pct(last['flops'], frontier_flops),
            'time_saved_pct': saving_pct(last['time_s'], frontier_time),
            'acc_flops_saved_pct': accuracy_saving(last, frontier),
            'first_reach_flops_saved_pct': saving_pct(reach[0], ref['flops']),
            'first_reach_time_saved_pct': saving_pct(reach[1], ref['time_s']),
            'tokens_per_s_by_level': tokens_per_s_by_level(log),
            'level_changes': level_changes(log), **(no_times if shared else {}),
            **at_reference(own or [dict(last, budget=1.0)], ref, frontier)}


def level_changes(log):
    """What each level change of a run did to the validation loss: the loss just before, right
    after, and DIAGNOSTIC_STEPS (10 and 50) steps later, and the pair cosine right after and 50
    steps later where width grew (vcycle.py logs them)."""
    changes = []
    for a, b in zip(log, log[1:]):
        if b['stage'] != a['stage']:
            later = {r['step']: r for r in log if r['stage'] == b['stage']}
            changes.append({'change': f"{a['level']} -> {b['level']}", 'before': a['val_loss'],
                            'after': b['val_loss'], 'after_10': later.get(10, {}).get('val_loss'),
                            'after_50': later.get(50, {}).get('val_loss'),
                            'pair_cosine': b.get('pair_cosine'),
                            'pair_cosine_50': later.get(50, {}).get('pair_cosine')})
    return changes


SAVINGS = ('flops_saved_pct', 'time_saved_pct', 'first_reach_flops_saved_pct',
           'first_reach_time_saved_pct', 'reach_flops_saved_pct', 'acc_flops_saved_pct')
LOSS_GAPS = ('loss_gap_tokens', 'loss_gap_flops')  # lower is better: a missing one ranks highest


def median_range(values, missing=-math.inf):
    """(median, min, max) of per-seed figures where None (not reached, or off the frontier) ranks
    as `missing`, below every number by default: the median is None if more than half the seeds
    have none."""
    ranked = sorted(values, key=lambda v: missing if v is None else v)
    n = len(ranked)
    mid = ranked[n // 2] if n % 2 else (None if None in ranked[n // 2 - 1:n // 2 + 1]
                                         else (ranked[n // 2 - 1] + ranked[n // 2]) / 2)
    return mid, ranked[0], ranked[-1]


def aggregate(rows_by_seed):
    """Per arm: median, min and max over seeds of the final loss and of every saving, and the
    median of each level change's diagnostics."""
    names = list(dict.fromkeys(r['name'] for rows in rows_by_seed.values() for r in rows))
    summary = []
    for name in names:
        rows = [r for rows in rows_by_seed.values() for r in rows if r['name'] == name]
        entry = {'name': name, 'seeds': len(rows),
                 'first_reached': sum(r['first_reach_flops_saved_pct'] is not None for r in rows),
                 'reached': sum(r.get('reach_flops') is not None for r in rows),
                 'reached_at_most': sum(bool(r.get('reach_at_most')) for r in rows),
                 'largest_budget': max(r.get('largest_budget', 1.0) for r in rows)}
        def stats(values, missing=-math.inf):
            return dict(zip(('median', 'min', 'max'), median_range(values, missing)))
        for key in ('final_val_loss', 'final_val_acc', 'total_flops') + SAVINGS:
            entry[key] = stats([r.get(key) for r in rows])
        for key in LOSS_GAPS:
            entry[key] = stats([r.get(key) for r in rows], missing=math.inf)
        entry['budget_flops_saved_pct'] = {
            factor: stats([r['budget_flops_saved_pct'].get(factor) for r in rows])
            for factor in rows[0].get('budget_flops_saved_pct', {})}
        entry['level_changes'] = [  # each change's diagnostics, the median over the seeds
            {key: (changes[0][key] if key == 'change'
                   else median_range([c[key] for c in changes])[0]) for key in changes[0]}
            for changes in zip(*(r.get('level_changes', []) for r in rows))]
        summary.append(entry)
    return summary


def peak_flops(device):
    """The dense bf16 peak of a GPU named `device` (FLOP/s); None for a CPU or an unknown GPU."""
    return next((v for k, v in GPU_BF16_PEAK_FLOPS.items() if k in device), None)


def mfu(log, device):
    """Model FLOPs per second over the device's dense bf16 peak, at the median steady-state
    throughput (so torch.compile's first steps do not count); None for a CPU or an unknown GPU."""
    peak = peak_flops(device)
    rates = sorted(r['tokens_per_s'] for r in log if r['tokens_per_s'])
    if peak is None or not rates:
        return None
    flops_per_s = rates[len(rates) // 2] * log[-1]['flops'] / log[-1]['tokens']
    return {'device': device, 'peak_flops': peak, 'model_flops_per_s': flops_per_s,
            'mfu_pct': 100 * flops_per_s / peak}


def pct(v):
    return f"{v:5.1f}%" if v is not None else "   -  "


def gap(v):
    return f'{v:+.4f}' if v is not None else '   -   '


def print_seed(seed, rows, frontier):
    def lr(p):
        return f" (lr x{p['lr_factor']:g})" if p.get('lr_factor', 1) != 1 else ''
    print(f"\nseed {seed}: frontier (steps: final loss) " +
          ', '.join(f"{p['steps']}: {p['val_loss']:.4f}{lr(p)}" for p in frontier))
    print(f"{'arm':42s} {'final loss':>10s} {'FLOPs':>10s} {'frontier FLOPs':>14s} "
          f"{'FLOPs saved':>11s} {'time saved':>10s} {'first reach FLOPs/time saved':>28s}   "
          f"(b) gap at equal tokens, FLOPs; (c) saved at the reference's loss")
    for r in rows:
        frontier_flops = (f"{r['frontier_flops']:14.3e}" if r['frontier_flops']
                          else f"{'off frontier':>14s}")
        at_most = ' at least' if r.get('reach_at_most') else ''
        print(f"{r['name']:42s} {r['final_val_loss']:10.4f} {r['total_flops']:10.3e} "
              f"{frontier_flops} {pct(r['flops_saved_pct']):>11s} {pct(r['time_saved_pct']):>10s} "
              f"{pct(r['first_reach_flops_saved_pct']):>19s} "
              f"{pct(r['first_reach_time_saved_pct'])}   {gap(r.get('loss_gap_tokens'))}, "
              f"{gap(r.get('loss_gap_flops'))}; {pct(r.get('reach_flops_saved_pct'))}{at_most}")


def cell(stat, fmt=pct):
    """'median [min, max]' of a figure over seeds."""
    return f"{fmt(stat['median'])} [{fmt(stat['min'])}, {fmt(stat['max'])}]"


def print_summary(summary, seeds):
    def four(v):
        return f'{v:.4f}'
    print(f"\nover {len(seeds)} seed(s) {list(seeds)}: median [min, max]")
    print(f"{'arm':42s} {'final loss':>26s} {'FLOPs saved vs frontier':>26s} "
          f"{'time saved vs frontier':>26s} {'first reach FLOPs saved':>26s} {'reached':>7s}")
    for s in summary:
        accuracy = ''
        if s['final_val_acc']['max']:
            accuracy = (f"  val acc {cell(s['final_val_acc'], four)}, FLOPs saved at it "
                        f"{cell(s['acc_flops_saved_pct'])}")
        print(f"{s['name']:42s} {cell(s['final_val_loss'], four):>26s} "
              f"{cell(s['flops_saved_pct']):>26s} {cell(s['time_saved_pct']):>26s} "
              f"{cell(s['first_reach_flops_saved_pct']):>26s} "
              f"{s['first_reached']:>3d}/{s['seeds']}{accuracy}")


def print_at_reference(summary):
    """(a), (b) and (c) of every arm, median [min, max] over seeds, and (a) at each budget."""
    print("\nat the reference's loss, on each arm's own frontier: (a) FLOPs saved at its own final "
          "loss, (b) its loss minus the reference's at equal tokens and equal FLOPs, (c) FLOPs "
          "saved reaching the reference's loss")
    print(f"{'arm':42s} {'(a) saved, own loss':>26s} {'(b) gap, equal tokens':>28s} "
          f"{'(b) gap, equal FLOPs':>28s} {'(c) saved at ref loss':>26s} {'reached':>18s}")
    for s in summary:
        bound = f", {s['reached_at_most']} at most" if s['reached_at_most'] else ''
        print(f"{s['name']:42s} {cell(s['flops_saved_pct']):>26s} "
              f"{cell(s['loss_gap_tokens'], gap):>28s} {cell(s['loss_gap_flops'], gap):>28s} "
              f"{cell(s['reach_flops_saved_pct']):>26s} "
              f"{s['reached']:>3d}/{s['seeds']} within {s['largest_budget']:g}x{bound}")
        if len(s['budget_flops_saved_pct']) > 1:
            print(f"{'':42s} (a) at each budget: " + ', '.join(
                f"{f}x {cell(stat)}" for f, stat in s['budget_flops_saved_pct'].items()))


def print_level_changes(summary):
    def f(v):
        return f"{v:.3f}" if v is not None else '-'
    print("\nlevel changes, median over seeds: validation loss just before -> right after, 10 and "
          "50 steps later; pair cosine right after and 50 steps later (width growth)")
    for s in summary:
        for c in s['level_changes']:
            print(f"{s['name']:42s} {c['change']:>6s}  {f(c['before'])} -> {f(c['after'])}, "
                  f"{f(c['after_10'])}, {f(c['after_50'])}   cosine {f(c['pair_cosine'])}, "
                  f"{f(c['pair_cosine_50'])}")


def plot(runs, frontiers, names, path, shared=False, own=None):
    """Each arm's median validation loss over the seeds with the seeds' range as a band, against
    FLOPs and wall time (FLOPs alone when the runs shared the machine); dotted lines at level
    changes; the frontier's budgets as points, with each arm's saving at its median final loss
    marked on the frontier of the medians, and an arm's own frontier (own: {seed: {name: final log
    line of each budget factor}}) as points joined in its colour."""
    try:
        plt = pyplot()
    except ConfigError as e:
        print(f"no plot: {e}; results.json is written")
        return False
    import numpy as np
    panels = PANELS[:1] if shared else PANELS
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 5), squeeze=False)
    by_steps = {}
    for points in frontiers.values():
        for p in points:
            by_steps.setdefault(p['steps'], []).append(p)
    lowest = min([np.median([p['val_loss'] for p in v]) for v in by_steps.values()]
                 + [np.median([runs[s][n][-1]['val_loss'] for s in runs]) for n in names])
    for ax, (key, label) in zip(axes[0], panels):
        for name in names:
            logs = [runs[seed][name] for seed in runs]
            x = np.median([[r[key] for r in log] for log in logs], axis=0)
            y = np.array([[r['val_loss'] for r in log] for log in logs])
            line, = ax.plot(x, np.median(y, axis=0), label=name, lw=1.6)
            ax.fill_between(x, y.min(axis=0), y.max(axis=0), color=line.get_color(), alpha=0.2,
                            lw=0)
            mark_level_changes(ax, x, logs[0], line.get_color())
            points = [own[seed][name] for seed in runs if name in (own or {}).get(seed, {})]
            if points and len(points[0]) > 1:  # each budget factor's median over the seeds
                ax.plot(np.median([[p[key] for p in seed] for seed in points], axis=0),
                        np.median([[p['val_loss'] for p in seed] for seed in points], axis=0),
                        'o-', color=line.get_color(), ms=5, lw=1, label=f"{name} at " + ', '.join(
                            f"{p['budget']:g}x" for p in points[0]) + ' its budget')
        budgets = [by_steps[steps] for steps in sorted(by_steps)]
        fx = [np.median([p[key] for p in v]) for v in budgets]
        fy = [np.array([p['val_loss'] for p in v]) for v in budgets]
        spread = [[np.median(v) - v.min() for v in fy], [v.max() - np.median(v) for v in fy]]
        ax.errorbar(fx, [np.median(v) for v in fy], yerr=spread, fmt='ks--', ms=4, lw=1,
                    capsize=3, label='plain training to each budget: the frontier')
        for name in names[1:]:  # each arm's median end against the frontier's medians
            mark_saving(ax, np.median([runs[s][name][-1][key] for s in runs]),
                        np.median([runs[s][name][-1]['val_loss'] for s in runs]),
                        list(zip(fx, [np.median(v) for v in fy])))
        finish(ax, label, lowest, shown=0.8)
    fig.suptitle(f'validation loss: median over {len(runs)} seed(s), the band their range\narrows: '
                 f'the saving at the median final loss, read on the median frontier', fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def report(results, out):
    """Every arm's figures at every seed and over the seeds, printed, and the plot written to
    out/loss.png; returns results with 'rows', 'summary' and 'baseline_mfu' filled in."""
    seeds, logs, frontiers = results['seeds'], results['logs'], results['frontiers']
    shared = results.get('jobs', 1) > 1
    own = results.get('arm_frontiers', {})  # a bench from before arms had frontiers has none
    rows = {}
    for seed in seeds:
        reference = next(iter(logs[seed].values()))
        rows[seed] = [summarize(name, log, reference, frontiers[seed],
                                own.get(seed, {}).get(name), shared)
                      for name, log in logs[seed].items()]
        print_seed(seed, rows[seed], frontiers[seed])
    summary = aggregate(rows)
    baseline_mfu = None if shared else mfu(next(iter(logs[seeds[0]].values())), results['device'])
    print_summary(summary, seeds)
    print_at_reference(summary)
    print_level_changes(summary)
    if shared:
        print(f"{results['jobs']} runs trained side by side: their wall times slowed each other, "
              f"so no time figures")
    if baseline_mfu:
        print(f"baseline MFU {baseline_mfu['mfu_pct']:.1f}% of {baseline_mfu['device']} bf16 peak")
    names = [name for name in logs[seeds[0]] if not name.startswith('ablation')]
    if plot(logs, frontiers, names, Path(out) / 'loss.png', shared, own):
        print(f"plot: {Path(out) / 'loss.png'}")
    return dict(results, rows=rows, summary=summary, baseline_mfu=baseline_mfu)


def main(argv):
    if len(argv) != 1:
        raise ConfigError("give one bench folder, the out_dir of a bench: python report.py "
                          "bench-cpu")
    path = Path(argv[0]) / 'results.json'
    if not path.is_file():
        raise ConfigError(f"{path} not found: run the bench first (python bench.py), or name its "
                          f"out_dir")
    results = json.loads(path.read_text())
    results['seeds'] = [str(s) for s in results['seeds']]  # JSON keys are strings
    report(results, argv[0])


if __name__ == '__main__':
    help = commandline.help_text(__doc__, {'--help, -h': 'this text'}, '')
    sys.exit(commandline.command(sys.argv[1:], main, help))
