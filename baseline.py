"""The baseline a V-cycle is judged against, as the bench defines it: plain training of the
recipe's M_1 at its tuned baseline_lr, with its own warmup, holding the peak and decaying over the
last baseline_decay of its steps (warmup-stable-decay; 0: cosine decay over all of them). bench.py
trains it as the reference (as many tokens as the V-cycle) and at every budget of the frontier;
`python train.py --baseline` trains the reference alone. It has no level changes, so every recipe
on the same M_1, data, batch and baseline settings has the same baseline.
"""
import typing
from dataclasses import fields, replace

from schedule import PER_LEVEL

BASELINE_SETTINGS = ('baseline_lr', 'baseline_decay')  # they shape a recipe's baseline, not its run


def peak_lr(cfg):
    """The baseline's peak lr: the recipe's baseline_lr, or (0) its level 1's."""
    return cfg.baseline_lr or cfg.lr[0]


def baseline_of(cfg, steps, out_dir, eval_interval=None):
    """cfg's baseline trained for `steps` steps into out_dir, a config of its own (levels = 1)."""
    level_1 = {name: getattr(cfg, name)[:1] for name in PER_LEVEL}  # level 1's own settings
    level_1.update(up_steps=(steps,), lr=(peak_lr(cfg),))
    no_changes = {f.name: () for f in fields(cfg)
                  if typing.get_origin(f.type) is tuple and f.name not in PER_LEVEL}
    decay_steps = max(1, round(cfg.baseline_decay * steps)) if cfg.baseline_decay else 0
    return replace(cfg, levels=1, **level_1, budget=1.0, decay_steps=decay_steps,
                   decay_every_stage=False, mup_lr=False, baseline_lr=0.0, baseline_decay=0.0,
                   out_dir=str(out_dir),
                   eval_interval=eval_interval or cfg.eval_interval, **no_changes)


def baseline_name(cfg):
    """The baseline's schedule in words: 'lr 0.0056' or 'lr 0.0056, decay over the last 20%'."""
    decay = f", decay over the last {cfg.baseline_decay:.0%}" if cfg.baseline_decay else ''
    return f"lr {peak_lr(cfg):g}" + decay


def baseline_folder(cfg, name):
    """A baseline run's folder name: 'baseline' or 'frontier862', with '_wsd0.2' after it when the
    recipe's baseline decays over its last 20% only (so that both schedules keep their runs)."""
    return name + (f'_wsd{cfg.baseline_decay:g}' if cfg.baseline_decay else '')
