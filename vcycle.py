"""The V-cycle (Algorithm 1 of Zou, Zhang, Deng, ICLR 2024), for any number of levels k.

    M_1 = the model to train; M_{l+1} = coalesce(M_l) has half the width and half the depth
    down:   for l = 1 .. k-1: train M_l for down_steps[l]; keep a copy of M_l; coalesce
    bottom: train M_k for up_steps[k]
    up:     for l = k-1 .. 1: M_l = interpolate(kept M_l, decoalesce(M_{l+1}), alpha[l]); train
            M_l for up_steps[l]
With k = 1 the only stage is the bottom: plain training of M_1, the baseline. With no steps on the
way down (down_steps = 0) and alpha = 1 it is plain growth (StackBERT, bert2BERT): each level is
coalesced from the untrained one above it, M_k trains from the start, and the grown model never
returns to a kept copy.

Every stage gets a fresh AdamW (no state carried across a level change, as in the paper) and its
own warmup. Only the last stage decays its learning rate (cosine, to min_lr_frac of the peak): what
annealing gains does not survive a level change, so earlier stages hold their peak
(decay_every_stage=True decays every stage but the way down instead). Batches are a pure
function of the global iteration, so the baseline and a V-cycle see the same data in the same order.
Every evaluation appends a line to out_dir/log.jsonl; checkpoints hold the position in the cycle
(stage, step), the current model and optimizer, the kept copies and the RNG states, so a run
resumes exactly where it stopped.
"""
import copy
import json
import math
import signal
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP
from tqdm import tqdm

import checkpoint
from coalesce import coalesce, decoalesce, interpolate
from model import MODELS

LOG_FIELDS = ('level', 'phase', 'stage', 'step', 'iter', 'tokens', 'flops', 'train_loss', 'val_loss',
              'lr', 'time_s', 'tokens_per_s')


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


@dataclass
class Stage:
    level: int     # 1 is the full model, k the smallest
    phase: str     # 'down', 'bottom' or 'up'
    steps: int
    warmup: int
    peak_lr: float
    decay: bool    # cosine decay to min_lr_frac * peak_lr by the end of the stage


def plan_stages(cfg):
    """The stages of a k-level V-cycle in the order they run."""
    k = cfg.levels
    order = [(l, 'down') for l in range(1, k)] + [(k, 'bottom')] + [(l, 'up') for l in range(k - 1, 0, -1)]
    stages = []
    for i, (level, phase) in enumerate(order):
        steps = cfg.down_steps[level - 1] if phase == 'down' else cfg.up_steps[level - 1]
        warmup = cfg.warmup if i == 0 else cfg.transition_warmup[level - 1]
        decay = i == len(order) - 1 or (cfg.decay_every_stage and phase != 'down')
        stages.append(Stage(level, phase, steps, min(warmup, steps), cfg.lr[level - 1], decay))
    return stages


def lr_at(stage, step, min_lr_frac):
    """Linear warmup to the peak, then constant or cosine decay to min_lr_frac * peak."""
    if step < stage.warmup:
        return stage.peak_lr * (step + 1) / stage.warmup
    if not stage.decay:
        return stage.peak_lr
    progress = (step - stage.warmup) / max(1, stage.steps - stage.warmup)
    return stage.peak_lr * (min_lr_frac + (1 - min_lr_frac) * 0.5 * (1 + math.cos(math.pi * progress)))


def prepare_for_training(model, cfg, env):
    """A fresh AdamW for `model`, and the module to run steps through: torch.compile and DDP
    wrappers rebuilt around it. Called at every stage, since every level change makes a new model."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{'params': [p for p in params if p.dim() >= 2], 'weight_decay': cfg.weight_decay},
              {'params': [p for p in params if p.dim() < 2], 'weight_decay': 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=0.0, betas=(cfg.beta1, cfg.beta2),
                                  fused=torch.device(env.device).type == 'cuda')
    runner = torch.compile(model) if env.compile else model
    if env.ddp:
        runner = DDP(runner, device_ids=[env.local_rank] if env.device.startswith('cuda') else None)
    return runner, optimizer


@torch.no_grad()
def evaluate(model, batches, cfg, env):
    """Mean loss over the fixed evaluation batches of each split, averaged over the DDP ranks."""
    model.eval()
    losses = {}
    for split in ('train', 'val'):
        total = torch.zeros(2, device=env.device)  # (sum of batch losses, number of batches)
        for i in range(env.rank, cfg.eval_iters, env.world):
            x, y = batches.eval_batch(split, i, cfg.micro_batch)
            with env.autocast():
                _, loss = model(x.to(env.device), y.to(env.device))
            total += torch.stack([loss.float(), torch.ones((), device=env.device)])
        if env.ddp:
            dist.all_reduce(total)
        losses[split] = (total[0] / total[1]).item()
    model.train()
    return losses


def model_record(model):
    """The unwrapped module with its config, as plain data (loadable with weights_only=True). The
    tensors are the module's own, not copies: save them, or keep a module nothing trains again."""
    kind = next(k for k, (cls, _) in MODELS.items() if type(model) is cls)
    return {'kind': kind, 'config': asdict(model.config), 'state': model.state_dict()}


def model_from_record(record, device):
    cls, config_cls = MODELS[record['kind']]
    with torch.device('meta'):
        model = cls(config_cls(**record['config']))
    model.load_state_dict(record['state'], assign=True)
    return model.to(device)


@dataclass
class Progress:
    """Where the run is: stage index and step within it, and what it has done so far."""
    stage: int = 0
    step: int = 0
    iter: int = 0        # optimizer steps over all stages; the data sampler's whole state
    flops: float = 0.0   # cumulative training FLOPs
    time_s: float = 0.0  # wall time in training steps and level changes (evaluation excluded)
    log_lines: int = 0
    kept: dict = field(default_factory=dict)  # level -> model_record of M_level kept on the way down


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived; a checkpoint was written."""


class NonFiniteLoss(RuntimeError):
    """The loss became inf or NaN; the last checkpoint is left as it was."""


class VCycle:
    """Runs the stages of plan_stages(cfg) on `model`, logging, checkpointing and resuming."""

    def __init__(self, cfg, model, batches, env, resume=None):
        self.cfg, self.batches, self.env = cfg, batches, env
        self.out_dir = Path(cfg.out_dir)
        self.stages = plan_stages(cfg)
        self.accum = cfg.batch_tokens // model.seq_len // (cfg.micro_batch * env.world)
        self.progress, self.model, self.optimizer_state = Progress(), model, None
        if resume is not None:
            self.restore(resume)
        self.resumed_at = (self.progress.stage, self.progress.step) if resume is not None else None
        self.stop_signal = None
        self.last_logged = None  # (tokens, time_s) at the previous evaluation, for tokens/s

    # -- the cycle ------------------------------------------------------------------------------

    def run(self):
        """Algorithm 1: the loop below reads as the docstring at the top of this file."""
        old_handlers = {s: signal.signal(s, self.on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        total = sum(s.steps for s in self.stages)
        done = sum(s.steps for s in self.stages[:self.progress.stage]) + self.progress.step
        self.bar = tqdm(total=total, initial=done, disable=not self.env.master, dynamic_ncols=True)
        try:
            for i, stage in enumerate(self.stages):
                if i < self.progress.stage:
                    continue  # finished before a resume
                if i > self.progress.stage:
                    self.change_level(self.stages[i - 1], stage)
                    self.progress.stage, self.progress.step, self.optimizer_state = i, 0, None
                self.train_stage(stage)
        finally:
            self.bar.close()
            for s, h in old_handlers.items():
                signal.signal(s, h)
        return self.model

    def change_level(self, previous, stage):
        """Coalesce on the way down; interpolate the kept copy with the de-coalesced model on the way up."""
        t0 = time.perf_counter()
        cfg, p = self.cfg, self.progress
        resize = dict(width=cfg.coalesce_width, depth=cfg.coalesce_depth, depth_pairing=cfg.depth_pairing,
                      depth_copies=cfg.depth_copies)
        if stage.level > previous.level:   # down: keep M_l, train M_{l+1} = coalesce(M_l)
            p.kept[previous.level] = model_record(self.model)
            self.model = coalesce(self.model, **resize)
        else:                              # up: M_l = (1 - alpha) M_l,kept + alpha decoalesce(M_{l+1})
            kept = model_from_record(p.kept.pop(stage.level), self.env.device)
            grown = decoalesce(self.model, **resize)
            self.model = interpolate(kept, grown, cfg.alpha[stage.level - 1])
        p.time_s += time.perf_counter() - t0

    def train_stage(self, stage):
        cfg, env, p = self.cfg, self.env, self.progress
        model = self.model
        runner, optimizer = prepare_for_training(model, cfg, env)
        if self.optimizer_state is not None:
            optimizer.load_state_dict(self.optimizer_state)
        flops_per_step = model.flops_per_token() * cfg.batch_tokens
        self.bar.set_description(f"level {stage.level} {stage.phase}")
        while p.step < stage.steps:
            if p.step == 0 or p.iter % cfg.eval_interval == 0:
                self.log(stage, lr_at(stage, p.step, cfg.min_lr_frac))
            if p.iter % cfg.checkpoint_interval == 0 and (p.stage, p.step) != self.resumed_at:
                self.save_checkpoint(optimizer)
            if self.stop_requested():
                self.save_checkpoint(optimizer)
                raise Interrupted(f"{self.stop_signal or 'a signal'} at level {stage.level} {stage.phase} "
                                  f"step {p.step}: checkpoint written, continue with --resume")
            t0 = time.perf_counter()
            lr = lr_at(stage, p.step, cfg.min_lr_frac)
            loss = self.train_step(runner, optimizer, lr)
            p.step += 1
            p.iter += 1
            p.flops += flops_per_step
            p.time_s += time.perf_counter() - t0
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.2e}", refresh=False)
        self.log(stage, lr_at(stage, max(stage.steps - 1, 0), cfg.min_lr_frac))
        if env.master:
            checkpoint.save(model_record(model), self.out_dir / f'model_level{stage.level}.pt')
        self.save_checkpoint(optimizer)

    def train_step(self, runner, optimizer, lr):
        """One optimizer step on the global batch of this iteration; returns its mean loss."""
        loss = self.accumulate_gradients(runner)
        if not math.isfinite(loss):  # stop before the step: the weights stay as they were
            p, stage = self.progress, self.stages[self.progress.stage]
            raise NonFiniteLoss(
                f"loss is {loss} at level {stage.level} ({stage.phase}) step {p.step} (iteration {p.iter}); "
                f"the last good checkpoint in {self.cfg.out_dir} is kept: lower this level's learning rate "
                f"or lengthen its warmup, then resume")
        if self.cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        for group in optimizer.param_groups:
            group['lr'] = lr
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss

    def accumulate_gradients(self, runner):
        """Gradients of this rank's share of the iteration's global batch, averaged over the
        micro-steps and (by DDP) over the ranks: the gradient of the whole batch's mean loss."""
        env = self.env
        total = torch.zeros((), device=env.device)
        for micro in range(self.accum):
            x, y = self.batches.train_chunk(self.progress.iter, micro * env.world + env.rank, self.cfg.micro_batch)
            x, y = x.to(env.device, non_blocking=True), y.to(env.device, non_blocking=True)
            # DDP averages gradients over the ranks only on the last micro-step
            with nullcontext() if not env.ddp or micro == self.accum - 1 else runner.no_sync():
                with env.autocast():
                    _, loss = runner(x, y)
                (loss / self.accum).backward()
            total += loss.detach() / self.accum
        if env.ddp:
            dist.all_reduce(total)  # gloo has no AVG
            total /= env.world
        return total.item()

    # -- logging, checkpoints, signals ----------------------------------------------------------

    def log(self, stage, lr):
        p = self.progress
        if (p.stage, p.step) == self.resumed_at:
            return  # logged before the checkpoint we resumed from
        losses = evaluate(self.model, self.batches, self.cfg, self.env)
        tokens = p.iter * self.cfg.batch_tokens
        last = self.last_logged
        rate = (tokens - last[0]) / (p.time_s - last[1]) if last and p.time_s > last[1] else None
        self.last_logged = (tokens, p.time_s)
        record = dict(level=stage.level, phase=stage.phase, stage=p.stage, step=p.step, iter=p.iter,
                      tokens=tokens, flops=p.flops, train_loss=losses['train'], val_loss=losses['val'],
                      lr=lr, time_s=p.time_s, tokens_per_s=rate)
        p.log_lines += 1
        if self.env.master:
            with open(self.out_dir / 'log.jsonl', 'a') as f:
                f.write(json.dumps(record) + '\n')
            self.bar.write(f"level {stage.level} {stage.phase:6s} step {p.step:5d} | train {losses['train']:.4f}"
                           f" | val {losses['val']:.4f} | lr {lr:.2e} | {p.flops:.3e} FLOPs | {p.time_s:.1f}s")

    def save_checkpoint(self, optimizer):
        if not self.env.master:
            return
        state = {'config': asdict(self.cfg), 'progress': vars(self.progress), 'model': model_record(self.model),
                 'optimizer': optimizer.state_dict(), 'rng_cpu': torch.get_rng_state(),
                 'rng_cuda': torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}
        checkpoint.save(state, self.out_dir / 'ckpt.pt')

    def restore(self, state):
        self.progress = Progress(**state['progress'])
        self.model = model_from_record(state['model'], self.env.device)
        self.optimizer_state = state['optimizer']
        torch.set_rng_state(state['rng_cpu'])
        if state['rng_cuda'] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state['rng_cuda'])
        log = self.out_dir / 'log.jsonl'
        if self.env.master and log.exists():  # drop lines logged after the checkpoint
            lines = log.read_text().splitlines(keepends=True)[:self.progress.log_lines]
            log.write_text(''.join(lines))

    def on_signal(self, signum, frame):
        self.stop_signal = signal.Signals(signum).name

    def stop_requested(self):
        """Whether a signal arrived, here or (with DDP) on any rank, so that all ranks stop together."""
        if not self.env.ddp:
            return self.stop_signal is not None
        flag = torch.tensor(float(self.stop_signal is not None), device=self.env.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return flag.item() > 0
