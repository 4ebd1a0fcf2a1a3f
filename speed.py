"""The training speed of each level of a recipe (python bench.py CONFIG --speed): tokens/s, model
FLOPs/s and MFU at each level's shape, through the step a run takes (step.train_step, with the
level's compile mode, micro-batch and optimizer), on random tokens so that no dataset is needed.
"""
import json
import time
from dataclasses import replace

import torch

import report
import train
from commandline import ConfigError
from data import RandomTokens
from model import MODELS
from schedule import level_configs, plan_stages
from step import NonFiniteWatch, build_optimizer, stage_step

UNTIMED_STEPS = 10  # compilation and autotuning happen in these


def measure_speed(cfg, steps, out):
    """UNTIMED_STEPS steps at each level, then `steps` timed ones. Prints and returns, per level,
    tokens/s, model FLOPs/s (6 N + 12 L d T a token), MFU against the device's dense bf16 peak,
    and tokens/s and FLOPs a token against M_1's; writes out/speed.json."""
    if cfg.model == 'vit':
        raise ConfigError("--speed measures text models (GPT, BERT) on random tokens; ViT has no "
                          "speed recipe")
    env, model_config, _ = train.checked_request(replace(cfg, init_from='scratch'), plan=True)
    device = (torch.cuda.get_device_name(env.device) if env.device.startswith('cuda')
              else f'cpu ({torch.get_num_threads()} threads)')
    peak, levels = report.peak_flops(device), []
    stages = {s.level: s for s in plan_stages(cfg)}  # each level's settings
    for level, config in enumerate(level_configs(cfg, model_config), 1):
        stage = stages[level]
        torch.manual_seed(cfg.seed)
        model = MODELS[cfg.model](config).to(env.device)
        bert = cfg.model == 'bert'  # BERT's vocabulary ends with its [MASK] token
        batches = RandomTokens(config.vocab_size - bert, cfg.block_size,
                               cfg.batch_tokens // model.seq_len, cfg.seed,
                               pin=env.device.startswith('cuda'),
                               mask_token_id=config.vocab_size - 1 if bert else None)
        optimizer = build_optimizer(model, cfg, stage.hidden_lr_scale, env.device)
        watch = NonFiniteWatch(env.device)
        step = stage_step(model, optimizer, batches, stage, cfg, env, watch)
        for i in range(UNTIMED_STEPS + steps):
            if i == UNTIMED_STEPS:
                watch.first()  # waits for the untimed steps
                t0 = time.perf_counter()
            step(i, 0.1 * stage.peak_lr)
        watch.first()          # waits for the timed ones
        tokens_per_s = steps * cfg.batch_tokens / (time.perf_counter() - t0)
        flops_per_s = tokens_per_s * model.flops_per_token()
        levels.append(dict(level=level, shape=f'{config.n_layer} x {config.n_embd}',
                           params=model.num_params(), micro_batch=stage.micro_batch,
                           compile_mode=stage.compile_mode if env.compile else 'off',
                           tokens_per_s=tokens_per_s, flops_per_token=model.flops_per_token(),
                           flops_per_s=flops_per_s,
                           mfu_pct=100 * flops_per_s / peak if peak else None))
        del model, optimizer, step
    print_speed(levels, device, cfg.batch_tokens, steps)
    result = dict(device=device, date=time.strftime('%Y-%m-%d'), batch_tokens=cfg.batch_tokens,
                  steps=steps, levels=levels)
    out.mkdir(parents=True, exist_ok=True)
    (out / 'speed.json').write_text(json.dumps(result, indent=1) + '\n')
    print(f"results: {out / 'speed.json'}")
    return result


def print_speed(levels, device, batch_tokens, steps):
    print(f"\ntraining speed on {device}, {batch_tokens:,} tokens a step, {steps} steps timed "
          f"after {UNTIMED_STEPS}:")
    print(f"{'level':>5s} {'shape':>10s} {'params':>9s} {'micro':>5s} {'compile':>12s} "
          f"{'tokens/s':>12s} {'TFLOP/s':>8s} {'MFU':>6s} {'tokens/s vs M_1':>15s} "
          f"{'FLOPs/token: M_1 / it':>22s}")
    for s in levels:
        mfu = f"{s['mfu_pct']:5.1f}%" if s['mfu_pct'] else '     -'
        print(f"{s['level']:5d} {s['shape']:>10s} {s['params'] / 1e6:8.2f}M {s['micro_batch']:5d} "
              f"{s['compile_mode']:>12s} {s['tokens_per_s']:12,.0f} "
              f"{s['flops_per_s'] / 1e12:8.2f} {mfu} "
              f"{s['tokens_per_s'] / levels[0]['tokens_per_s']:14.2f}x "
              f"{levels[0]['flops_per_token'] / s['flops_per_token']:21.2f}x")
