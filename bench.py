"""Benchmark: the V-cycle against plain training and plain growth, at equal validation loss, over seeds.

    python bench.py                          # config/bench_cpu.py, one seed (about 15 minutes on 2 cores)
    python bench.py --n_seeds=5              # seeds 1337 .. 1341, medians and ranges (about 80 minutes)
    python bench.py --seed=1338              # one seed, 1338
    python bench.py --sweep --n_seeds=3      # first choose every arm's peak lr by the median over seeds
    python bench.py --ablation=all --n_seeds=5   # one setting of the main V-cycle changed at a time
    python bench.py config/bench_gpu.py      # the GPU recipe (bf16, torch.compile), with MFU
    python report.py bench-cpu               # the tables and the plot again, from bench-cpu/results.json
    python bench.py config/gpt2_small.py --speed   # each level's training speed and MFU, on random tokens

Arguments: train.py config files, each a V-cycle arm (the first, the main one, sets the budget,
out_dir and ablations), then --key=value settings: the bench's own (below) and train.py's, which
apply to every arm. At every seed, each run trains in this process, one after the other; a seed
fixes the data order, the evaluation batches and the initialization, the same in every arm.
The arms of one seed:
  - the reference baseline: M_1 alone on as many tokens as the main V-cycle at the recipe's
    baseline_lr, with its own warmup and its decay over the last baseline_decay of its steps, or all
    of them (train.baseline_of; the authors' GPT-2 recipe pits 100K baseline steps against 5K + 50K + 50K);
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
import os
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

import commandline
import report
import train
from commandline import ConfigError
from data import RandomTokens
from model import MODELS
from schedule import level_configs, plan_table, stage_costs, total_steps
from vcycle import VCycle, prepare_for_training

SWEEP_FACTORS = (0.5, 0.7, 1.0, 1.4, 2.0)
SWEEP_BASELINE_DECAYS = (0.0, 0.2)  # --sweep: the baseline's schedules, cosine over all its steps and WSD
# The frontier's budgets: these fractions of the main V-cycle's FLOPs and the reference baseline, then
# each 1.4 times the largest until there are at least 4 and the frontier passes every arm's final loss.
FRONTIER_FRACTIONS = (0.5, 0.8)
FRONTIER_MIN_BUDGETS, FRONTIER_GROWTH, FRONTIER_MAX_BUDGETS = 4, 1.4, 8
DEFAULT_CONFIGS = ['config/bench_cpu.py']
SPEED_UNTIMED_STEPS = 10  # --speed: compilation and autotuning happen in these
ROOT = Path(__file__).resolve().parent


@dataclass
class BenchSettings:
    n_seeds: int = 1                # train every arm at seeds seed, seed + 1, ... (seed: train.py's --seed)
    sweep: bool = False             # first choose each arm's peak lr, and the baseline's lr and schedule (SWEEP_*)
    ablation: str = ''              # add ablation arms: 'all', or names separated by commas, a+b for both at once (see ABLATIONS)
    jobs: int = 1                   # runs trained at once, each its own process; their wall times are then shared
    threads: int = 0                # with jobs > 1, torch threads per run (0: the CPU's cores / jobs)
    plan: bool = False              # print every arm's stages and FLOPs, the frontier's budgets, the total; train nothing
    growth: bool = True             # train the main V-cycle's growth peer too
    speed: bool = False             # only measure each level's training speed, on random tokens (see measure_speed)
    speed_steps: int = 20           # --speed: steps timed per level, after SPEED_UNTIMED_STEPS untimed ones


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
    'split-complementary-0.1': dict(split_complementary=0.1),
    'correct': dict(return_rule='correct', beta=1.0), 'correct-beta-0.5': dict(return_rule='correct', beta=0.5),
    'ramp-50': dict(new_copy_ramp=50), 'carry-ramp-50': dict(carry_optimizer=True, new_copy_ramp=50),
    'return-dropout-0.1': dict(return_dropout=0.1),
    'wsd': lambda c: dict(decay_steps=round(0.2 * total_steps(c))),  # decay over the run's last 20%
    'mup': lambda c: dict(mup_lr=True, lr=(c.lr[0],) * c.levels),    # M_l's matrices at lr_1 x d_1 / d_l
}


def ablation_arms(cfg, file, overrides, names):
    """(name, config) of the named ablations (all if names is None) that differ from the main
    V-cycle cfg: each changes one setting of it and keeps the rest, its learning rates too. A name
    joining several with '+' (correct+ramp-50) makes one arm with all their changes."""
    unknown = {part for name in names or () for part in name.split('+')} - set(ABLATIONS)
    if unknown:
        raise ConfigError(f"unknown ablation {sorted(unknown)[0]!r}: choose from {', '.join(ABLATIONS)}")
    arms = []
    for name in names or ABLATIONS:
        changes = {}
        for part in name.split('+'):
            changes.update(ABLATIONS[part](cfg) if callable(ABLATIONS[part]) else ABLATIONS[part])
        variant = train.parse_args([file] + overrides + [f'--lr={cfg.lr}'] + [f'--{k}={v!r}' for k, v in changes.items()])
        if variant == replace(cfg, overwrite=variant.overwrite):
            continue  # the main V-cycle is this variant
        arms.append((f'ablation: {name} ({Path(file).stem})', replace(variant, overwrite=True)))
    return arms


# -- the runs ------------------------------------------------------------------------------------

def finished_log(cfg):
    """The log of a finished run of exactly cfg in cfg.out_dir, or None. The baseline's settings do not
    count (a baseline run has its schedule in lr and decay_steps): an arm trained beside one baseline
    is read beside another."""
    out = Path(cfg.out_dir)
    if not (out / 'config.json').exists() or not (out / 'log.jsonl').exists():
        return None
    stored, wanted = json.loads((out / 'config.json').read_text()), json.loads(json.dumps(asdict(cfg)))
    same = set(stored) <= set(wanted) and all(stored.get(k) == v for k, v in wanted.items()
                                              if k not in train.BASELINE_SETTINGS)
    log = [json.loads(line) for line in (out / 'log.jsonl').read_text().splitlines()]
    return log if same and log and log[-1]['iter'] == total_steps(cfg) else None


def train_all(runs, settings):
    """Train every run of {key: (name, config)} and return {key: its log}. A finished run of the same
    config in its out_dir is read instead (so an interrupted bench, or one adding arms, redoes only
    what is missing). With jobs = 1 the runs train here, one after the other; with more, each in its
    own process (python train.py with every setting spelled out, its output in out_dir/train.log),
    `jobs` at a time, each on `threads` threads."""
    logs, pending = {}, []
    for key, (name, cfg) in runs.items():
        logs[key] = finished_log(cfg)
        print(f"=== {name}: seed {cfg.seed}, {cfg.levels} level(s), out_dir {cfg.out_dir}"
              + (' (finished before: read, not trained)' if logs[key] else ''), flush=True)
        if logs[key] is None:
            pending.append((key, cfg))
    if settings.jobs == 1:
        for key, cfg in pending:
            train.run(cfg)
            logs[key] = finished_log(cfg)
        return logs
    threads = settings.threads or max(1, (os.cpu_count() or 1) // settings.jobs)
    running = []
    while pending or running:
        while pending and len(running) < settings.jobs:
            key, cfg = pending.pop(0)
            Path(cfg.out_dir).mkdir(parents=True, exist_ok=True)
            with open(Path(cfg.out_dir) / 'train.log', 'w') as log_file:
                command = [sys.executable, str(ROOT / 'train.py')] + [f'--{k}={v!r}' for k, v in asdict(cfg).items()]
                running.append((key, cfg, subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT,
                                                           env={**os.environ, 'OMP_NUM_THREADS': str(threads)})))
        time.sleep(0.2)
        for key, cfg, process in [r for r in running if r[2].poll() is not None]:
            running.remove((key, cfg, process))
            if process.returncode != 0:
                for _, _, other in running:
                    other.terminate()
                raise commandline.RunStopped(f"the run in {cfg.out_dir} failed (exit status {process.returncode}): "
                                             f"see {Path(cfg.out_dir) / 'train.log'}")
            logs[key] = finished_log(cfg)
    return logs


def slug(name):
    """A folder name for an arm's name: 'V-cycle, 2 levels (bench_cpu)' -> 'V-cycle_2_levels_bench_cpu'."""
    return re.sub(r'[^\w.-]+', '_', name).strip('_')


def frontier_budgets(cfg):
    """The frontier's first budgets, in steps, beside the reference's: FRONTIER_FRACTIONS of the main
    V-cycle's planned FLOPs, then FRONTIER_GROWTH times the largest until there are
    FRONTIER_MIN_BUDGETS with the reference."""
    costs, plain = stage_costs(cfg, train.checked_request(cfg)[1])
    per_step, reference = plain / total_steps(cfg), total_steps(cfg)
    budgets = [round(f * sum(flops for *_, flops in costs) / per_step) for f in FRONTIER_FRACTIONS]
    while len(budgets) + 1 < FRONTIER_MIN_BUDGETS:
        budgets.append(round(max(budgets + [reference]) * FRONTIER_GROWTH))
    return budgets


def baseline_folder(cfg, name):
    """A baseline run's folder name: 'baseline' or 'frontier862', with '_wsd0.2' after it when the
    recipe's baseline decays over its last 20% only (so that both schedules keep their runs)."""
    return name + (f'_wsd{cfg.baseline_decay:g}' if cfg.baseline_decay else '')


def run_bench(cfg, arms, seeds, out, settings):
    """Every arm and the frontier at every seed: ({seed: {arm name: log}}, {seed: frontier points}).
    The frontier is extended, a budget FRONTIER_GROWTH times the largest at a time, until it passes
    every arm's final loss at that seed (at most FRONTIER_MAX_BUDGETS)."""
    def budget(seed, steps):
        c = replace(cfg, seed=seed)
        return (seed, 'frontier', steps), (f'frontier, {steps} steps', train.baseline_of(
            c, steps, out / f'seed{seed}' / baseline_folder(cfg, f'frontier{steps}'), eval_interval=steps))
    reference_name = f'baseline, {train.baseline_name(cfg)}'
    runs = {}
    for seed in seeds:
        c, folder = replace(cfg, seed=seed), out / f'seed{seed}'
        runs[seed, reference_name] = (reference_name, train.baseline_of(c, total_steps(c),
                                                                        folder / baseline_folder(cfg, 'baseline')))
        for name, arm in arms:
            runs[seed, name] = (name, replace(arm, seed=seed, out_dir=str(folder / slug(name))))
        runs.update(budget(seed, steps) for steps in frontier_budgets(c))
    logs = train_all(runs, settings)
    while True:
        frontier = {seed: {key[2]: log[-1] for key, log in logs.items() if key[0] == seed and key[1] == 'frontier'}
                    for seed in seeds}
        for seed in seeds:
            frontier[seed][total_steps(cfg)] = logs[seed, reference_name][-1]
        more = dict(budget(seed, round(max(frontier[seed]) * FRONTIER_GROWTH)) for seed in seeds
                    if min(p['val_loss'] for p in frontier[seed].values())
                    > min(log[-1]['val_loss'] for key, log in logs.items() if key[0] == seed and len(key) == 2)
                    and len(frontier[seed]) < FRONTIER_MAX_BUDGETS)
        if not more:
            break
        logs.update(train_all(more, settings))
    arm_logs = {seed: {key[1]: log for key, log in logs.items() if key[0] == seed and len(key) == 2} for seed in seeds}
    return arm_logs, {seed: [dict(steps=steps, **point) for steps, point in sorted(frontier[seed].items())]
                      for seed in seeds}


def sweep_lr(cfg, seeds, out, settings):
    """Each level's peak lr in turn (level 1 first), times SWEEP_FACTORS, the others held: the
    factor with the lowest median final loss over the seeds wins. Returns (lr tuple, table)."""
    lr, table = cfg.lr, {}
    for level in range(cfg.levels):
        trials = [tuple(float(f'{v * factor:.3g}') if i == level else v for i, v in enumerate(lr))
                  for factor in SWEEP_FACTORS]
        runs = {(trial, s): (f'sweep, lr {trial}', replace(cfg, lr=trial, seed=s,
                                                          out_dir=str(out / ('lr' + '_'.join(map(str, trial))) / f'seed{s}')))
                for trial in trials if trial not in table for s in seeds}
        finals = {key: log[-1]['val_loss'] for key, log in train_all(runs, settings).items()}
        table.update({trial: report.median_range([finals[trial, s] for s in seeds])[0]
                      for trial in trials if trial not in table})  # a trial of an earlier level is not trained again
        lr = min(trials, key=table.get)
    print(f"sweep (peak lr: median final loss over seeds {seeds}):", {k: round(v, 4) for k, v in table.items()},
          '-> best', lr)
    return lr, {','.join(map(str, k)): v for k, v in table.items()}


def measure_speed(cfg, steps, out):
    """Training speed of each level of cfg's V-cycle at its shape, through the same training step as
    a run (VCycle.train_step: compile mode, micro-batch, optimizer of that level) on random tokens,
    so that no dataset is needed: SPEED_UNTIMED_STEPS steps first (compilation), then `steps` timed
    ones. Prints and returns, per level, tokens/s, model FLOPs/s (6 N + 12 L d T a token), MFU
    against the device's dense bf16 peak, and tokens/s and FLOPs a token against M_1's."""
    if cfg.model == 'vit':
        raise ConfigError("--speed measures text models (GPT, BERT) on random tokens; ViT has no speed recipe")
    env, model_config, _ = train.checked_request(replace(cfg, init_from='scratch'))
    device = torch.cuda.get_device_name(env.device) if env.device.startswith('cuda') else f'cpu ({torch.get_num_threads()} threads)'
    peak, levels = report.peak_flops(device), []
    for level, config in enumerate(level_configs(cfg, model_config), 1):
        torch.manual_seed(cfg.seed)
        model = MODELS[cfg.model](config).to(env.device)
        batches = RandomTokens(config.vocab_size - (cfg.model == 'bert'), cfg.block_size, cfg.batch_tokens // model.seq_len,
                               cfg.seed, pin=env.device.startswith('cuda'),
                               mask_token_id=config.vocab_size - 1 if cfg.model == 'bert' else None)
        cycle = VCycle(cfg, model, batches, env)
        cycle.enter_level(level)
        runner, optimizer = prepare_for_training(model, cfg, env, level)
        for step in range(SPEED_UNTIMED_STEPS + steps):
            if step == SPEED_UNTIMED_STEPS:
                cycle.check_finite()  # waits for the untimed steps
                t0 = time.perf_counter()
            cycle.progress.iter = step
            cycle.train_step(runner, optimizer, 0.1 * cfg.lr[level - 1])
        cycle.check_finite()          # waits for the timed ones
        tokens_per_s = steps * cfg.batch_tokens / (time.perf_counter() - t0)
        flops_per_s = tokens_per_s * model.flops_per_token()
        levels.append(dict(level=level, shape=f'{config.n_layer} x {config.n_embd}', params=model.num_params(),
                           micro_batch=cycle.micro_batch, compile_mode=cfg.compile_mode[level - 1] if env.compile else 'off',
                           tokens_per_s=tokens_per_s, flops_per_token=model.flops_per_token(), flops_per_s=flops_per_s,
                           mfu_pct=100 * flops_per_s / peak if peak else None))
        del model, runner, optimizer, cycle
    print(f"\ntraining speed on {device}, {cfg.batch_tokens:,} tokens a step, {steps} steps timed after "
          f"{SPEED_UNTIMED_STEPS}:")
    print(f"{'level':>5s} {'shape':>10s} {'params':>9s} {'micro':>5s} {'compile':>12s} {'tokens/s':>12s} "
          f"{'TFLOP/s':>8s} {'MFU':>6s} {'tokens/s vs M_1':>15s} {'FLOPs/token: M_1 / it':>22s}")
    for s in levels:
        mfu = f"{s['mfu_pct']:5.1f}%" if s['mfu_pct'] else '     -'
        print(f"{s['level']:5d} {s['shape']:>10s} {s['params'] / 1e6:8.2f}M {s['micro_batch']:5d} {s['compile_mode']:>12s} "
              f"{s['tokens_per_s']:12,.0f} {s['flops_per_s'] / 1e12:8.2f} {mfu} "
              f"{s['tokens_per_s'] / levels[0]['tokens_per_s']:14.2f}x "
              f"{levels[0]['flops_per_token'] / s['flops_per_token']:21.2f}x")
    result = dict(device=device, date=time.strftime('%Y-%m-%d'), batch_tokens=cfg.batch_tokens, steps=steps,
                  levels=levels)
    out.mkdir(parents=True, exist_ok=True)
    (out / 'speed.json').write_text(json.dumps(result, indent=1) + '\n')
    print(f"results: {out / 'speed.json'}")
    return result


def print_plan(cfg, arms, seeds, out):
    """What the bench would train at each seed: every arm's stages and FLOPs, the frontier's budgets,
    and the total; nothing is trained or written. Returns the total FLOPs."""
    model_config = train.checked_request(cfg)[1]
    reference = train.baseline_of(cfg, total_steps(cfg), out)
    total = 0
    for name, c in [(f'reference baseline, {train.baseline_name(cfg)}', reference)] + arms:
        print(f"\n== {name}")
        print(plan_table(c, model_config))
        total += sum(flops for *_, flops in stage_costs(c, model_config)[0])
    per_step = stage_costs(reference, model_config)[1] / total_steps(reference)
    budgets = frontier_budgets(cfg)
    total += sum(budgets) * per_step
    print(f"\n== frontier: the baseline trained to completion at {', '.join(map(str, budgets))} steps beside the "
          f"reference's {total_steps(cfg)} ({sum(budgets) * per_step:.3e} FLOPs), then {FRONTIER_GROWTH}x the largest "
          f"until it passes every arm's final loss (at most {FRONTIER_MAX_BUDGETS} budgets)")
    print(f"total at least {total:.3e} FLOPs a seed, {total * len(seeds):.3e} for the {len(seeds)} seed(s) "
          f"{seeds}; runs already finished in {out} are read, not trained")
    return total


def parse_bench_args(argv):
    """(bench settings, config files, train.py --key=value overrides, the main V-cycle's Config)."""
    mine, rest = commandline.split_settings(BenchSettings, argv)
    settings = commandline.parse_settings(BenchSettings, mine)
    if settings.n_seeds < 1 or settings.jobs < 1 or settings.threads < 0:
        raise ConfigError(f"n_seeds and jobs must be at least 1 and threads at least 0, got {settings.n_seeds}, "
                          f"{settings.jobs} and {settings.threads}")
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
        raise ConfigError("--speed measures the recipe's levels, --plan lists a bench's runs: give one of them")
    if settings.speed:
        return measure_speed(configs[0], settings.speed_steps, out)
    seeds = [configs[0].seed + i for i in range(settings.n_seeds)]
    arms = [(f'V-cycle, {c.levels} levels ({Path(f).stem})', c) for f, c in zip(files, configs)]
    if settings.growth:
        arms.append((f'growth ({Path(files[0]).stem})', growth_of(configs[0])))
    names = None if settings.ablation == 'all' else settings.ablation.split(',')

    def ablations(main_cycle):  # the main V-cycle, the first, sets the budget, the out_dir and the baseline
        return ablation_arms(main_cycle, files[0], overrides, names) if settings.ablation else []
    if settings.plan:
        if settings.sweep:
            raise ConfigError("--plan shows a bench's runs at the recipes' learning rates: drop --sweep to plan")
        return print_plan(configs[0], arms + ablations(configs[0]), seeds, out)
    out.mkdir(parents=True, exist_ok=True)
    threads = settings.threads or max(1, (os.cpu_count() or 1) // settings.jobs) if settings.jobs > 1 \
        else torch.get_num_threads()
    results = {'command': 'python bench.py ' + ' '.join(argv), 'date': time.strftime('%Y-%m-%d'), 'seeds': seeds,
               'jobs': settings.jobs,
               'device': torch.cuda.get_device_name() if torch.cuda.is_available() and configs[0].device != 'cpu'
               else f'cpu ({threads} threads per run)'}
    if settings.sweep:  # every arm's lr, and the baseline's lr under each schedule: the best pair wins
        best = {}
        for decay in SWEEP_BASELINE_DECAYS:
            schedule = replace(configs[0], baseline_decay=decay)
            reference = train.baseline_of(schedule, total_steps(schedule), out)
            (lr,), table = sweep_lr(reference, seeds, out / baseline_folder(schedule, 'sweep_baseline'), settings)
            results[f'sweep baseline, decay {decay:g}'] = table
            best[decay, lr] = table[str(lr)]
        baseline_decay, baseline_lr = min(best, key=best.get)
        for i, (name, c) in enumerate(arms):
            lr, results[f'sweep {name}'] = sweep_lr(c, seeds, out / f'sweep_{slug(name)}', settings)
            arms[i] = (name, replace(c, lr=lr, baseline_lr=baseline_lr, baseline_decay=baseline_decay))
    cfg = arms[0][1]
    arms += ablations(cfg)  # after the sweep: each keeps the main V-cycle's learning rates
    results.update(baseline_lr=train.baseline_of(cfg, 1, out).lr[0], baseline_decay=cfg.baseline_decay,
                   arm_lr={name: c.lr for name, c in arms})
    results['logs'], results['frontiers'] = run_bench(cfg, arms, seeds, out, settings)
    results = report.report(results, out)
    (out / 'results.json').write_text(json.dumps(results, indent=1) + '\n')
    print(f"results: {out / 'results.json'}")
    return results


FLAGS = {'--help, -h': 'this text'}


def cli(argv):
    recipe = asdict(train.parse_args(DEFAULT_CONFIGS))
    help = commandline.help_text(__doc__, FLAGS, commandline.settings_help(BenchSettings) + '\n\n'
                                 f'train.py settings, for every arm (as {DEFAULT_CONFIGS[0]}, the default recipe, sets them):\n'
                                 + commandline.settings_help(train.Config, recipe))
    return commandline.command(argv, main, help)


if __name__ == '__main__':
    sys.exit(cli(sys.argv[1:]))
