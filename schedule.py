"""The plan of a V-cycle: its stages in order, each stage's learning rate at every step, the model
shape at every level, and what the stages cost in FLOPs; python train.py --plan prints it.

    down:   levels 1 .. k-1, each trained down_steps, then coalesced
    bottom: level k, trained up_steps[k]
    up:     levels k-1 .. 1, each de-coalesced, returned to the kept copy, trained up_steps[l]
Only the last stage decays its learning rate (cosine to min_lr_frac of the peak, over its last
decay_steps, or all of it after the warmup); every stage has a warmup, the first stage of a fresh
model cfg.warmup, the others transition_warmup. A level change between level l and l + 1 halves
what coalesce_width[l] and coalesce_depth[l] say.
"""
import math
from dataclasses import dataclass

import torch

from coalesce import check_halving, resized_config
from model import MODELS


@dataclass
class Stage:
    level: int     # 1 is the full model, k the smallest
    phase: str     # 'down', 'bottom' or 'up'
    steps: int
    warmup: int
    peak_lr: float
    decay: bool    # cosine decay to min_lr_frac * peak_lr by the end of the stage ...
    decay_steps: int = 0  # ... over its last decay_steps steps (0: every step after the warmup)
    asked_warmup: int = 0  # the warmup the settings ask for; `warmup` is cut to the stage's steps


def plan_stages(cfg):
    """The stages of a k-level V-cycle in the order they run."""
    k = cfg.levels
    order = [(l, 'down') for l in range(1, k)] + [(k, 'bottom')] + [(l, 'up') for l in range(k - 1, 0, -1)]
    stages, trained = [], 0
    for i, (level, phase) in enumerate(order):
        steps = cfg.down_steps[level - 1] if phase == 'down' else cfg.up_steps[level - 1]
        warmup = cfg.warmup if trained == 0 else cfg.transition_warmup[level - 1]  # a fresh model: the first warmup
        trained += steps
        decay = i == len(order) - 1 or (cfg.decay_every_stage and phase != 'down')
        stages.append(Stage(level, phase, steps, min(warmup, steps), cfg.lr[level - 1], decay, cfg.decay_steps, warmup))
    return stages


def total_steps(cfg):
    return sum(s.steps for s in plan_stages(cfg))


def warmup_warnings(cfg):
    """A line for each stage with fewer steps than its warmup: its lr reaches the peak only at its end."""
    return [f"warning: stage {i} (level {s.level}, {s.phase}) has {s.steps} steps, fewer than its warmup of "
            f"{s.asked_warmup}: its learning rate reaches the peak {s.peak_lr:g} only at its last step"
            for i, s in enumerate(plan_stages(cfg)) if 0 < s.steps < s.asked_warmup]


def lr_at(stage, step, min_lr_frac):
    """Linear warmup to the peak, then constant, or cosine decay to min_lr_frac * peak over the
    stage's last decay_steps steps (all of them after the warmup when decay_steps is 0)."""
    if step < stage.warmup:
        return stage.peak_lr * (step + 1) / stage.warmup
    start = max(stage.warmup, stage.steps - stage.decay_steps) if stage.decay_steps else stage.warmup
    if not stage.decay or step < start:
        return stage.peak_lr
    progress = (step - start) / max(1, stage.steps - start)
    return stage.peak_lr * (min_lr_frac + (1 - min_lr_frac) * 0.5 * (1 + math.cos(math.pi * progress)))


def level_change(cfg, level):
    """The coalesce/decoalesce arguments of the change between `level` and `level` + 1."""
    i = level - 1
    return dict(width=cfg.coalesce_width[i], depth=cfg.coalesce_depth[i], depth_pairing=cfg.depth_pairing[i],
                depth_copies=cfg.depth_copies[i])


def plural(n, noun):
    return f"{n} {noun}{'' if n == 1 else 's'}"


def level_configs(cfg, model_config):
    """The model configs of M_1 .. M_k, each level the one above halved as its level change says."""
    configs = [model_config]
    for level in range(1, cfg.levels):
        c, change = configs[-1], level_change(cfg, level)
        try:
            check_halving(c, change['width'], change['depth'], names=('coalesce_width', 'coalesce_depth'))
        except ValueError as e:
            raise ValueError(f"levels={cfg.levels} needs level {level + 1} = level {level} halved ({plural(c.n_layer, 'layer')}, "
                             f"{plural(c.n_head, 'head')}, n_embd {c.n_embd}): {e}") from None
        configs.append(resized_config(c, change['width'], change['depth'], shrink=True))
    return configs


def stage_costs(cfg, model_config):
    """[(stage, its model config, parameters, FLOPs)] for cfg's stages, from M_1's model config,
    counted as a run counts them, and the FLOPs of plain training of M_1 on the same tokens."""
    configs = level_configs(cfg, model_config)
    with torch.device('meta'):  # shapes only: nothing is allocated or initialized
        models = [MODELS[cfg.model](c) for c in configs]
    stages = plan_stages(cfg)
    costs = [(s, configs[s.level - 1], models[s.level - 1].num_params(),
              s.steps * models[s.level - 1].flops_per_token() * cfg.batch_tokens) for s in stages]
    return costs, sum(s.steps for s in stages) * models[0].flops_per_token() * cfg.batch_tokens


def plan_table(cfg, model_config):
    """What cfg's V-cycle will train, as text: each stage's level, shape, parameters, steps, tokens,
    peak lr, warmup, decay and FLOPs; the total, and the same tokens' cost for plain training of M_1."""
    costs, plain = stage_costs(cfg, model_config)
    lines = [f"{cfg.levels}-level {'V-cycle' if cfg.levels > 1 else 'plain training'} of a {cfg.model.upper()}, "
             f"{cfg.batch_tokens:,} tokens per step; FLOPs = steps x tokens x (6 N + 12 L d T) per token",
             f"{'stage':>5s} {'level':>5s} {'phase':6s} {'shape':>18s} {'params':>9s} {'steps':>7s} {'tokens':>14s} "
             f"{'peak lr':>8s} {'warmup':>6s} {'decay':>5s} {'FLOPs':>9s}"]
    for i, (stage, c, params, flops) in enumerate(costs):  # numbered as log.jsonl numbers them
        lines.append(f"{i:5d} {stage.level:5d} {stage.phase:6s} {f'{c.n_layer} x {c.n_embd}, {c.n_head} heads':>18s} "
                     f"{params / 1e6:8.2f}M {stage.steps:7d} {stage.steps * cfg.batch_tokens:14,d} "
                     f"{stage.peak_lr:8.2g} {stage.warmup:6d} {'yes' if stage.decay else 'no':>5s} {flops:9.3e}")
    steps, flops = sum(s.steps for s, *_ in costs), sum(f for *_, f in costs)
    lines.append(f"{'total':>5s} {'':5s} {'':6s} {'':18s} {'':9s} {steps:7d} {steps * cfg.batch_tokens:14,d} "
                 f"{'':8s} {'':6s} {'':5s} {flops:9.3e}")
    lines.append(f"plain training of M_1 on the same {steps * cfg.batch_tokens:,} tokens: {plain:.3e} FLOPs; "
                 f"this run costs {flops / plain:.3f} of it")
    return '\n'.join(lines)
