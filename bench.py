"""Benchmark: the V-cycle against plain training and plain growth, at equal validation loss, over seeds.

    python bench.py                          # config/bench_cpu.py, one seed (about 15 minutes on 2 cores)
    python bench.py --seeds=5                # seeds 1337 .. 1341, medians and ranges (about 80 minutes)
    python bench.py --seeds=1337,7,42        # these seeds
    python bench.py --sweep --seeds=3        # first choose every arm's peak lr by the median over seeds
    python bench.py --ablation --seeds=5     # one setting of the main V-cycle changed at a time
    python bench.py config/bench_gpu.py      # the GPU recipe (bf16, torch.compile), with MFU

Arguments: train.py config files, each a V-cycle arm (the first, the main one, sets the budget,
out_dir and ablations), then --key=value overrides for every arm, and bench's own flags
(--seeds, --sweep, --ablation, --baseline_lr). At every seed, each run trains in this process,
one after the other; a seed fixes the data order, the evaluation batches and the initialization,
the same in every arm. The arms of one seed:
  - the reference baseline: M_1 alone on as many tokens as the main V-cycle, its own warmup and
    cosine decay (the authors' GPT-2 recipe pits 100K baseline steps against 5K + 50K + 50K);
  - each V-cycle, and its growth peer (growth_of: the same cycle with no steps on the way down and
    alpha = 1, so the small model trains from the start and the big one never returns);
  - the frontier: the baseline trained to completion at several budgets, from half the main
    V-cycle's FLOPs up to past every arm's final loss (extended, never extrapolated).
Reported per seed and, per arm, as median [min, max] over seeds:
  - saved vs frontier: 1 - FLOPs(arm) / FLOPs the frontier needs for the arm's final loss,
    interpolated on log FLOPs; training wall time the same way;
  - first reach: the FLOPs and wall time at which the arm's full model first reaches the reference
    baseline's final loss, against the reference's totals (not reached: no figure).
Results go to out_dir/results.json (every run's log) and, with matplotlib, out_dir/loss.png. A run
whose folder already holds a finished run of the same config is read, not trained again: an
interrupted bench, or one that adds arms or seeds, trains only what is missing (delete out_dir to
measure everything afresh). Each arm's folder names its recipe, and the baseline ignores the
settings that act only at a level change, so recipes on the same M_1 and data (config/bench_cpu.py and
its variants on 4 x 128) share one baseline and frontier in one out_dir; config/bench_cpu_wd_256.py,
on a bigger M_1, has its own.
"""
import json
import math
import re
import sys
import time
from dataclasses import asdict, fields, replace
from pathlib import Path

import torch

import train
from vcycle import plan_stages

GPU_BF16_PEAK_FLOPS = {'H100 SXM': 989e12, 'H100 80GB HBM3': 989e12, 'H100 PCIe': 756e12, 'H100 NVL': 835e12,
                       'H200': 989e12, 'A100': 312e12, 'L4': 121e12, 'RTX 4090': 165e12, 'A10G': 70e12}
SWEEP_FACTORS = (0.5, 0.7, 1.0, 1.4, 2.0)
# The frontier's budgets: these fractions of the main V-cycle's FLOPs and the reference baseline, then
# each 1.4 times the largest until there are at least 4 and the frontier passes every arm's final loss.
FRONTIER_FRACTIONS = (0.5, 0.8)
FRONTIER_MIN_BUDGETS, FRONTIER_GROWTH, FRONTIER_MAX_EXTENSIONS = 4, 1.4, 5
DEFAULT_CONFIGS = ['config/bench_cpu.py']
BASELINE_LR = {'config/bench_cpu.py': 5.6e-3}  # the baseline's peak lr, as chosen by --sweep (README)


# -- the arms ------------------------------------------------------------------------------------

# Settings that only act at a level change: a baseline (one level) gets their defaults, so every
# recipe on the same M_1, data and batch shares one baseline and frontier in a shared out_dir.
LEVEL_CHANGE_SETTINGS = ('small_init', 'depth_pairing', 'coalesce_width', 'coalesce_depth', 'depth_copies',
                         'split_skew', 'split_noise', 'carry_optimizer', 'decay_every_stage')


def baseline_of(cfg, lr, steps, out_dir, eval_interval=None):
    """Plain training of M_1 for `steps` steps, with its own warmup and full cosine decay."""
    defaults = {f.name: f.default for f in fields(train.Config) if f.name in LEVEL_CHANGE_SETTINGS}
    return replace(cfg, levels=1, up_steps=(steps,), down_steps=(), lr=(lr,), alpha=(), transition_warmup=(),
                   out_dir=str(out_dir), eval_interval=eval_interval or cfg.eval_interval, **defaults)


GROWTH_SPLIT_NOISE = 0.1  # growth's symmetry breaking for width when the recipe sets none


def growth_of(cfg):
    """Plain growth as a setting of the same V-cycle: no steps on the way down, every smaller level
    from its own initialization (small_init='own'), and alpha = 1 (the grown model alone, never the
    kept one). The steps the V-cycle spends on the way down move to the same level's stage on the
    way up, so the FLOPs and tokens are the same. Grown in width with nothing to interpolate with,
    each pair of copied neurons would get equal gradients and stay equal for good, so growth breaks
    the symmetry with function-preserving split noise (as HyperCloning does) if the recipe has none."""
    noise = cfg.split_noise or (GROWTH_SPLIT_NOISE if cfg.coalesce_width else 0.0)
    return replace(cfg, **moved_down_steps(cfg, 0), alpha=(1.0,) * (cfg.levels - 1), small_init='own', split_noise=noise)


def moved_down_steps(c, factor):
    """E_a times factor at every level, the difference moved to the same level's stage on the way
    up: the same steps at every level, so the same FLOPs."""
    down = tuple(round(d * factor) for d in c.down_steps)
    return dict(down_steps=down, up_steps=tuple(u + d - n for u, d, n in zip(c.up_steps, c.down_steps + (0,), down + (0,))))


def total_steps(cfg):
    return sum(s.steps for s in plan_stages(cfg))


def finished_log(cfg):
    """The log of a finished run of exactly cfg in cfg.out_dir, or None."""
    out = Path(cfg.out_dir)
    if not (out / 'config.json').exists() or not (out / 'log.jsonl').exists():
        return None
    same = json.loads((out / 'config.json').read_text()) == json.loads(json.dumps(asdict(cfg)))
    log = [json.loads(line) for line in (out / 'log.jsonl').read_text().splitlines()]
    return log if same and log and log[-1]['iter'] == total_steps(cfg) else None


def train_arm(cfg, name):
    """Train cfg and return its log; a finished run of the same config in its out_dir is read
    instead of trained again (so an interrupted bench, or one adding arms, redoes only what is missing)."""
    log = finished_log(cfg)
    print(f"\n=== {name}: seed {cfg.seed}, {cfg.levels} level(s), out_dir {cfg.out_dir}"
          + (' (finished before: read, not trained)' if log else ''), flush=True)
    if log is None:
        train.run(cfg)
        log = finished_log(cfg)
    return log


# -- reading the logs ----------------------------------------------------------------------------

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


def mfu(log, cfg):
    """Model FLOPs per second over the GPU's bf16 peak, at the median steady-state throughput (so
    torch.compile's first steps do not count); None off CUDA or for an unknown GPU."""
    if not torch.cuda.is_available() or cfg.device == 'cpu':
        return None
    name = torch.cuda.get_device_name()
    peak = next((v for k, v in GPU_BF16_PEAK_FLOPS.items() if k in name), None)
    rates = sorted(r['tokens_per_s'] for r in log if r['tokens_per_s'])
    if peak is None or not rates:
        return None
    flops_per_s = rates[len(rates) // 2] * log[-1]['flops'] / log[-1]['tokens']
    return {'device': name, 'peak_flops': peak, 'model_flops_per_s': flops_per_s, 'mfu_pct': 100 * flops_per_s / peak}


# -- printing and plotting -----------------------------------------------------------------------

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


def scaled_lr(c, factor, from_level=1):
    """The peak lr of levels from_level .. k times factor (3 significant digits)."""
    return dict(lr=tuple(float(f'{v * factor:.3g}') if level >= from_level else v for level, v in enumerate(c.lr, 1)))


ABLATIONS = {  # name: the settings that differ from those of the main V-cycle c
    'alpha-0': lambda c: dict(alpha=0.0), 'alpha-0.25': lambda c: dict(alpha=0.25),
    'alpha-0.5': lambda c: dict(alpha=0.5), 'alpha-0.75': lambda c: dict(alpha=0.75), 'alpha-1': lambda c: dict(alpha=1.0),
    'E_a-half': lambda c: moved_down_steps(c, 0.5), 'E_a-double': lambda c: moved_down_steps(c, 2.0),
    'lr-x0.7': lambda c: scaled_lr(c, 0.7), 'lr-x1.4': lambda c: scaled_lr(c, 1.4),
    'lr-small-x0.5': lambda c: scaled_lr(c, 0.5, from_level=2), 'lr-small-x2': lambda c: scaled_lr(c, 2, from_level=2),
    'pairing-adjacent': lambda c: dict(depth_pairing='adjacent'),
    'width-only': lambda c: dict(coalesce_width=True, coalesce_depth=False),
    'depth-only': lambda c: dict(coalesce_width=False, coalesce_depth=True),
    'width-and-depth': lambda c: dict(coalesce_width=True, coalesce_depth=True),
    'copies-full': lambda c: dict(depth_copies='full'),
    'decay-every-stage': lambda c: dict(decay_every_stage=True),
    'carry-optimizer': lambda c: dict(carry_optimizer=not c.carry_optimizer),
    'split-noise-0.1': lambda c: dict(split_noise=0.1), 'split-skew-0.2': lambda c: dict(split_skew=0.2),
}


def ablation_arms(cfg, file, overrides, names):
    """(name, config) of the named ablations (all if names is None) that differ from the main
    V-cycle cfg: each changes one setting of it and keeps the rest, its learning rates too."""
    unknown = set(names or ()) - set(ABLATIONS)
    if unknown:
        raise train.ConfigError(f"unknown ablation {sorted(unknown)[0]!r}: choose from {', '.join(ABLATIONS)}")
    arms = []
    for name in names or ABLATIONS:
        changes = ABLATIONS[name](cfg)
        variant = train.parse_args([file] + overrides + [f'--lr={cfg.lr}'] + [f'--{k}={v!r}' for k, v in changes.items()])
        if all(getattr(variant, k) == getattr(cfg, k) for k in changes):
            continue  # the main V-cycle is this variant
        arms.append((f'ablation: {name} ({Path(file).stem})', replace(variant, overwrite=True)))
    return arms


# -- the benchmark -------------------------------------------------------------------------------

def slug(name):
    """A folder name for an arm's name: 'V-cycle, 2 levels (bench_cpu)' -> 'V-cycle_2_levels_bench_cpu'."""
    return re.sub(r'[^\w.-]+', '_', name).strip('_')


def run_seed(cfg, arms, baseline_lr, seed, out):
    """Every arm and the frontier at one seed: (logs by arm name, frontier points)."""
    out = out / f'seed{seed}'
    reference_steps = total_steps(cfg)
    reference_name = f'baseline, lr {baseline_lr:g}'
    logs = {reference_name: train_arm(baseline_of(replace(cfg, seed=seed), baseline_lr, reference_steps,
                                                  out / 'baseline'), reference_name)}
    for name, c in arms:
        logs[name] = train_arm(replace(c, seed=seed, out_dir=str(out / slug(name))), name)
    frontier = [dict(steps=reference_steps, **logs[reference_name][-1])]

    def train_budget(steps):
        log = train_arm(baseline_of(replace(cfg, seed=seed), baseline_lr, steps, out / f'frontier{steps}',
                                    eval_interval=steps), f'frontier, {steps} steps')
        frontier.append(dict(steps=steps, **log[-1]))

    flops_per_step = logs[reference_name][-1]['flops'] / reference_steps
    for fraction in FRONTIER_FRACTIONS:
        train_budget(round(fraction * logs[arms[0][0]][-1]['flops'] / flops_per_step))
    best_arm = min(log[-1]['val_loss'] for log in logs.values())
    for _ in range(FRONTIER_MAX_EXTENSIONS):  # extend until the frontier passes every arm's final loss
        if len(frontier) >= FRONTIER_MIN_BUDGETS and min(p['val_loss'] for p in frontier) <= best_arm:
            break
        train_budget(round(max(p['steps'] for p in frontier) * FRONTIER_GROWTH))
    return logs, sorted(frontier, key=lambda p: p['steps'])


def median_final_loss(cfg, seeds, out):
    finals = [train_arm(replace(cfg, seed=s, out_dir=str(out / f'seed{s}')), f'sweep, lr {cfg.lr}')[-1]['val_loss']
              for s in seeds]
    return median_range(finals)[0]


def sweep_lr(cfg, seeds, out):
    """Each level's peak lr in turn (level 1 first), times SWEEP_FACTORS, the others held: the
    factor with the lowest median final loss over the seeds wins. Returns (lr tuple, table)."""
    lr, table = cfg.lr, {}
    for level in range(cfg.levels):
        tried = {}
        for factor in SWEEP_FACTORS:
            trial = tuple(float(f'{v * factor:.3g}') if i == level else v for i, v in enumerate(lr))
            if trial not in table:
                table[trial] = median_final_loss(replace(cfg, lr=trial), seeds, out / ('lr' + '_'.join(map(str, trial))))
            tried[trial] = table[trial]
        lr = min(tried, key=tried.get)
    print(f"sweep (peak lr: median final loss over seeds {seeds}):", {k: round(v, 4) for k, v in table.items()},
          '-> best', lr)
    return lr, {','.join(map(str, k)): v for k, v in table.items()}


FLAGS = {  # bench's own flags; every other --key=value is a train.py setting applied to every arm
    '--seeds=N or S1,S2,..': 'N seeds from --seed on (seed, seed + 1, ...) or these seeds; every arm and the '
                             'frontier train at every seed (default: the one --seed)',
    '--sweep': f"first choose each arm's peak lr (each level's in turn, times {', '.join(map(str, SWEEP_FACTORS))})"
               " and the baseline's by the lowest median final loss over the seeds",
    '--ablation[=A,B,..]': 'add the ablation arms, all or those named: the main V-cycle with one setting changed '
                           f"({', '.join(ABLATIONS)})",
    '--baseline_lr=X': "the baseline's peak lr (default: BASELINE_LR for the recipe, else its level-1 lr)",
    '--help, -h': 'this text',
}


def parse_bench_args(argv):
    """(config files, --key=value overrides, flags, seeds, baseline lr or None, bench's --flag=value values)."""
    own = {re.match(r'--\w+', flag).group() for flag in FLAGS}
    mine = [a for a in argv if a.split('=')[0] in own]
    flags = {a for a in mine if '=' not in a}
    values = dict(a[2:].split('=', 1) for a in mine if '=' in a)
    overrides = [a for a in argv if a.startswith('--') and a not in mine]
    files = [a for a in argv if not a.startswith('--')] or DEFAULT_CONFIGS
    cfg = train.parse_args([files[0]] + overrides)
    try:
        text = values.get('seeds', '1')
        seeds = [int(s) for s in text.split(',')] if ',' in text else [cfg.seed + i for i in range(int(text))]
    except ValueError:
        seeds = []
    if not seeds or len(set(seeds)) != len(seeds):
        raise train.ConfigError(f"--seeds={values['seeds']} must be a count such as 5 or a list of distinct "
                                f"seeds such as 1337,1,2")
    baseline_lr = float(values['baseline_lr']) if 'baseline_lr' in values else None
    return files, overrides, flags, seeds, baseline_lr, values


def main(argv):
    files, overrides, flags, seeds, baseline_lr, values = parse_bench_args(argv)
    configs = [replace(train.parse_args([f] + overrides), overwrite=True) for f in files]
    for c in configs:
        train.check_config(c)
    out = Path(configs[0].out_dir)
    out.mkdir(parents=True, exist_ok=True)
    arms = [(f'V-cycle, {c.levels} levels ({Path(f).stem})', c) for f, c in zip(files, configs)]
    arms.append((f'growth ({Path(files[0]).stem})', growth_of(configs[0])))
    baseline_lr = baseline_lr or BASELINE_LR.get(files[0], configs[0].lr[0])
    results = {'command': 'python bench.py ' + ' '.join(argv), 'date': time.strftime('%Y-%m-%d'), 'seeds': seeds,
               'device': torch.cuda.get_device_name() if torch.cuda.is_available() and configs[0].device != 'cpu'
               else f'cpu ({torch.get_num_threads()} threads)'}
    if '--sweep' in flags:
        reference = baseline_of(configs[0], baseline_lr, total_steps(configs[0]), out)
        (baseline_lr,), results['sweep baseline'] = sweep_lr(reference, seeds, out / 'sweep_baseline')
        for i, (name, c) in enumerate(arms):
            lr, results[f'sweep {name}'] = sweep_lr(c, seeds, out / f'sweep_{slug(name)}')
            arms[i] = (name, replace(c, lr=lr))
    cfg = arms[0][1]  # the main V-cycle: it sets the budget, the out_dir and the ablations
    if '--ablation' in flags or 'ablation' in values:
        arms += ablation_arms(cfg, files[0], overrides, values['ablation'].split(',') if 'ablation' in values else None)
    results.update(baseline_lr=baseline_lr, arm_lr={name: c.lr for name, c in arms})

    logs, frontiers, rows = {}, {}, {}
    for seed in seeds:
        logs[seed], frontiers[seed] = run_seed(cfg, arms, baseline_lr, seed, out)
        reference = next(iter(logs[seed].values()))
        rows[seed] = [summarize(name, log, reference, frontiers[seed]) for name, log in logs[seed].items()]
        print_seed(seed, rows[seed], frontiers[seed])

    summary = aggregate(rows)
    results.update(summary=summary, rows=rows, frontiers=frontiers, logs=logs,
                   baseline_mfu=mfu(next(iter(logs[seeds[0]].values())), cfg))
    (out / 'results.json').write_text(json.dumps(results, indent=1) + '\n')
    print_summary(summary, seeds)
    if results['baseline_mfu']:
        print(f"baseline MFU {results['baseline_mfu']['mfu_pct']:.1f}% of {results['baseline_mfu']['device']} bf16 peak")
    names = [name for name in logs[seeds[0]] if not name.startswith('ablation')]
    if plot(logs, frontiers, names, out / 'loss.png'):
        print(f"plot: {out / 'loss.png'}")
    print(f"results: {out / 'results.json'}")
    return results


def cli(argv):
    return train.command(argv, main, train.help_text(__doc__, FLAGS, train.settings_help(train.Config)))


if __name__ == '__main__':
    sys.exit(cli(sys.argv[1:]))
