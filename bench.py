"""Benchmark: the V-cycle against plain training and plain growth, at equal validation loss, over
seeds.

    python bench.py                          # config/bench_cpu.py, one seed (15 minutes on 2 cores)
    python bench.py --n_seeds=5              # seeds 1337 .. 1341, medians and ranges (80 minutes)
    python bench.py --seed=1338              # one seed, 1338
    python bench.py --sweep --n_seeds=3      # first choose each arm's peak lr (median of seeds)
    python bench.py --ablation=all --n_seeds=5   # one setting of the main V-cycle changed at a time
    python bench.py --budgets=1,1.3,1.6 --frontier_lrs=0.7,1,1.4   # what reaching the baseline's
                                             # loss costs, on each arm's own frontier
    python bench.py config/bench_gpu.py      # the GPU recipe (bf16, torch.compile), with MFU
    python report.py bench-cpu               # the tables and the plot again, from its results.json
    python bench.py config/gpt2_small.py --speed   # each level's speed and MFU, on random tokens

Arguments: train.py config files, each a V-cycle arm (the first, the main one, sets the budget,
out_dir and ablations), then --key=value settings: the bench's own (below) and train.py's, which
apply to every arm. At every seed, each run trains in this process, one after the other (or
`jobs` side by side, pool.py); a seed fixes the data order, the evaluation batches and the
initialization, the same in every arm. The arms of one seed:
  - the reference baseline (baseline.py): M_1 alone on as many tokens as the main V-cycle at the
    recipe's baseline_lr, with its own warmup and its decay over the last baseline_decay of its
    steps (the authors' GPT-2 recipe pits 100K baseline steps against 5K + 50K + 50K);
  - each V-cycle, and its growth peer (growth_of: the same cycle with no steps on the way down and
    alpha = 1, so the small model trains from the start and the big one never returns);
  - the frontier: the baseline trained to completion at several budgets, FRONTIER_RATIO apart,
    from the cheapest arm's FLOPs up to the largest budget factor's tokens, and on past every
    arm's final loss (extended, never extrapolated), each budget at baseline_lr times each of
    frontier_lrs, the lr with the lowest median final loss over the seeds kept (the best lr shifts
    with the budget);
  - with budgets, every arm also trained at those multiples of its budget (train.py's budget:
    every stage's steps and decay_steps scaled): the arm's own frontier.
report.py turns the logs into the figures: saved vs frontier, first reach, and on each arm's own
frontier the loss gaps and the cost of reaching the reference's loss, per seed and as median [min,
max] over seeds. Results go to out_dir/results.json (every run's log) and, with
matplotlib, out_dir/loss.png. A run whose folder already holds a finished run of the same config is
read, not trained again: an interrupted bench, or one that adds arms or seeds, trains only what is
missing (delete out_dir to measure everything afresh). Each arm's folder names its recipe, and a
baseline has no level changes, so recipes on the same M_1 and data (config/bench_cpu.py and its
variants on 4 x 128) share one baseline and frontier in one out_dir; config/bench_cpu_wd_256.py,
on a bigger M_1, has its own.
"""
import json
import math
import re
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

import commandline
import report
import train
from baseline import baseline_folder, baseline_name, baseline_of, peak_lr
from commandline import ConfigError
from pool import planned_flops, threads_per_run, train_all
from schedule import plan_table, stage_costs, total_steps
from speed import measure_speed

SWEEP_FACTORS = (0.5, 0.7, 1.0, 1.4, 2.0)
SWEEP_BASELINE_DECAYS = (0.0, 0.2)  # --sweep: the baseline's schedules, cosine over all, and WSD
# The frontier's budgets: the reference's steps times FRONTIER_RATIO ** j, from the cheapest run of
# any arm up, at least 4 with the reference, and then one more at a time until the frontier passes
# every arm's final loss (at most 8).
FRONTIER_RATIO, FRONTIER_MIN_BUDGETS, FRONTIER_MAX_BUDGETS = 1.25, 4, 8
DEFAULT_CONFIGS = ['config/bench_cpu.py']


@dataclass
class BenchSettings:
    n_seeds: int = 1                # every arm at seed, seed + 1, ... (seed: train.py's --seed)
    sweep: bool = False             # first choose each arm's peak lr, and the baseline's lr and
                                    # schedule (SWEEP_*)
    ablation: str = ''              # add ablation arms: 'all', or names separated by commas, a+b
                                    # for both at once (see ABLATIONS)
    jobs: int = 1                   # runs trained at once, each its own process; their wall times
                                    # are then shared
    threads: int = 0                # with jobs > 1, torch threads per run (0: the cores / jobs)
    plan: bool = False              # print every arm's stages and FLOPs, the frontier's budgets,
                                    # the total; train nothing
    growth: bool = True             # train the main V-cycle's growth peer too
    budgets: tuple[float, ...] = (1.0,)  # every arm trained at these multiples of its budget (1: as
                                    # the recipe is written): the arm's own frontier
    frontier_lrs: tuple[float, ...] = (1.0,)  # each frontier budget trained at baseline_lr times
                                    # each of these, the lr with the lowest median final loss kept
    speed: bool = False             # only measure each level's training speed, on random tokens
                                    # (speed.py)
    speed_steps: int = 20           # --speed: steps timed per level, after speed.UNTIMED_STEPS


# -- the arms ------------------------------------------------------------------------------------

GROWTH_SPLIT_NOISE = 0.1  # growth's symmetry breaking for width when the recipe sets none


def growth_of(cfg):
    """Plain growth as a setting of the same V-cycle: no steps on the way down, every smaller level
    from its own initialization (small_init='own'), and alpha = 1 (the grown model alone, never the
    kept one). The steps the V-cycle spends on the way down move to the same level's stage on the
    way up, so the FLOPs and tokens are the same. Grown in width with nothing to interpolate with,
    each pair of copied neurons would get equal gradients and stay equal for good, so growth breaks
    the symmetry with function-preserving split noise (as HyperCloning does) if the recipe has
    none."""
    noise = tuple(n or (GROWTH_SPLIT_NOISE if width else 0.0)
                  for n, width in zip(cfg.split_noise, cfg.coalesce_width))
    changes = cfg.levels - 1
    return replace(cfg, **moved_down_steps(cfg, 0), alpha=(1.0,) * changes,
                   small_init=('own',) * changes, split_noise=noise)


def moved_down_steps(c, factor):
    """E_a times factor at every level, the difference moved to the same level's stage on the way
    up: the same steps at every level, so the same FLOPs."""
    down = tuple(round(d * factor) for d in c.down_steps)
    up = tuple(u + d - n for u, d, n in zip(c.up_steps, c.down_steps + (0,), down + (0,)))
    return dict(down_steps=down, up_steps=up)


def moved_return_steps(c, factor):
    """Level 1's last stage (up_steps[0], the return) times factor, the bottom's steps changed so
    that the FLOPs stay the same: a longer (factor > 1) or later (< 1) return."""
    costs, _ = stage_costs(c, train.checked_request(c, plan=True)[1])
    per_step = {stage.level: flops / stage.steps for stage, _, _, flops in costs if stage.steps}
    up = round(c.up_steps[0] * factor)
    bottom = round(c.up_steps[-1] - (up - c.up_steps[0]) * per_step[1] / per_step[c.levels])
    return dict(up_steps=(up,) + c.up_steps[1:-1] + (bottom,))


def times(lr, factor):
    """lr x factor to 3 significant digits, as the bench names and compares its trials."""
    return float(f'{lr * factor:.3g}')


def scaled_lr(c, factor, from_level=1):
    """The peak lr of levels from_level .. k times factor (3 significant digits)."""
    return dict(lr=tuple(times(v, factor) if level >= from_level else v
                         for level, v in enumerate(c.lr, 1)))


# name: the settings that differ from those of the main V-cycle, or a function of it giving them
ABLATIONS = {
    **{f'alpha-{a:g}': dict(alpha=a) for a in (0, 0.25, 0.5, 0.75, 1)},
    'E_a-half': lambda c: moved_down_steps(c, 0.5),
    'E_a-double': lambda c: moved_down_steps(c, 2.0),
    **{f'return-x{f:g}': lambda c, f=f: moved_return_steps(c, f) for f in (1.4, 0.6, 0.4)},
    'lr-x0.7': lambda c: scaled_lr(c, 0.7), 'lr-x1.4': lambda c: scaled_lr(c, 1.4),
    **{f'lr-small-x{f:g}': lambda c, f=f: scaled_lr(c, f, from_level=2)
       for f in SWEEP_FACTORS if f != 1},
    'pairing-adjacent': dict(depth_pairing='adjacent'),
    'width-only': dict(coalesce_width=True, coalesce_depth=False),
    'depth-only': dict(coalesce_width=False, coalesce_depth=True),
    'width-and-depth': dict(coalesce_width=True, coalesce_depth=True),
    'copies-full': dict(depth_copies='full'),
    'decay-every-stage': dict(decay_every_stage=True),
    'carry-optimizer': lambda c: dict(carry_optimizer=tuple(not v for v in c.carry_optimizer)),
    'split-noise-0.1': dict(split_noise=0.1), 'split-skew-0.2': dict(split_skew=0.2),
    'split-complementary-0.1': dict(split_complementary=0.1),
    'correct': dict(return_rule='correct', beta=1.0),
    'correct-beta-0.5': dict(return_rule='correct', beta=0.5),
    'ramp-50': dict(new_copy_ramp=50),
    'carry-ramp-50': dict(carry_optimizer=True, new_copy_ramp=50),
    'return-dropout-0.1': dict(return_dropout=0.1),
    'wsd': lambda c: dict(decay_steps=round(0.2 * total_steps(c) / c.budget)),  # the last 20%
    'mup': lambda c: dict(mup_lr=True, lr=(c.lr[0],) * c.levels),  # matrices at lr_1 x d_1 / d_l
}


def ablation_arms(cfg, file, overrides, names):
    """(name, config) of the named ablations (all if names is None) that differ from the main
    V-cycle cfg: each changes one setting of it and keeps the rest, its learning rates too. A name
    joining several with '+' (correct+ramp-50) makes one arm with all their changes."""
    unknown = {part for name in names or () for part in name.split('+')} - set(ABLATIONS)
    if unknown:
        raise ConfigError(f"unknown ablation {sorted(unknown)[0]!r}: choose from "
                          f"{', '.join(ABLATIONS)}")
    arms = []
    for name in names or ABLATIONS:
        changes = {}
        for part in name.split('+'):
            changes.update(ABLATIONS[part](cfg) if callable(ABLATIONS[part]) else ABLATIONS[part])
        changed = [f'--{k}={v!r}' for k, v in changes.items()]
        variant = train.parse_args([file] + overrides + [f'--lr={cfg.lr}'] + changed)
        if variant == replace(cfg, overwrite=variant.overwrite):
            continue  # the main V-cycle is this variant
        arms.append((f'ablation: {name} ({Path(file).stem})', replace(variant, overwrite=True)))
    return arms


# -- the runs ------------------------------------------------------------------------------------

def slug(name):
    """A folder for an arm: 'V-cycle, 2 levels (bench_cpu)' -> 'V-cycle_2_levels_bench_cpu'."""
    return re.sub(r'[^\w.-]+', '_', name).strip('_')


def at_budget(arm, factor):
    """An arm's config at `factor` times its budget."""
    return replace(arm, budget=arm.budget * factor)


def frontier_budgets(cfg, arms, factors):
    """The frontier's first budgets, in steps, beside the reference's: its steps times
    FRONTIER_RATIO ** j for j = -1, -2, ... down to the cheapest arm's FLOPs at its smallest budget
    factor, then for j = 1, 2, ... until there are FRONTIER_MIN_BUDGETS with the reference and up
    to the tokens of the largest budget factor (an arm at 1.6x its budget trains on 1.6x the
    reference's tokens and may end as low as plain training does on them): planned up front, these
    budgets train beside the arms instead of after them."""
    reference = total_steps(cfg)
    per_step = stage_costs(cfg, train.checked_request(cfg, plan=True)[1])[1] / reference
    cheapest = min(planned_flops(at_budget(arm, min(factors))) for _, arm in arms) / per_step
    below = max(1, math.ceil(math.log(reference / cheapest) / math.log(FRONTIER_RATIO)))
    above = max(FRONTIER_MIN_BUDGETS - 1 - below,
                math.floor(math.log(max(factors)) / math.log(FRONTIER_RATIO) + 1e-9))
    return [round(reference * FRONTIER_RATIO ** j) for j in range(-below, above + 1) if j]


@dataclass(frozen=True)
class Run:
    """One run of the bench at a seed: an arm at a multiple of its budget, or a budget of the
    frontier at a multiple of the baseline's lr."""
    seed: int
    arm: str                # an arm's name, or FRONTIER
    budget: float = 1.0     # an arm's: the multiple of its recipe's budget
    steps: int = 0          # the frontier's: steps of plain training ...
    lr_factor: float = 1.0  # ... at baseline_lr times this


FRONTIER = 'frontier'


def arm_run(name, arm, seed, folder, factor):
    """The run of an arm at seed and factor times its budget, in folder/<its name>[_budget<f>]."""
    suffix = f'_budget{factor:g}' if factor != 1 else ''
    run = replace(at_budget(arm, factor), seed=seed, out_dir=str(folder / (slug(name) + suffix)))
    return Run(seed, name, budget=factor), (name + (f', {factor:g}x its budget' if suffix else ''),
                                            run)


def frontier_run(cfg, seed, steps, lr_factor, out):
    """A budget of the frontier: cfg's baseline trained for steps at baseline_lr x lr_factor."""
    lr = times(peak_lr(cfg), lr_factor)
    name = f'frontier{steps}' + (f'_lr{lr:g}' if lr_factor != 1 else '')
    return (Run(seed, FRONTIER, steps=steps, lr_factor=lr_factor),
            (f'frontier, {steps} steps' + (f', lr {lr:g}' if lr_factor != 1 else ''),
             baseline_of(replace(cfg, seed=seed, baseline_lr=lr), steps,
                         out / f'seed{seed}' / baseline_folder(cfg, name), eval_interval=steps)))


def chosen_frontier(logs, seeds):
    """({seed: {steps: final log line}}, {steps: {lr factor: median final loss}}): at each budget
    the lr factor with the lowest median final loss over the seeds."""
    runs = [run for run in logs if run.arm == FRONTIER]
    trials = {}
    for run in runs:
        trials.setdefault(run.steps, {}).setdefault(run.lr_factor, []).append(
            logs[run][-1]['val_loss'])
    table = {steps: {f: report.median_range(v)[0] for f, v in by_lr.items()}
             for steps, by_lr in trials.items()}
    best = {steps: min(by_lr, key=by_lr.get) for steps, by_lr in table.items()}
    return ({seed: {run.steps: dict(logs[run][-1], lr_factor=run.lr_factor) for run in runs
                    if run.seed == seed and run.lr_factor == best[run.steps]} for seed in seeds},
            table)


def run_bench(cfg, arms, seeds, out, settings):
    """Every arm at every budget factor and the frontier at every seed. Returns the arms' logs at
    their recipes' budgets {seed: {arm name: log}}, the reference baseline first; every arm's own
    frontier {seed: {arm name: [final log line of each budget factor]}}; the frontier's points
    {seed: [final log line of each budget]}; and the frontier's lr trials {steps: {lr factor:
    median final loss}}. The frontier is extended, one FRONTIER_RATIO step up at a time, until it
    passes every arm's final loss at every seed (at most FRONTIER_MAX_BUDGETS budgets)."""
    def frontier_runs(budgets):
        return dict(frontier_run(cfg, seed, steps, f, out)
                    for seed in seeds for steps in budgets for f in settings.frontier_lrs)
    reference_name = f'baseline, {baseline_name(cfg)}'
    runs = {}
    for seed in seeds:
        folder = out / f'seed{seed}'
        runs[Run(seed, reference_name)] = (reference_name, baseline_of(
            replace(cfg, seed=seed), total_steps(cfg), folder / baseline_folder(cfg, 'baseline')))
        runs.update(arm_run(name, arm, seed, folder, f)
                    for name, arm in arms for f in settings.budgets)
    runs.update(frontier_runs(frontier_budgets(cfg, arms, settings.budgets)))
    logs = train_all(runs, settings.jobs, settings.threads)
    while True:
        frontier, lr_trials = chosen_frontier(logs, seeds)
        for seed in seeds:
            frontier[seed][total_steps(cfg)] = dict(logs[Run(seed, reference_name)][-1],
                                                    lr_factor=1.0)
        short = any(min(p['val_loss'] for p in frontier[seed].values())
                    > min(log[-1]['val_loss'] for run, log in logs.items()
                          if run.seed == seed and run.arm != FRONTIER) for seed in seeds)
        if not short or len(frontier[seeds[0]]) >= FRONTIER_MAX_BUDGETS:
            break
        logs.update(train_all(frontier_runs([round(max(frontier[seeds[0]]) * FRONTIER_RATIO)]),
                              settings.jobs, settings.threads))
    arm_logs = {seed: {run.arm: log for run, log in logs.items()
                       if run.seed == seed and run.arm != FRONTIER and run.budget == 1}
                for seed in seeds}
    arm_frontiers = {seed: {name: [dict(budget=run.budget, **logs[run][-1])
                                   for run in sorted(logs, key=lambda r: r.budget)
                                   if run.seed == seed and run.arm == name]
                            for name in arm_logs[seed]} for seed in seeds}
    return (arm_logs, arm_frontiers,
            {seed: [dict(steps=steps, **point) for steps, point in sorted(points.items())]
             for seed, points in frontier.items()}, lr_trials)


def sweep_lr(cfg, seeds, out, settings):
    """Each level's peak lr in turn (level 1 first), times SWEEP_FACTORS, the others held: the
    factor with the lowest median final loss over the seeds wins. Returns (lr tuple, table)."""
    lr, table = cfg.lr, {}
    for level in range(cfg.levels):
        trials = [tuple(times(v, factor) if i == level else v for i, v in enumerate(lr))
                  for factor in SWEEP_FACTORS]
        new = [trial for trial in trials if trial not in table]  # an earlier level's trial is read
        folder = {trial: out / ('lr' + '_'.join(map(str, trial))) for trial in new}
        runs = {Run(s, str(trial)): (f'sweep, lr {trial}', replace(
                    cfg, lr=trial, seed=s, out_dir=str(folder[trial] / f'seed{s}')))
                for trial in new for s in seeds}
        logs = train_all(runs, settings.jobs, settings.threads)
        for trial in new:
            table[trial] = report.median_range([logs[Run(s, str(trial))][-1]['val_loss']
                                                for s in seeds])[0]
        lr = min(trials, key=table.get)
    print(f"sweep (peak lr: median final loss over seeds {seeds}):",
          {k: round(v, 4) for k, v in table.items()}, '-> best', lr)
    return lr, {','.join(map(str, k)): v for k, v in table.items()}


def sweep_arms(arms, seeds, out, settings, results):
    """--sweep: the baseline's lr under each schedule of SWEEP_BASELINE_DECAYS, and every arm's lr
    (sweep_lr); every arm gets its lr and the baseline's (schedule, lr) pair with the lowest median
    final loss. The sweeps' tables go into results; returns the arms so set."""
    best = {}
    for decay in SWEEP_BASELINE_DECAYS:
        schedule = replace(arms[0][1], baseline_decay=decay)
        reference = baseline_of(schedule, total_steps(schedule), out)
        folder = out / baseline_folder(schedule, 'sweep_baseline')
        (lr,), table = sweep_lr(reference, seeds, folder, settings)
        results[f'sweep baseline, decay {decay:g}'] = table
        best[decay, lr] = table[str(lr)]
    baseline_decay, baseline_lr = min(best, key=best.get)
    swept = []
    for name, c in arms:
        lr, results[f'sweep {name}'] = sweep_lr(c, seeds, out / f'sweep_{slug(name)}', settings)
        swept.append((name, replace(c, lr=lr, baseline_lr=baseline_lr,
                                    baseline_decay=baseline_decay)))
    return swept


def print_plan(cfg, arms, seeds, out, settings):
    """What the bench would train at each seed: every arm's stages and FLOPs at each budget factor,
    the frontier's budgets, and the total; nothing is trained or written. Returns the total
    FLOPs."""
    model_config = train.checked_request(cfg, plan=True)[1]
    reference = baseline_of(cfg, total_steps(cfg), out)
    total = planned_flops(reference)
    print(f"\n== reference baseline, {baseline_name(cfg)}\n{plan_table(reference, model_config)}")
    for name, c in arms:
        for factor in settings.budgets:
            print(f"\n== {name}" + (f", {factor:g}x its budget" if factor != 1 else ''))
            print(plan_table(at_budget(c, factor), model_config))
            total += planned_flops(at_budget(c, factor))
    per_step = stage_costs(reference, model_config)[1] / total_steps(reference)
    budgets = frontier_budgets(cfg, arms, settings.budgets)
    lrs = [times(peak_lr(cfg), f) for f in settings.frontier_lrs]
    total += sum(budgets) * per_step * len(lrs)
    print(f"\n== frontier: the baseline trained to completion at {', '.join(map(str, budgets))} "
          f"steps beside the reference's {total_steps(cfg)}, each at lr {', '.join(map(str, lrs))} "
          f"({sum(budgets) * per_step * len(lrs):.3e} FLOPs), then {FRONTIER_RATIO}x the largest "
          f"until it passes every arm's final loss (at most {FRONTIER_MAX_BUDGETS} budgets)")
    print(f"total at least {total:.3e} FLOPs a seed, {total * len(seeds):.3e} for the {len(seeds)} "
          f"seed(s) {seeds}; runs already finished in {out} are read, not trained")
    return total


def parse_bench_args(argv):
    """(bench settings, config files, train.py --key=value overrides, the main V-cycle's Config)."""
    mine, rest = commandline.split_settings(BenchSettings, argv)
    settings = commandline.parse_settings(BenchSettings, mine)
    if settings.n_seeds < 1 or settings.jobs < 1 or settings.threads < 0:
        raise ConfigError(f"n_seeds and jobs must be at least 1 and threads at least 0, got "
                          f"{settings.n_seeds}, {settings.jobs} and {settings.threads}")
    if 1 not in settings.budgets or min(settings.budgets + settings.frontier_lrs) <= 0:
        raise ConfigError(f"budgets must hold 1 (the recipes as written) and be positive, and "
                          f"frontier_lrs be positive; got budgets={settings.budgets}, "
                          f"frontier_lrs={settings.frontier_lrs}")
    files = [a for a in rest if not a.startswith('--')] or DEFAULT_CONFIGS
    overrides = [a for a in rest if a.startswith('--')]
    return settings, files, overrides


def main(argv):
    settings, files, overrides = parse_bench_args(argv)
    configs = [replace(train.parse_args([f] + overrides), overwrite=True) for f in files]
    for c in configs:
        train.check_config(c)
    out = Path(configs[0].out_dir)
    if settings.speed and settings.plan:
        raise ConfigError("--speed measures the recipe's levels, --plan lists a bench's runs: give "
                          "one of them")
    if settings.speed:
        return measure_speed(configs[0], settings.speed_steps, out)
    seeds = [configs[0].seed + i for i in range(settings.n_seeds)]
    arms = [(f'V-cycle, {c.levels} levels ({Path(f).stem})', c) for f, c in zip(files, configs)]
    if settings.growth:
        arms.append((f'growth ({Path(files[0]).stem})', growth_of(configs[0])))
    names = None if settings.ablation == 'all' else settings.ablation.split(',')

    def ablations(main_cycle):  # the first V-cycle sets the budget, the out_dir and the baseline
        return ablation_arms(main_cycle, files[0], overrides, names) if settings.ablation else []
    if settings.plan:
        if settings.sweep:
            raise ConfigError("--plan shows a bench's runs at the recipes' learning rates: drop "
                              "--sweep to plan")
        return print_plan(configs[0], arms + ablations(configs[0]), seeds, out, settings)
    out.mkdir(parents=True, exist_ok=True)
    threads = (threads_per_run(settings.jobs, settings.threads) if settings.jobs > 1
               else torch.get_num_threads())
    gpu = torch.cuda.is_available() and configs[0].device != 'cpu'
    device = torch.cuda.get_device_name() if gpu else f'cpu ({threads} threads per run)'
    results = {'command': 'python bench.py ' + ' '.join(argv), 'date': time.strftime('%Y-%m-%d'),
               'seeds': seeds, 'jobs': settings.jobs, 'device': device}
    if settings.sweep:
        arms = sweep_arms(arms, seeds, out, settings, results)
    cfg = arms[0][1]
    arms += ablations(cfg)  # after the sweep: each keeps the main V-cycle's learning rates
    results.update(baseline_lr=peak_lr(cfg), baseline_decay=cfg.baseline_decay,
                   arm_lr={name: c.lr for name, c in arms}, budgets=settings.budgets,
                   frontier_lrs=settings.frontier_lrs)
    (results['logs'], results['arm_frontiers'], results['frontiers'],
     results['frontier_lr_trials']) = run_bench(cfg, arms, seeds, out, settings)
    results = report.report(results, out)
    (out / 'results.json').write_text(json.dumps(results, indent=1) + '\n')
    print(f"results: {out / 'results.json'}")
    return results


FLAGS = {'--help, -h': 'this text'}


def cli(argv):
    recipe = asdict(train.parse_args(DEFAULT_CONFIGS))
    settings = (commandline.settings_help(BenchSettings) + '\n\ntrain.py settings, for every arm '
                f'(as {DEFAULT_CONFIGS[0]}, the default recipe, sets them):\n'
                + commandline.settings_help(train.Config, recipe))
    help = commandline.help_text(__doc__, FLAGS, settings)
    return commandline.command(argv, main, help)


if __name__ == '__main__':
    sys.exit(cli(sys.argv[1:]))
