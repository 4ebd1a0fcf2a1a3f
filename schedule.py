"""The plan of a V-cycle: Config turned once into the stages that run, each holding its level's
settings and the level change it enters by; the model shape at every level, and what the stages
cost in FLOPs. `python train.py --plan` prints it. The loop (vcycle.py) and the levers (levers.py)
read these records, never Config's per-level tuples.

    down:   levels 1 .. k-1, each trained down_steps, then coalesced
    bottom: level k, trained up_steps[k]
    up:     levels k-1 .. 1, each de-coalesced, returned to the kept copy, trained up_steps[l]
each stage's steps (and decay_steps) times cfg.budget, the recipe trained longer or shorter. Every
stage has a warmup, the first stage of a fresh model cfg.warmup, the others transition_warmup (not
scaled). Only the last stage decays its learning rate (cosine to min_lr_frac of the peak,
over its last decay_steps, or all of it after the warmup): what annealing gains does not survive a
level change. A setting per level takes its k values from level 1 down, one per level change its
k - 1 values from the change 1 <-> 2 down; a tuple shorter than that repeats its last value, so
dataclasses.replace(cfg, alpha=(0.5,)) serves every change.
"""
import math
from dataclasses import dataclass

import torch

from coalesce import check_alpha, check_halving, check_resize, resized_config
from data import seed_for
from model import MODELS

PER_LEVEL = ('up_steps', 'lr', 'transition_warmup', 'micro_batch', 'compile_mode')  # k values
# Config's other tuples hold one value per level change: k - 1 values
COMPILE_MODES = ('default', 'reduce-overhead', 'max-autotune', 'max-autotune-no-cudagraphs')
RETURN_RULES = ('interpolate', 'correct')
SMALL_INITS = ('coalesce', 'own')


def need(ok, message):
    if not ok:
        raise ValueError(message)


@dataclass(frozen=True)
class Change:
    """The level change between M_l (l = upper) and M_{l+1}: made going down (keep M_l, coalesce)
    or going up (de-coalesce M_{l+1}, return to the kept M_l), with the levers it uses, each off by
    default (levers.py). Checked when made: a plan holds no impossible change."""
    upper: int                      # l: the change is between levels l and l + 1
    down: bool                      # coalescing M_l into M_{l+1}, or de-coalescing M_{l+1} into M_l
    width: bool                     # halves (doubles) n_embd and n_head
    depth: bool                     # halves (doubles) n_layer
    depth_pairing: str = 'stack'    # layers paired: 'stack' (i, i + L/2) or 'adjacent' (2i, 2i + 1)
    depth_copies: str = 'half'      # a grown layer's residual writes: 'half', 'full' or 'identity'
    seed: int = 0                   # the random draws of the change (split noise, an own init)
    own_init: bool = False          # down: M_{l+1} from its own initialization (plain growth)
    return_rule: str = 'interpolate'  # up: 'interpolate' (alpha) or 'correct' (beta)
    alpha: float = 1.0              # up: the de-coalesced model's weight in the interpolation
    beta: float = 1.0               # up, 'correct': the share of the kept model's fine detail
    split_skew: float = 0.0         # up, width: a copied pair's outgoing weights split unevenly ...
    split_noise: float = 0.0        # ... with +- noise (HyperCloning) ...
    split_complementary: float = 0.0  # ... or as U - N and N (LEMON)
    carry_optimizer: bool = False   # AdamW's moments mapped through the change
    new_copy_ramp: int = 0          # up: the second copies' updates ramp up over this many steps
    return_dropout: float = 0.0     # up: dropout during the warmup after the change

    def __post_init__(self):
        where = f" (level change {self.upper} <-> {self.upper + 1})"
        need(self.width or self.depth, "every level change must halve something: coalesce_width or "
                                       "coalesce_depth must be True")
        check_resize(self.depth_pairing, self.depth_copies)
        need(self.return_rule in RETURN_RULES,
             f"return_rule must be one of {RETURN_RULES}, got {self.return_rule!r}{where}")
        check_alpha(self.alpha)
        need(self.beta >= 0, f"beta must be >= 0, got {self.beta}{where}")
        need(0 <= self.split_skew < 1 and self.split_noise >= 0 and self.split_complementary >= 0,
             f"split_skew must lie in [0, 1), split_noise and split_complementary be >= 0, got "
             f"{self.split_skew}, {self.split_noise} and {self.split_complementary}{where}")
        need(not (self.split_complementary and (self.split_skew or self.split_noise)),
             "split_complementary replaces split_skew and split_noise: set one or the other at "
             "each level change")
        need(self.new_copy_ramp >= 0,
             f"new_copy_ramp must be >= 0, got {self.new_copy_ramp}{where}")
        need(0 <= self.return_dropout < 1,
             f"return_dropout must lie in [0, 1), got {self.return_dropout}{where}")
        need(not (self.carry_optimizer and self.depth_copies == 'identity'),
             "carry_optimizer needs depth_copies 'half' or 'full': 'identity' layers are not "
             "copies, so Adam's moments have no map through them")
        need(not (self.carry_optimizer and self.return_rule == 'correct'),
             "carry_optimizer goes with return_rule 'interpolate' only: Adam's moments have no map "
             "through the coarse-grid correction")

    @property
    def resize(self):
        """The arguments of coalesce, decoalesce and the maps that go with them."""
        return dict(width=self.width, depth=self.depth, depth_pairing=self.depth_pairing,
                    depth_copies=self.depth_copies)

    def describe(self, now):
        """What the change did, shape to shape; `now` is the model config after it."""
        halved = ' and '.join(name for name in ('width', 'depth') if getattr(self, name))
        before = resized_config(now, self.width, self.depth, shrink=not self.down)
        into = self.upper + 1 if self.down else self.upper
        if self.down:
            how = (f"M_{into} from its own initialization (plain growth)" if self.own_init
                   else f"coalesce {halved}")
        elif self.return_rule == 'correct':
            how = f"de-coalesce {halved}, correct the kept M_{into} (beta {self.beta:g})"
        else:
            how = f"de-coalesce {halved}, interpolate with the kept M_{into} (alpha {self.alpha:g})"
        return (f"level {self.upper if self.down else self.upper + 1} -> {into}: {how}, "
                f"{before.n_layer} x {before.n_embd} -> {now.n_layer} x {now.n_embd}")


@dataclass(frozen=True)
class Stage:
    """A stage of training at one level, and everything that level trains with."""
    level: int = 1                  # 1 is the full model, k the smallest
    phase: str = 'bottom'           # 'down', 'bottom' or 'up'
    steps: int = 1
    peak_lr: float = 1e-3
    warmup: int = 0                 # linear warmup steps, cut to the stage's steps
    decay: bool = True              # cosine decay to min_lr_frac * peak_lr by the end ...
    decay_steps: int = 0            # ... over its last decay_steps (0: every step after the warmup)
    min_lr_frac: float = 0.1
    hidden_lr_scale: float = 1.0    # mup_lr: the blocks' matrices train at this times the lr
    micro_batch: int = 32           # sequences per forward pass
    compile_mode: str = 'default'   # torch.compile's mode, where it compiles
    change: Change = None           # how the stage enters its level; None for the first stage
    asked_warmup: int = 0           # the warmup the settings ask for, before the cut

    def __post_init__(self):
        need(self.peak_lr > 0, f"every learning rate must be positive, got {self.peak_lr} at level "
                               f"{self.level}")
        need(self.warmup >= 0 and self.decay_steps >= 0, "warmups and decay_steps must be >= 0")
        need(0 <= self.min_lr_frac <= 1, f"min_lr_frac must lie in [0, 1], got {self.min_lr_frac}")
        need(self.micro_batch >= 1, f"every micro_batch must be at least 1, got {self.micro_batch}")
        need(self.compile_mode in COMPILE_MODES,
             f"compile_mode must be one of {COMPILE_MODES}, got {self.compile_mode!r}")

    def lr_at(self, step):
        """Linear warmup to the peak, then constant, or cosine decay to min_lr_frac * peak over
        the stage's last decay_steps steps (all of them after the warmup when decay_steps is 0)."""
        if step < self.warmup:
            return self.peak_lr * (step + 1) / self.warmup
        start = max(self.warmup, self.steps - self.decay_steps) if self.decay_steps else self.warmup
        if not self.decay or step < start:
            return self.peak_lr
        progress = (step - start) / max(1, self.steps - start)
        cosine = 0.5 * (1 + math.cos(math.pi * progress))
        return self.peak_lr * (self.min_lr_frac + (1 - self.min_lr_frac) * cosine)


def at(values, i):
    """The setting of level (or level change) i + 1: a tuple repeats its last value past its end."""
    return values[min(i, len(values) - 1)]


def level_change(cfg, upper, down, own_init=False):
    """The Change between levels upper and upper + 1, from cfg's per-change settings."""
    i = upper - 1
    lever = {name: at(getattr(cfg, name), i) for name in (
        'return_rule', 'alpha', 'beta', 'split_skew', 'split_noise', 'split_complementary',
        'new_copy_ramp', 'return_dropout')}
    if down:  # the way up's levers have nothing to do going down
        lever.update(new_copy_ramp=0, return_dropout=0.0)
    return Change(upper, down, at(cfg.coalesce_width, i), at(cfg.coalesce_depth, i),
                  at(cfg.depth_pairing, i), at(cfg.depth_copies, i),
                  seed=seed_for(cfg.seed, upper + 1 if down else upper), own_init=own_init,
                  carry_optimizer=at(cfg.carry_optimizer, i), **lever)


def plan_stages(cfg):
    """The stages of cfg's k-level V-cycle in the order they run; a ValueError for an impossible
    one."""
    k = cfg.levels
    order = ([(l, 'down') for l in range(1, k)] + [(k, 'bottom')]
             + [(l, 'up') for l in range(k - 1, 0, -1)])
    need(cfg.budget > 0, f"budget must be positive (1: the recipe as written), got {cfg.budget}")
    stages, trained = [], 0
    for i, (level, phase) in enumerate(order):
        steps = at(cfg.down_steps, level - 1) if phase == 'down' else at(cfg.up_steps, level - 1)
        need(steps >= (0 if phase == 'down' else 1),
             f"every entry of {'down_steps' if phase == 'down' else 'up_steps'} must be "
             f"{'>= 0' if phase == 'down' else '>= 1'}, got {steps} at level {level}")
        need(round(steps * cfg.budget) >= 1 or steps == 0,
             f"budget={cfg.budget:g} leaves level {level}'s {phase} stage no step: raise budget")
        steps = round(steps * cfg.budget)
        change = None
        if i > 0:
            previous = stages[-1]
            down = level > previous.level
            small_init = at(cfg.small_init, previous.level - 1)
            need(small_init in SMALL_INITS,
                 f"small_init must be one of {SMALL_INITS}, got {small_init!r}")
            own_init = down and previous.steps == 0 and small_init == 'own'  # plain growth
            change = level_change(cfg, min(level, previous.level), down, own_init)
        # a fresh model warms up as a first stage; a model after a level change as a transition
        warmup = cfg.warmup if trained == 0 else at(cfg.transition_warmup, level - 1)
        trained += steps
        halvings = sum(at(cfg.coalesce_width, l) for l in range(level - 1))
        stages.append(Stage(
            level, phase, steps, at(cfg.lr, level - 1), min(warmup, steps),
            decay=i == len(order) - 1 or (cfg.decay_every_stage and phase != 'down'),
            decay_steps=round(cfg.decay_steps * cfg.budget), min_lr_frac=cfg.min_lr_frac,
            hidden_lr_scale=float(2 ** halvings) if cfg.mup_lr else 1.0,  # muP for Adam: d_1 / d_l
            micro_batch=at(cfg.micro_batch, level - 1),
            compile_mode=at(cfg.compile_mode, level - 1),
            change=change, asked_warmup=warmup))
    return stages


def total_steps(cfg):
    return sum(s.steps for s in plan_stages(cfg))


def locate(stages, iteration):
    """(stage, step within it) of a global iteration."""
    start = 0
    for stage in stages:
        if iteration < start + stage.steps:
            break
        start += stage.steps
    return stage, iteration - start


def warmup_warnings(cfg):
    """A line for each stage with fewer steps than its warmup: its lr reaches the peak only at its
    end."""
    return [f"warning: stage {i} (level {s.level}, {s.phase}) has {s.steps} steps, fewer than its "
            f"warmup of {s.asked_warmup}: its learning rate reaches the peak {s.peak_lr:g} only at "
            f"its last step"
            for i, s in enumerate(plan_stages(cfg)) if 0 < s.steps < s.asked_warmup]


def plural(n, noun):
    return f"{n} {noun}{'' if n == 1 else 's'}"


def level_configs(cfg, model_config):
    """The model configs of M_1 .. M_k, each level the one above halved as its level change says."""
    configs = [model_config]
    for change in [s.change for s in plan_stages(cfg) if s.change and s.change.down]:
        c = configs[-1]
        try:
            check_halving(c, change.width, change.depth, names=('coalesce_width', 'coalesce_depth'))
        except ValueError as e:
            raise ValueError(f"levels={cfg.levels} needs level {change.upper + 1} = level "
                             f"{change.upper} halved ({plural(c.n_layer, 'layer')}, "
                             f"{plural(c.n_head, 'head')}, n_embd {c.n_embd}): {e}") from None
        configs.append(resized_config(c, change.width, change.depth, shrink=True))
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
    peak lr, warmup, decay and FLOPs; the total, and the same tokens' cost for plain training of
    M_1."""
    costs, plain = stage_costs(cfg, model_config)
    kind = 'V-cycle' if cfg.levels > 1 else 'plain training'
    lines = [f"{cfg.levels}-level {kind} of a {cfg.model.upper()}, {cfg.batch_tokens:,} tokens per "
             f"step; FLOPs = steps x tokens x (6 N + 12 L d T) per token",
             f"{'stage':>5s} {'level':>5s} {'phase':6s} {'shape':>18s} {'params':>9s} "
             f"{'steps':>7s} {'tokens':>14s} {'peak lr':>8s} {'warmup':>6s} {'decay':>5s} "
             f"{'FLOPs':>9s}"]
    for i, (stage, c, params, flops) in enumerate(costs):  # numbered as log.jsonl numbers them
        shape = f'{c.n_layer} x {c.n_embd}, {c.n_head} heads'
        lines.append(f"{i:5d} {stage.level:5d} {stage.phase:6s} {shape:>18s} {params / 1e6:8.2f}M "
                     f"{stage.steps:7d} {stage.steps * cfg.batch_tokens:14,d} {stage.peak_lr:8.2g} "
                     f"{stage.warmup:6d} {'yes' if stage.decay else 'no':>5s} {flops:9.3e}")
    steps, flops = sum(s.steps for s, *_ in costs), sum(f for *_, f in costs)
    lines.append(f"{'total':>5s} {'':5s} {'':6s} {'':18s} {'':9s} {steps:7d} "
                 f"{steps * cfg.batch_tokens:14,d} {'':8s} {'':6s} {'':5s} {flops:9.3e}")
    lines.append(f"plain training of M_1 on the same {steps * cfg.batch_tokens:,} tokens: "
                 f"{plain:.3e} FLOPs; this run costs {flops / plain:.3f} of it")
    return '\n'.join(lines)
