"""Benchmark: the V-cycle against the baseline at equal validation loss.

    python bench.py                          # config/bench_cpu.py and config/bench_cpu_3level.py
    python bench.py --sweep                  # first choose the baseline's peak lr by a small sweep
    python bench.py --ablation               # alpha, depth pairing, width/depth-only variants
    python bench.py config/bench_gpu.py      # the GPU recipe (bf16, torch.compile), with MFU

Arguments: train.py config files, each a V-cycle arm (the first one sets the baseline's budget,
out_dir and ablations), then --key=value overrides for every arm, --baseline_lr=X, and the flags.
Every arm trains in this process, one after the other, with the same seed, so the same data order
and the same evaluation batches. The baseline (levels = 1) trains on as many tokens as the first
V-cycle, with its own warmup and cosine decay. Reported: the baseline's final validation loss; the
FLOPs and training wall time at which each V-cycle's full model (level 1) first reaches it,
interpolated linearly between evaluations; the savings against the baseline's totals; final
losses; tokens/s per level. Results go to out_dir/results.json and, with matplotlib installed,
out_dir/loss.png.
"""
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

import train
from vcycle import plan_stages

GPU_BF16_PEAK_FLOPS = {'H100 SXM': 989e12, 'H100 80GB HBM3': 989e12, 'H100 PCIe': 756e12, 'H100 NVL': 835e12,
                       'H200': 989e12, 'A100': 312e12, 'L4': 121e12, 'RTX 4090': 165e12, 'A10G': 70e12}
SWEEP_FACTORS = (0.5, 0.7, 1.0, 1.4, 2.0)
DEFAULT_CONFIGS = ['config/bench_cpu.py', 'config/bench_cpu_3level.py']
BASELINE_LR = {'config/bench_cpu.py': 8e-3}  # the baseline's peak lr, as chosen by --sweep (README)


def baseline_of(cfg, lr, out_dir):
    """Plain training of M_1 on as many tokens as cfg's V-cycle trains on (all levels together: the
    authors' GPT-2 recipe pits 100K baseline steps against 5K + 50K + 50K), with its own warmup and
    cosine decay. The V-cycle spends fewer FLOPs on them; the saving is measured at equal loss."""
    steps = sum(s.steps for s in plan_stages(cfg))
    return replace(cfg, levels=1, up_steps=(steps,), down_steps=(), lr=(lr,), alpha=(), transition_warmup=(),
                   out_dir=str(out_dir))


def train_arm(cfg, name):
    print(f"\n=== {name}: {cfg.levels} level(s), out_dir {cfg.out_dir}", flush=True)
    train.run(cfg)
    log = [json.loads(line) for line in (Path(cfg.out_dir) / 'log.jsonl').read_text().splitlines()]
    return {'name': name, 'levels': cfg.levels, 'log': log}


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


def loss_at(log, key, x):
    """The validation loss of a run at x FLOPs (or seconds), interpolated between evaluations."""
    for a, b in zip(log, log[1:]):
        if a[key] <= x <= b[key] and b[key] > a[key]:
            return a['val_loss'] + (x - a[key]) / (b[key] - a[key]) * (b['val_loss'] - a['val_loss'])
    return log[-1]['val_loss']


def tokens_per_s_by_level(log):
    """Training tokens per second of each level, over all of its stages."""
    tokens, seconds = {}, {}
    for a, b in zip(log, log[1:]):
        if (a['stage'], a['level']) == (b['stage'], b['level']):
            tokens[a['level']] = tokens.get(a['level'], 0) + b['tokens'] - a['tokens']
            seconds[a['level']] = seconds.get(a['level'], 0) + b['time_s'] - a['time_s']
    return {level: tokens[level] / seconds[level] for level in tokens if seconds[level] > 0}


def summarize(arm, baseline):
    target = baseline['log'][-1]['val_loss']
    total_flops, total_s = baseline['log'][-1]['flops'], baseline['log'][-1]['time_s']
    reach = first_reach(arm['log'], target)
    row = {'name': arm['name'], 'levels': arm['levels'], 'final_val_loss': arm['log'][-1]['val_loss'],
           'baseline_loss_at_same_flops': loss_at(baseline['log'], 'flops', arm['log'][-1]['flops']),
           'total_flops': arm['log'][-1]['flops'], 'total_time_s': arm['log'][-1]['time_s'],
           'tokens_per_s_by_level': tokens_per_s_by_level(arm['log']),
           'flops_to_baseline_loss': None, 'time_to_baseline_loss_s': None,
           'flops_saving_pct': None, 'time_saving_pct': None}
    if reach is not None:
        row.update(flops_to_baseline_loss=reach[0], time_to_baseline_loss_s=reach[1],
                   flops_saving_pct=100 * (1 - reach[0] / total_flops), time_saving_pct=100 * (1 - reach[1] / total_s))
    return row


def mfu(arm, cfg):
    """Model FLOPs per second over the GPU's bf16 peak, at the median steady-state throughput (so
    torch.compile's first steps do not count); None off CUDA or for an unknown GPU."""
    if not torch.cuda.is_available() or cfg.device == 'cpu':
        return None
    name = torch.cuda.get_device_name()
    peak = next((v for k, v in GPU_BF16_PEAK_FLOPS.items() if k in name), None)
    rates = sorted(r['tokens_per_s'] for r in arm['log'] if r['tokens_per_s'])
    if peak is None or not rates:
        return None
    last = arm['log'][-1]
    flops_per_s = rates[len(rates) // 2] * last['flops'] / last['tokens']
    return {'device': name, 'peak_flops': peak, 'model_flops_per_s': flops_per_s, 'mfu_pct': 100 * flops_per_s / peak}


def plot(arms, path):
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install matplotlib); results.json is written")
        return False
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    for ax, key, label in ((axes[0], 'flops', 'training FLOPs'), (axes[1], 'time_s', 'training wall time (s)')):
        for arm in arms:
            xs, ys = [r[key] for r in arm['log']], [r['val_loss'] for r in arm['log']]
            line, = ax.plot(xs, ys, label=arm['name'], lw=1.6)
            for a, b in zip(arm['log'], arm['log'][1:]):
                if a['stage'] != b['stage']:
                    ax.axvline(b[key], color=line.get_color(), ls=':', lw=0.9)
        ax.axhline(arms[0]['log'][-1]['val_loss'], color='gray', lw=0.8, ls='--', label='baseline final loss')
        ax.set_xlabel(label + ('  (dotted: level changes)' if key == 'flops' else ''))
        ax.set_ylabel('validation loss')
        finals = [a['log'][-1]['val_loss'] for a in arms]
        ax.set_ylim(min(finals) - 0.05, min(finals) + 0.8)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def print_table(rows, baseline_row):
    print(f"\nbaseline final validation loss {baseline_row['final_val_loss']:.4f}, "
          f"{baseline_row['total_flops']:.3e} FLOPs, {baseline_row['total_time_s']:.1f} s")
    print(f"{'arm':38s} {'final loss':>10s} {'its FLOPs':>10s} {'baseline there':>14s} {'FLOPs to reach':>15s} "
          f"{'FLOPs saved':>11s} {'time saved':>10s}")
    for r in rows:
        saved = (f"{r['flops_to_baseline_loss']:15.3e} {r['flops_saving_pct']:10.1f}% {r['time_saving_pct']:9.1f}%"
                 if r['flops_saving_pct'] is not None else f"{'not reached':>15s} {'-':>11s} {'-':>10s}")
        print(f"{r['name']:38s} {r['final_val_loss']:10.4f} {r['total_flops']:10.3e} "
              f"{r['baseline_loss_at_same_flops']:14.4f} {saved}")


ABLATIONS = {  # name: overrides of the main V-cycle (whose own alpha and pairing fill the gaps)
    'alpha=0': dict(alpha=0.0), 'alpha=0.25': dict(alpha=0.25), 'alpha=0.5': dict(alpha=0.5), 'alpha=1': dict(alpha=1.0),
    'depth_pairing=adjacent': dict(depth_pairing='adjacent'), 'depth_pairing=stack': dict(depth_pairing='stack'),
    'width only': dict(coalesce_width=True, coalesce_depth=False),
    'depth only': dict(coalesce_width=False, coalesce_depth=True),
    'width and depth': dict(coalesce_width=True, coalesce_depth=True),
    'depth_copies=full': dict(depth_copies='full'),
    'decay_every_stage': dict(decay_every_stage=True),
}


def main(argv):
    flags = {a for a in argv if a in ('--sweep', '--ablation')}
    baseline_lr = next((float(a.split('=', 1)[1]) for a in argv if a.startswith('--baseline_lr=')), None)
    overrides = [a for a in argv if a.startswith('--') and a not in flags and not a.startswith('--baseline_lr=')]
    files = [a for a in argv if not a.startswith('--')] or DEFAULT_CONFIGS
    configs = [replace(train.parse_args([f] + overrides), overwrite=True) for f in files]
    cfg = configs[0]  # the main V-cycle: it sets the budget, the out_dir and the ablations
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    baseline_lr = baseline_lr or BASELINE_LR.get(files[0], cfg.lr[0])
    results = {'command': 'python bench.py ' + ' '.join(argv), 'date': time.strftime('%Y-%m-%d'),
               'device': torch.cuda.get_device_name() if torch.cuda.is_available() and cfg.device != 'cpu'
               else f'cpu ({torch.get_num_threads()} threads)'}
    if '--sweep' in flags:
        sweep = {}
        for factor in SWEEP_FACTORS:
            lr = float(f'{baseline_lr * factor:.3g}')
            sweep[lr] = train_arm(baseline_of(cfg, lr, out / f'sweep_lr{lr:g}'), f'baseline lr={lr:g}')['log'][-1]['val_loss']
        baseline_lr = min(sweep, key=sweep.get)
        results['sweep'] = {f'{k:g}': v for k, v in sweep.items()}
        print('sweep (peak lr: final validation loss):', results['sweep'], '-> best', baseline_lr)
    baseline = train_arm(baseline_of(cfg, baseline_lr, out / 'baseline'), f'baseline (lr {baseline_lr:g})')
    arms = [train_arm(replace(c, out_dir=str(out / Path(f).stem)), f'V-cycle, {c.levels} levels ({Path(f).stem})')
            for f, c in zip(files, configs)]
    if '--ablation' in flags:
        for name, changes in ABLATIONS.items():
            if all(getattr(cfg, k) == (v,) * len(getattr(cfg, k)) if isinstance(getattr(cfg, k), tuple)
                   else getattr(cfg, k) == v for k, v in changes.items()):
                continue  # the main V-cycle is this variant
            variant = replace(train.parse_args([files[0]] + overrides + [f'--{k}={v}' for k, v in changes.items()]),
                              overwrite=True, out_dir=str(out / ('ablation_' + name.replace('=', '_').replace(' ', '_'))))
            arms.append(train_arm(variant, f'ablation: {name}'))
    baseline_row = summarize(baseline, baseline)
    rows = [summarize(a, baseline) for a in arms]
    results.update(baseline_lr=baseline_lr, baseline=baseline_row, arms=rows, baseline_mfu=mfu(baseline, cfg),
                   logs={a['name']: a['log'] for a in [baseline] + arms})
    (out / 'results.json').write_text(json.dumps(results, indent=1) + '\n')
    print_table(rows, baseline_row)
    if results['baseline_mfu']:
        print(f"baseline MFU {results['baseline_mfu']['mfu_pct']:.1f}% of {results['baseline_mfu']['device']} bf16 peak")
    if plot([baseline] + arms[:len(files)], out / 'loss.png'):
        print(f"plot: {out / 'loss.png'}")
    print(f"results: {out / 'results.json'}")
    return results


if __name__ == '__main__':
    try:
        main(sys.argv[1:])
    except (train.ConfigError, train.DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
