"""Benchmark: the V-cycle against plain training and plain growth, at equal validation loss, over seeds.

    python bench.py                          # config/bench_cpu.py, one seed (about 15 minutes on 2 cores)
    python bench.py --n_seeds=5              # seeds 1337 .. 1341, medians and ranges (about 80 minutes)
    python bench.py --seed=1338              # one seed, 1338
    python bench.py --sweep --n_seeds=3      # first choose every arm's peak lr by the median over seeds
    python bench.py --ablation=all --n_seeds=5   # one setting of the main V-cycle changed at a time
    python bench.py config/bench_gpu.py      # the GPU recipe (bf16, torch.compile), with MFU
    python report.py bench-cpu               # the tables and the plot again, from bench-cpu/results.json

Arguments: train.py config files, each a V-cycle arm (the first, the main one, sets the budget,
out_dir and ablations), then --key=value settings: the bench's own (below) and train.py's, which
apply to every arm. At every seed, each run trains in this process, one after the other; a seed
fixes the data order, the evaluation batches and the initialization, the same in every arm.
The arms of one seed:
  - the reference baseline: M_1 alone on as many tokens as the main V-cycle at the recipe's
    baseline_lr, with its own warmup and cosine decay (train.baseline_of; the authors' GPT-2 recipe
    pits 100K baseline steps against 5K + 50K + 50K);
  - each V-cycle, and its growth peer (growth_of: the same cycle with no steps on the way down and
    alpha = 1, so the small model trains from the start and the big one never returns);
  - the frontier: the baseline trained to completion at several budgets, from half the main
    V-cycle's FLOPs up to past every arm's final loss (extended, never extrapolated).
report.py turns the logs into the figures: saved vs frontier and first reach, per seed and as
median [min, max] over seeds. Results go to out_dir/results.json (every run's log) and, with
matplotlib, out_dir/loss.png. A run whose folder already holds a finished run of the same config is
read, not trained again: an interrupted bench, or one that adds arms or seeds, trains only what is
missing (delete out_dir to measure everything afresh). Each arm's folder names its recipe, and a
baseline has no level changes, so recipes on the same M_1 and data (config/bench_cpu.py and its
variants on 4 x 128) share one baseline and frontier in one out_dir; config/bench_cpu_wd_256.py,
on a bigger M_1, has its own.
"""
import json
import re
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

import commandline
import report
import train
from commandline import ConfigError
from vcycle import plan_stages

SWEEP_FACTORS = (0.5, 0.7, 1.0, 1.4, 2.0)
# The frontier's budgets: these fractions of the main V-cycle's FLOPs and the reference baseline, then
# each 1.4 times the largest until there are at least 4 and the frontier passes every arm's final loss.
FRONTIER_FRACTIONS = (0.5, 0.8)
FRONTIER_MIN_BUDGETS, FRONTIER_GROWTH, FRONTIER_MAX_EXTENSIONS = 4, 1.4, 5
DEFAULT_CONFIGS = ['config/bench_cpu.py']


@dataclass
class BenchSettings:
    n_seeds: int = 1                # train every arm at seeds seed, seed + 1, ... (seed: train.py's --seed)
    sweep: bool = False             # first choose each arm's peak lr and the baseline's (see SWEEP_FACTORS)
    ablation: str = ''              # add ablation arms: 'all', or names separated by commas (see ABLATIONS)


# -- the arms ------------------------------------------------------------------------------------

GROWTH_SPLIT_NOISE = 0.1  # growth's symmetry breaking for width when the recipe sets none


def growth_of(cfg):
    """Plain growth as a setting of the same V-cycle: no steps on the way down, every smaller level
    from its own initialization (small_init='own'), and alpha = 1 (the grown model alone, never the
    kept one). The steps the V-cycle spends on the way down move to the same level's stage on the
    way up, so the FLOPs and tokens are the same. Grown in width with nothing to interpolate with,
    each pair of copied neurons would get equal gradients and stay equal for good, so growth breaks
    the symmetry with function-preserving split noise (as HyperCloning does) if the recipe has none."""
    noise = tuple(n or (GROWTH_SPLIT_NOISE if w else 0.0) for n, w in zip(cfg.split_noise, cfg.coalesce_width))
    changes = cfg.levels - 1
    return replace(cfg, **moved_down_steps(cfg, 0), alpha=(1.0,) * changes, small_init=('own',) * changes,
                   split_noise=noise)


def moved_down_steps(c, factor):
    """E_a times factor at every level, the difference moved to the same level's stage on the way
    up: the same steps at every level, so the same FLOPs."""
    down = tuple(round(d * factor) for d in c.down_steps)
    return dict(down_steps=down, up_steps=tuple(u + d - n for u, d, n in zip(c.up_steps, c.down_steps + (0,), down + (0,))))


def total_steps(cfg):
    return sum(s.steps for s in plan_stages(cfg))


def scaled_lr(c, factor, from_level=1):
    """The peak lr of levels from_level .. k times factor (3 significant digits)."""
    return dict(lr=tuple(float(f'{v * factor:.3g}') if level >= from_level else v for level, v in enumerate(c.lr, 1)))


ABLATIONS = {  # name: the settings that differ from those of the main V-cycle, or a function of it giving them
    **{f'alpha-{a:g}': dict(alpha=a) for a in (0, 0.25, 0.5, 0.75, 1)},
    'E_a-half': lambda c: moved_down_steps(c, 0.5), 'E_a-double': lambda c: moved_down_steps(c, 2.0),
    'lr-x0.7': lambda c: scaled_lr(c, 0.7), 'lr-x1.4': lambda c: scaled_lr(c, 1.4),
    'lr-small-x0.5': lambda c: scaled_lr(c, 0.5, from_level=2), 'lr-small-x2': lambda c: scaled_lr(c, 2, from_level=2),
    'pairing-adjacent': dict(depth_pairing='adjacent'),
    'width-only': dict(coalesce_width=True, coalesce_depth=False),
    'depth-only': dict(coalesce_width=False, coalesce_depth=True),
    'width-and-depth': dict(coalesce_width=True, coalesce_depth=True),
    'copies-full': dict(depth_copies='full'),
    'decay-every-stage': dict(decay_every_stage=True),
    'carry-optimizer': lambda c: dict(carry_optimizer=tuple(not v for v in c.carry_optimizer)),
    'split-noise-0.1': dict(split_noise=0.1), 'split-skew-0.2': dict(split_skew=0.2),
}


def ablation_arms(cfg, file, overrides, names):
    """(name, config) of the named ablations (all if names is None) that differ from the main
    V-cycle cfg: each changes one setting of it and keeps the rest, its learning rates too."""
    unknown = set(names or ()) - set(ABLATIONS)
    if unknown:
        raise ConfigError(f"unknown ablation {sorted(unknown)[0]!r}: choose from {', '.join(ABLATIONS)}")
    arms = []
    for name in names or ABLATIONS:
        changes = ABLATIONS[name](cfg) if callable(ABLATIONS[name]) else ABLATIONS[name]
        variant = train.parse_args([file] + overrides + [f'--lr={cfg.lr}'] + [f'--{k}={v!r}' for k, v in changes.items()])
        if variant == replace(cfg, overwrite=variant.overwrite):
            continue  # the main V-cycle is this variant
        arms.append((f'ablation: {name} ({Path(file).stem})', replace(variant, overwrite=True)))
    return arms


# -- the runs ------------------------------------------------------------------------------------

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


def slug(name):
    """A folder name for an arm's name: 'V-cycle, 2 levels (bench_cpu)' -> 'V-cycle_2_levels_bench_cpu'."""
    return re.sub(r'[^\w.-]+', '_', name).strip('_')


def run_seed(cfg, arms, seed, out):
    """Every arm and the frontier at one seed: (logs by arm name, frontier points)."""
    out = out / f'seed{seed}'
    cfg = replace(cfg, seed=seed)
    reference_steps = total_steps(cfg)
    reference_name = f'baseline, lr {train.baseline_of(cfg, 1, out).lr[0]:g}'
    logs = {reference_name: train_arm(train.baseline_of(cfg, reference_steps, out / 'baseline'), reference_name)}
    for name, c in arms:
        logs[name] = train_arm(replace(c, seed=seed, out_dir=str(out / slug(name))), name)
    frontier = [dict(steps=reference_steps, **logs[reference_name][-1])]

    def train_budget(steps):
        log = train_arm(train.baseline_of(cfg, steps, out / f'frontier{steps}', eval_interval=steps),
                        f'frontier, {steps} steps')
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
    return report.median_range(finals)[0]


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


def parse_bench_args(argv):
    """(bench settings, config files, train.py --key=value overrides, the main V-cycle's Config)."""
    mine, rest = commandline.split_settings(BenchSettings, argv)
    settings = commandline.parse_settings(BenchSettings, mine)
    if settings.n_seeds < 1:
        raise ConfigError(f"n_seeds must be at least 1, got {settings.n_seeds}")
    files = [a for a in rest if not a.startswith('--')] or DEFAULT_CONFIGS
    overrides = [a for a in rest if a.startswith('--')]
    return settings, files, overrides


def main(argv):
    settings, files, overrides = parse_bench_args(argv)
    configs = [replace(train.parse_args([f] + overrides), overwrite=True) for f in files]
    for c in configs:
        train.check_config(c)
    out = Path(configs[0].out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seeds = [configs[0].seed + i for i in range(settings.n_seeds)]
    arms = [(f'V-cycle, {c.levels} levels ({Path(f).stem})', c) for f, c in zip(files, configs)]
    arms.append((f'growth ({Path(files[0]).stem})', growth_of(configs[0])))
    results = {'command': 'python bench.py ' + ' '.join(argv), 'date': time.strftime('%Y-%m-%d'), 'seeds': seeds,
               'device': torch.cuda.get_device_name() if torch.cuda.is_available() and configs[0].device != 'cpu'
               else f'cpu ({torch.get_num_threads()} threads)'}
    if settings.sweep:
        reference = train.baseline_of(configs[0], total_steps(configs[0]), out)
        (baseline_lr,), results['sweep baseline'] = sweep_lr(reference, seeds, out / 'sweep_baseline')
        for i, (name, c) in enumerate(arms):
            lr, results[f'sweep {name}'] = sweep_lr(c, seeds, out / f'sweep_{slug(name)}')
            arms[i] = (name, replace(c, lr=lr, baseline_lr=baseline_lr))
    cfg = arms[0][1]  # the main V-cycle: it sets the budget, the out_dir, the baseline and the ablations
    if settings.ablation:
        names = None if settings.ablation == 'all' else settings.ablation.split(',')
        arms += ablation_arms(cfg, files[0], overrides, names)
    results.update(baseline_lr=train.baseline_of(cfg, 1, out).lr[0], arm_lr={name: c.lr for name, c in arms})
    results['logs'], results['frontiers'] = {}, {}
    for seed in seeds:
        results['logs'][seed], results['frontiers'][seed] = run_seed(cfg, arms, seed, out)
    results = report.report(results, out)
    (out / 'results.json').write_text(json.dumps(results, indent=1) + '\n')
    print(f"results: {out / 'results.json'}")
    return results


FLAGS = {'--help, -h': 'this text'}


def cli(argv):
    help = commandline.help_text(__doc__, FLAGS, commandline.settings_help(BenchSettings) + '\n'
                                 + commandline.settings_help(train.Config))
    return commandline.command(argv, main, help)


if __name__ == '__main__':
    sys.exit(cli(sys.argv[1:]))
