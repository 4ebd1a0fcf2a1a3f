"""The levers: what this project adds beside the paper's path, each off by default and each entering
vcycle.py at one named seam, in one line. A level change (schedule.Change) says which are on.

    how the small model starts       small_model      coalesce, or plain growth's own init
    what the optimizer starts from   carry_optimizer  a fresh AdamW, or Adam's moments mapped
    how the copies' symmetry breaks  break_symmetry   not at all, or splits that keep the function
    how the return combines          return_to        interpolate (alpha), or correct (beta)
    what steps do besides updating   around_steps     ramp the new copies, dropout after the return
Why each exists: the README's "The way up and its levers"; what each did: results/RESULTS.md.
"""
from contextlib import ExitStack, contextmanager

import torch

from coalesce import coalesce, correct, interpolate, resized_config, second_copies, split_unevenly
from model import set_dropout
from moments import adam_moments, interpolate_moments, resize_moments


def small_model(model, change):
    """M_{l+1} on the way down. The paper: coalesce(M_l). Plain growth (StackBERT, G_stack,
    bert2BERT; small_init='own' after 0 steps down): a model of M_{l+1}'s shape from its own
    initialization, drawn from the change's seed without touching the global random state."""
    if not change.own_init:
        return coalesce(model, **change.resize)
    config = resized_config(model.config, change.width, change.depth, shrink=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(change.seed)
        return type(model)(config).to(next(model.parameters()).device)


def carry_optimizer(model, optimizer, change, kept_moments=None):
    """What the next stage's AdamW starts from. The paper: a fresh AdamW, so (None, None).
    carry_optimizer (MSG, ICLR 2024, carries Adam's moments across growth; here they map through
    the same operators as the weights, moments.py): (model's own moments, which a kept copy keeps;
    the moments the next model starts from: model's mapped through the change and, on the way
    up, interpolated with the kept copy's kept_moments as the weights are)."""
    if not change.carry_optimizer:
        return None, None
    moments = adam_moments(model, optimizer)
    mapped = resize_moments(model, moments, shrink=change.down, **change.resize)
    if not change.down:  # the way up: as the weights, (1 - alpha) kept + alpha grown
        mapped = interpolate_moments(kept_moments, mapped, change.alpha)
    return moments, mapped


def break_symmetry(grown, change):
    """After de-coalescing width the two copies of a feature are twins, and equal gradients keep
    them so. The paper: nothing (the interpolation mixes them with the kept model). split_skew and
    split_noise (HyperCloning, arXiv 2409.12903), or split_complementary (LEMON, ICLR 2024): the
    copies' outgoing weights split unevenly, the function kept exactly (coalesce.split_unevenly)."""
    splits = change.split_skew or change.split_noise or change.split_complementary
    if not (change.width and splits):
        return grown
    noise = torch.Generator().manual_seed(change.seed)  # the same draws on resume
    return split_unevenly(grown, change.split_skew, change.split_noise, change.split_complementary,
                          noise)


def return_to(kept, grown, change):
    """M_l on the way up, from the kept M_l and the grown decoalesce(M_{l+1}). The paper:
    interpolate, (1 - alpha) kept + alpha grown. return_rule='correct': multigrid's coarse-grid
    correction, grown + beta (kept - D(C(kept))), which hands M_l what M_{l+1} learned and keeps
    M_l's own fine detail instead of mixing back its stale coarse part (coalesce.correct;
    multilevel training as in Kopanicakova and Krause, arXiv 2107.07572)."""
    if change.return_rule == 'correct':
        return correct(kept, grown, change.beta, **change.resize)
    return interpolate(kept, grown, change.alpha)


@contextmanager
def around_steps(stage, model, optimizer, step):
    """What the steps of `stage`, from `step` on, do besides the update: the levers of the stage's
    change below, as hooks on the optimizer's step, removed when the stage ends."""
    with ExitStack() as levers:
        if stage.change and stage.change.new_copy_ramp > step:
            levers.enter_context(ramp_new_copies(stage.change, model, optimizer, step))
        if stage.change and stage.change.return_dropout:
            levers.enter_context(return_dropout(stage, model, optimizer, step))
        yield


@contextmanager
def ramp_new_copies(change, model, optimizer, step):
    """new_copy_ramp (after MSG's masks ramped from 0 to 1, ICLR 2024): the entries that
    de-coalescing made as second copies (coalesce.second_copies) start from zero Adam moments and
    move (step + 1) / new_copy_ramp of their update at each step until the ramp ends."""
    masks = second_copies(model, change.width, change.depth, change.depth_pairing)
    ramped = [(p, masks[name]) for name, p in model.named_parameters()]
    if step == 0:  # carried moments of the second copies: zeroed (a fresh AdamW has none yet)
        for p, mask in ramped:
            for key in ('exp_avg', 'exp_avg_sq'):
                if key in optimizer.state.get(p, {}):
                    optimizer.state[p][key] = optimizer.state[p][key].masked_fill(mask, 0)
    before = []

    def keep(optimizer, args, kwargs):
        if step < change.new_copy_ramp:
            before[:] = [p.detach().clone() for p, _ in ramped]

    @torch.no_grad()
    def ramp(optimizer, args, kwargs):
        nonlocal step
        if step < change.new_copy_ramp:
            for (p, mask), old in zip(ramped, before):
                p.copy_(torch.where(mask, old.lerp(p, (step + 1) / change.new_copy_ramp), p))
        step += 1
    hooks = [optimizer.register_step_pre_hook(keep), optimizer.register_step_post_hook(ramp)]
    try:
        yield
    finally:
        for hook in hooks:
            hook.remove()


@contextmanager
def return_dropout(stage, model, optimizer, step):
    """return_dropout: dropout at this probability during the warmup after the way up, so that the
    copies of a feature see different noise and drift apart (Joudaki et al., arXiv 2510.00304; the
    authors train with dropout 0.1 throughout); the model's own dropout after it."""
    def set_for(step):
        in_warmup = step < stage.warmup
        set_dropout(model, stage.change.return_dropout if in_warmup else model.config.dropout)

    def count(optimizer, args, kwargs):
        nonlocal step
        step += 1
        set_for(step)
    set_for(step)
    hook = optimizer.register_step_post_hook(count)
    try:
        yield
    finally:
        hook.remove()
        set_dropout(model, model.config.dropout)
