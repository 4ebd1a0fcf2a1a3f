"""One training step and what it needs: where it runs (Env), AdamW, the module the passes run
through, the evaluation, and a watch on non-finite losses that never makes a step wait. With them,
`train_model` trains any model through a stage in one call (the lesson trains M_2 so);
vcycle.py's loop uses the same pieces and adds logging, checkpoints and signals.
"""
import os
from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

from model import accuracy_counts


@dataclass
class Env:
    """Where a run executes: device, DDP rank and world size, autocast and compile choices."""
    device: str = 'cpu'
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    autocast_dtype: torch.dtype = None  # bf16 autocast on CUDA, None for plain float32
    compile: bool = False

    @property
    def ddp(self):
        return self.world > 1

    @property
    def master(self):
        return self.rank == 0

    def autocast(self):
        if self.autocast_dtype is None:
            return nullcontext()
        return torch.autocast(torch.device(self.device).type, dtype=self.autocast_dtype)

    @classmethod
    def here(cls, device='auto', dtype='auto', compile='auto'):
        """The Env of this process: the rank and world size torchrun sets; the device ('auto':
        CUDA, then MPS, then the CPU; a rank's own GPU under DDP); bf16 autocast and torch.compile
        on CUDA unless dtype and compile say otherwise. A ValueError for a device not here."""
        world = int(os.environ.get('WORLD_SIZE', 1))
        rank, local_rank = int(os.environ.get('RANK', 0)), int(os.environ.get('LOCAL_RANK', 0))
        if device == 'auto':
            mps = torch.backends.mps.is_available()
            device = 'cuda' if torch.cuda.is_available() else 'mps' if mps else 'cpu'
        if device == 'cuda' and world > 1:
            device = f'cuda:{local_rank}'
        try:
            kind = torch.device(device).type
        except RuntimeError:
            raise ValueError(f"device {device!r} is not a device name: use auto, cpu, cuda, cuda:N "
                             f"or mps") from None
        try:
            torch.empty(0, device=device)
        except (RuntimeError, AssertionError):  # no such GPU, or a PyTorch built without it
            raise ValueError(f"device {device!r} is not available on this machine or in this "
                             f"PyTorch build: use --device=cpu or auto") from None
        bf16 = dtype == 'bfloat16' or (dtype == 'auto' and kind == 'cuda')
        return cls(device=device, rank=rank, world=world, local_rank=local_rank,
                   autocast_dtype=torch.bfloat16 if bf16 else None,
                   compile=compile == 'on' or (compile == 'auto' and kind == 'cuda'))


class NonFiniteLoss(RuntimeError):
    """The loss became inf or NaN; the step was skipped and the last checkpoint left as it was."""


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived while training; a checkpoint was written."""


FUSED_ADAMW_DEVICES = ('cuda', 'cpu')  # where PyTorch has AdamW's fused kernel


def build_optimizer(model, cfg, hidden_lr_scale=1.0, device='cpu'):
    """A fresh AdamW for `model` with cfg's betas, weight decay on matrices only. With
    hidden_lr_scale (muP, the plan's Stage.hidden_lr_scale), the blocks' matrices are a group of
    their own whose lr is the stage's times lr_scale (set_lr). Fused as cfg.fused_adamw says
    ('auto': on the devices that have the kernel, FUSED_ADAMW_DEVICES)."""
    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    hidden = set()
    if hidden_lr_scale != 1:
        hidden = {name for name, p in named if p.dim() >= 2 and name.startswith('blocks.')}
    groups = [{'params': [p for name, p in named if p.dim() >= 2 and name not in hidden],
               'weight_decay': cfg.weight_decay},
              {'params': [p for _, p in named if p.dim() < 2], 'weight_decay': 0.0}]
    if hidden:
        groups.append({'params': [p for name, p in named if name in hidden],
                       'weight_decay': cfg.weight_decay, 'lr_scale': hidden_lr_scale})
    fused = cfg.fused_adamw == 'on' or (cfg.fused_adamw == 'auto'
                                        and torch.device(device).type in FUSED_ADAMW_DEVICES)
    return torch.optim.AdamW(groups, lr=0.0, betas=(cfg.beta1, cfg.beta2), fused=fused)


def set_lr(optimizer, lr):
    for group in optimizer.param_groups:
        group['lr'] = lr * group.get('lr_scale', 1.0)


def wrap(model, compile_mode, env):
    """The module to run steps through: torch.compile's and DDP's wrappers around `model`, rebuilt
    at every stage, since every level change makes a new model."""
    runner = torch.compile(model, mode=compile_mode) if env.compile else model
    if env.ddp:
        runner = DDP(runner, device_ids=[env.local_rank] if env.device.startswith('cuda') else None)
    return runner


def replays_cuda_graphs(compile_mode, env):
    """Whether a compiled module replays CUDA graphs, which must be told where a step begins."""
    return env.compile and compile_mode == 'reduce-overhead'


class NonFiniteWatch:
    """The first iteration whose loss (or gradient norm) was not finite, and that loss, kept on the
    device so that no step waits for the GPU; `first` reads them where the host waits anyway."""

    def __init__(self, device):
        self.iteration = torch.full((), -1, dtype=torch.long, device=device)
        self.loss = torch.zeros((), device=device)

    def record(self, bad, loss, iteration):
        first = bad & (self.iteration < 0)
        self.iteration = torch.where(first, iteration, self.iteration)
        self.loss = torch.where(first, loss, self.loss)

    def first(self):
        """(iteration, loss) of the first non-finite step, or None; waits for the queued steps."""
        iteration = self.iteration.item()
        return None if iteration < 0 else (iteration, self.loss.item())


def accumulate_gradients(runner, batches, iteration, micro_batch, env, cuda_graphs=False):
    """Gradients of this rank's share of the iteration's global batch, averaged over the
    micro-steps and (by DDP) over the ranks: the gradient of the whole batch's mean loss.
    Returns that mean loss, on the device."""
    accum = batches.batch_rows // (micro_batch * env.world)
    total = torch.zeros((), device=env.device)
    for micro in range(accum):
        x, y = batches.train_chunk(iteration, micro * env.world + env.rank, micro_batch)
        x, y = x.to(env.device, non_blocking=True), y.to(env.device, non_blocking=True)
        if cuda_graphs:
            torch.compiler.cudagraph_mark_step_begin()
        # DDP averages gradients over the ranks only on the last micro-step
        with nullcontext() if not env.ddp or micro == accum - 1 else runner.no_sync():
            with env.autocast():
                _, loss = runner(x, y)
            (loss / accum).backward()
        total += loss.detach() / accum
    if env.ddp:
        dist.all_reduce(total)  # gloo has no AVG
        total /= env.world
    return total


def train_step(model, optimizer, batches, iteration, lr, *, micro_batch, env, grad_clip, watch,
               runner=None, cuda_graphs=False):
    """One optimizer step on the global batch of `iteration`, queued without waiting for the
    device; runner is the module the passes run through (model, or its compiled or DDP wrapper). A
    step whose loss (or, with clipping, gradient norm) is not finite changes nothing, and `watch`
    keeps its iteration: a fused AdamW skips it on the device (found_inf, as for a gradient
    scaler's overflow); without the fused kernel (MPS, XPU) the host reads the verdict and skips
    the step, the one wait of such a step, as torch.amp.GradScaler does. Returns the mean loss, on
    the device."""
    loss = accumulate_gradients(runner or model, batches, iteration, micro_batch, env, cuda_graphs)
    bad = ~torch.isfinite(loss)
    if grad_clip > 0:
        bad |= ~torch.isfinite(torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip))
    watch.record(bad, loss, iteration)
    set_lr(optimizer, lr)
    if optimizer.defaults['fused']:
        optimizer.found_inf = bad.float()
        optimizer.step()
    elif not bad.item():
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss


def stage_step(model, optimizer, batches, stage, cfg, env, watch):
    """The step of `stage` (schedule.Stage), as a function of (iteration, lr): train_step through
    the module torch.compile and DDP wrap around the model, at the stage's micro-batch and compile
    mode, with cfg's gradient clipping."""
    runner = wrap(model, stage.compile_mode, env)
    cuda_graphs = replays_cuda_graphs(stage.compile_mode, env)

    def step(iteration, lr):
        return train_step(model, optimizer, batches, iteration, lr, micro_batch=stage.micro_batch,
                          env=env, grad_clip=cfg.grad_clip, watch=watch, runner=runner,
                          cuda_graphs=cuda_graphs)
    return step


@torch.no_grad()
def evaluate(model, batches, cfg, env):
    """Mean loss over cfg.eval_iters fixed evaluation batches of each split (micro-batches of level
    1's size at every level), averaged over the DDP ranks; for models that report it (ViT, BERT),
    the accuracy too, as '<split>_acc'."""
    model.eval()
    results = {}
    for split in ('train', 'val'):
        total = torch.zeros(4, device=env.device)  # sum of batch losses, batches, correct, counted
        for i in range(env.rank, cfg.eval_iters, env.world):
            x, y = batches.eval_batch(split, i, cfg.micro_batch[0])
            x, y = x.to(env.device), y.to(env.device)
            with env.autocast():
                logits, loss = model(x, y)
            one = torch.ones((), device=env.device)
            correct, counted = (accuracy_counts(logits, y) if model.REPORTS_ACCURACY
                                else (0 * one, 0 * one))
            total += torch.stack([loss.float(), one, correct.float(), counted.float()])
        if env.ddp:
            dist.all_reduce(total)
        results[split] = (total[0] / total[1]).item()
        if model.REPORTS_ACCURACY:
            results[f'{split}_acc'] = (total[2] / total[3]).item()
    model.train()
    return results


def train_model(model, batches, stage, cfg, env=Env(), first_iteration=0):
    """Train `model` through `stage` (schedule.Stage: steps, lr schedule, micro-batch) as a V-cycle
    trains a level, with nothing around the steps: a fresh AdamW with cfg's betas and weight decay,
    cfg's gradient clipping, the batches of iterations first_iteration on. Returns the model;
    NonFiniteLoss at the end if a step's loss was not finite (that step changed nothing)."""
    optimizer = build_optimizer(model, cfg, stage.hidden_lr_scale, env.device)
    watch = NonFiniteWatch(env.device)
    step = stage_step(model, optimizer, batches, stage, cfg, env, watch)
    for i in range(stage.steps):
        step(first_iteration + i, stage.lr_at(i))
    bad = watch.first()
    if bad:
        raise NonFiniteLoss(f"loss is {bad[1]} at iteration {bad[0]}: lower the learning rate or "
                            f"lengthen the warmup")
    return model
