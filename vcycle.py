"""The V-cycle (Algorithm 1 of Zou, Zhang, Deng, ICLR 2024), for any number of levels k.

    M_1 = the model to train; M_{l+1} = coalesce(M_l) has half the width and half the depth
    down:   for l = 1 .. k-1: train M_l for down_steps[l]; keep a copy of M_l; coalesce
    bottom: train M_k for up_steps[k]
    up:     for l = k-1 .. 1: M_l = interpolate(kept M_l, decoalesce(M_{l+1}), alpha[l]); train
            M_l for up_steps[l]
With k = 1 the only stage is the bottom: plain training of M_1, the baseline. With no steps on the
way down (down_steps = 0), each smaller level starting from its own initialization (small_init =
'own') and alpha = 1, it is plain growth (StackBERT, G_stack, bert2BERT): M_k trains from the
start and the grown model never returns to a kept copy.

The stages, their learning rates and the shapes of the levels are planned in schedule.py. Every
stage gets its own warmup and a fresh AdamW, as in the paper (carry_optimizer maps AdamW's moments
through the level change instead: moments.py); only the last stage decays its learning rate: what
annealing gains does not survive a level change. The way up returns to the kept copy by the paper's
interpolation or by the coarse-grid correction (return_rule), optionally breaking the symmetry of
the grown copies (split_*, new_copy_ramp, return_dropout). Batches are a pure function of the
global iteration, so the baseline and a V-cycle see the same data in the same order.
Every evaluation appends a line to out_dir/log.jsonl; checkpoints hold the position in the cycle
(stage, step), the current model and optimizer, the kept copies and the RNG states, so a run
resumes exactly where it stopped.
"""
import json
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
from coalesce import (coalesce, correct, decoalesce, interpolate, pair_cosine, resized_config, second_copies,
                      split_unevenly)
from data import seed_for
from model import MODELS, accuracy_counts, set_dropout
from moments import adam_moments, interpolate_moments, load_adam_moments, resize_moments
from schedule import level_change, lr_at, plan_stages

LOG_FIELDS = ('level', 'phase', 'stage', 'step', 'iter', 'tokens', 'flops', 'train_loss', 'val_loss',
              'lr', 'time_s', 'tokens_per_s')
ACCURACY_FIELDS = ('train_acc', 'val_acc')  # logged too by the models that report accuracy
DIAGNOSTIC_STEPS = (10, 50)  # a stage after a level change also logs these steps: how fast it recovers
PAIR_FIELD = 'pair_cosine'   # ... and after growing width, how far the copies of each feature moved apart


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


def prepare_for_training(model, cfg, env, level=1):
    """A fresh AdamW for `model`, and the module to run steps through: torch.compile and DDP
    wrappers rebuilt around it. Called at every stage, since every level change makes a new model.
    Weight decay on matrices only; with mup_lr, a level of width d_l trains its blocks' matrices at
    d_1 / d_l times its lr (the group's lr_scale)."""
    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    width_ratio = cfg.n_embd / model.config.n_embd if cfg.mup_lr else 1.0
    hidden = {name for name, p in named if p.dim() >= 2 and name.startswith('blocks.')} if width_ratio != 1 else set()
    groups = [{'params': [p for name, p in named if p.dim() >= 2 and name not in hidden], 'weight_decay': cfg.weight_decay},
              {'params': [p for _, p in named if p.dim() < 2], 'weight_decay': 0.0}]
    if hidden:
        groups.append({'params': [p for name, p in named if name in hidden], 'weight_decay': cfg.weight_decay,
                       'lr_scale': width_ratio})
    optimizer = torch.optim.AdamW(groups, lr=0.0, betas=(cfg.beta1, cfg.beta2),
                                  fused=torch.device(env.device).type in ('cuda', 'cpu'))
    runner = torch.compile(model, mode=cfg.compile_mode[level - 1]) if env.compile else model
    if env.ddp:
        runner = DDP(runner, device_ids=[env.local_rank] if env.device.startswith('cuda') else None)
    return runner, optimizer


@torch.no_grad()
def evaluate(model, batches, cfg, env):
    """Mean loss over the fixed evaluation batches of each split, averaged over the DDP ranks; for
    models that report it (ViT, BERT), the accuracy too, as '<split>_acc'."""
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
            correct, counted = accuracy_counts(logits, y) if model.REPORTS_ACCURACY else (0 * one, 0 * one)
            total += torch.stack([loss.float(), one, correct.float(), counted.float()])
        if env.ddp:
            dist.all_reduce(total)
        results[split] = (total[0] / total[1]).item()
        if model.REPORTS_ACCURACY:
            results[f'{split}_acc'] = (total[2] / total[3]).item()
    model.train()
    return results


def model_record(model):
    """The unwrapped module with its config, as plain data (loadable with weights_only=True). The
    tensors are the module's own, not copies: save them, or keep a module nothing trains again."""
    return {'kind': model.KIND, 'config': asdict(model.config), 'state': model.state_dict()}


def model_from_record(record, device):
    cls = MODELS[record['kind']]
    with torch.device('meta'):
        model = cls(cls.CONFIG(**record['config']))
    model.load_state_dict(record['state'], assign=True)
    return model.to(device)


def fresh_model(model, cfg, level, device):
    """A newly initialized model of model's class for `level`, the one below model's (halved as
    cfg says), drawn from its own seed (cfg.seed and the level), without touching the global
    random state."""
    change = level_change(cfg, level - 1)
    config = resized_config(model.config, change['width'], change['depth'], shrink=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed_for(cfg.seed, level))
        return type(model)(config).to(device)


def way_up_levers(cfg, stage, model):
    """What a stage on the way up does besides training (nothing, by default): ramp up the updates
    of the grown model's second copies over new_copy_ramp steps, and train its warmup with
    return_dropout. Returns ([(parameter, mask of its second copies)], ramp steps, dropout)."""
    if stage.phase != 'up':
        return [], 0, 0.0
    i, change = stage.level - 1, level_change(cfg, stage.level)
    masks = second_copies(model, change['width'], change['depth'], change['depth_pairing']) if cfg.new_copy_ramp[i] else {}
    return [(p, masks[name]) for name, p in model.named_parameters() if name in masks], cfg.new_copy_ramp[i], \
        cfg.return_dropout[i]


@dataclass
class Progress:
    """Where the run is: stage index and step within it, and what it has done so far."""
    stage: int = 0
    step: int = 0
    iter: int = 0        # optimizer steps over all stages; the data sampler's whole state
    flops: float = 0.0   # cumulative training FLOPs
    time_s: float = 0.0  # wall time in training steps and level changes (evaluation excluded)
    log_lines: int = 0
    kept: dict = field(default_factory=dict)  # level -> model_record of M_level kept on the way down,
                                              # with its Adam moments (or None) under 'moments'


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived; a checkpoint was written."""


class NonFiniteLoss(RuntimeError):
    """The loss became inf or NaN; the step was skipped and the last checkpoint is left as it was."""


class VCycle:
    """Runs the stages of plan_stages(cfg) on `model`, logging, checkpointing and resuming."""

    def __init__(self, cfg, model, batches, env, resume=None):
        self.cfg, self.batches, self.env = cfg, batches, env
        self.out_dir = Path(cfg.out_dir)
        self.stages = plan_stages(cfg)
        self.rows = cfg.batch_tokens // model.seq_len  # sequences per step, over all ranks
        self.enter_level(1)
        self.progress, self.model, self.optimizer_state = Progress(), model, None
        # the first iteration whose loss was not finite, and that loss, kept on the device so that no
        # step waits for the GPU; read where the host waits anyway (check_finite)
        self.first_bad = torch.full((), -1, dtype=torch.long, device=env.device)
        self.bad_loss = torch.zeros((), device=env.device)
        if resume is not None:
            self.restore(resume)
        self.resumed_at = (self.progress.stage, self.progress.step) if resume is not None else None
        self.stop_signal = None
        self.last_logged = None  # (tokens, time_s, val_loss) at the previous evaluation

    # -- the cycle ------------------------------------------------------------------------------

    def run(self):
        """Algorithm 1: the loop below reads as the docstring at the top of this file."""
        old_handlers = {s: signal.signal(s, self.on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        total = sum(s.steps for s in self.stages)
        done = sum(s.steps for s in self.stages[:self.progress.stage]) + self.progress.step
        # a progress bar on the master's terminal; none in a log file or a notebook (disable=None)
        self.bar = tqdm(total=total, initial=done, disable=None if self.env.master else True, dynamic_ncols=True)
        optimizer = None  # the finished stage's, handed to the level change
        try:
            for i, stage in enumerate(self.stages):
                if i < self.progress.stage:
                    continue  # finished before a resume
                carried = None
                if i > self.progress.stage:
                    carried = self.change_level(self.stages[i - 1], stage, optimizer)
                    self.progress.stage, self.progress.step, self.optimizer_state = i, 0, None
                optimizer = self.train_stage(stage, carried)
        finally:
            self.bar.close()
            for s, h in old_handlers.items():
                signal.signal(s, h)
        return self.model

    def change_level(self, previous, stage, optimizer):
        """Coalesce on the way down; on the way up, interpolate the kept copy with the de-coalesced
        model (or correct it, return_rule='correct'). With carry_optimizer, returns Adam's moments
        mapped through the same operators (moments.resize_moments) and interpolated alongside the
        weights, for the next stage; else None."""
        t0 = time.perf_counter()
        cfg, p = self.cfg, self.progress
        upper = min(previous.level, stage.level)  # the change is between levels upper and upper + 1
        resize, i = level_change(cfg, upper), upper - 1
        moments = adam_moments(self.model, optimizer) if cfg.carry_optimizer[i] else None
        carried = None
        if stage.level > previous.level:   # down: keep M_l, train M_{l+1} = coalesce(M_l)
            p.kept[upper] = dict(model_record(self.model), moments=moments)
            if moments is not None:
                carried = resize_moments(self.model, moments, shrink=True, **resize)
            if previous.steps == 0 and cfg.small_init[i] == 'own':  # plain growth: M_{l+1} from its own init
                self.model = fresh_model(self.model, cfg, stage.level, self.env.device)
            else:
                self.model = coalesce(self.model, **resize)
        else:                              # up: M_l = (1 - alpha) M_l,kept + alpha decoalesce(M_{l+1})
            record, alpha = p.kept.pop(upper), cfg.alpha[i]
            kept = model_from_record(record, self.env.device)
            if moments is not None:
                grown_moments = resize_moments(self.model, moments, shrink=False, **resize)
                carried = interpolate_moments(record['moments'], grown_moments, alpha)
            grown = decoalesce(self.model, **resize)
            if resize['width'] and (cfg.split_skew[i] or cfg.split_noise[i] or cfg.split_complementary[i]):
                noise = torch.Generator().manual_seed(seed_for(cfg.seed, stage.level))  # the same on resume
                grown = split_unevenly(grown, cfg.split_skew[i], cfg.split_noise[i], cfg.split_complementary[i], noise)
            if cfg.return_rule[i] == 'correct':
                self.model = correct(kept, grown, cfg.beta[i], **resize)
            else:
                self.model = interpolate(kept, grown, alpha)
            if carried is not None and cfg.new_copy_ramp[i]:  # the second copies start from zero moments
                for name, new in second_copies(self.model, resize['width'], resize['depth'],
                                               resize['depth_pairing']).items():
                    for key in ('exp_avg', 'exp_avg_sq'):
                        carried[name][key] = carried[name][key].masked_fill(new.to(carried[name][key].device), 0)
        p.time_s += time.perf_counter() - t0
        return carried

    def train_stage(self, stage, carried=None):
        """Train the current model through `stage` (from the step it is at); carried: Adam's
        moments from the level change before it, if any. Returns the stage's optimizer.
        After a way up, the stage may ramp up the second copies' updates (new_copy_ramp) and train
        with return_dropout during its warmup."""
        cfg, env, p = self.cfg, self.env, self.progress
        model = self.model
        runner, optimizer = prepare_for_training(model, cfg, env, stage.level)
        self.enter_level(stage.level)
        if self.optimizer_state is not None:  # resuming
            optimizer.load_state_dict(self.optimizer_state)
        elif carried is not None:             # carried through the level change
            load_adam_moments(model, optimizer, carried)
        second, ramp_steps, return_dropout = way_up_levers(cfg, stage, model)
        flops_per_step = model.flops_per_token() * cfg.batch_tokens
        self.bar.set_description(f"level {stage.level} {stage.phase}")
        while p.step < stage.steps:
            if p.step == 0 or p.iter % cfg.eval_interval == 0 or (p.stage > 0 and p.step in DIAGNOSTIC_STEPS):
                self.log(stage, lr_at(stage, p.step, cfg.min_lr_frac))
            if p.iter % cfg.checkpoint_interval == 0 and (p.stage, p.step) != self.resumed_at:
                self.save_checkpoint(optimizer)
            if self.stop_requested():
                self.save_checkpoint(optimizer)
                raise Interrupted(f"{self.stop_signal or 'a signal'} at level {stage.level} {stage.phase} "
                                  f"step {p.step}: checkpoint written, continue with --resume")
            if return_dropout:
                set_dropout(model, return_dropout if p.step < stage.warmup else model.config.dropout)
            t0 = time.perf_counter()
            lr = lr_at(stage, p.step, cfg.min_lr_frac)
            ramp = (second, (p.step + 1) / ramp_steps) if p.step < ramp_steps else None
            self.train_step(runner, optimizer, lr, ramp)
            p.step += 1
            p.iter += 1
            p.flops += flops_per_step
            p.time_s += time.perf_counter() - t0  # when the step is queued: the GPU's time shows at the next wait
            self.bar.update(1)
            self.bar.set_postfix(lr=f"{lr:.2e}", refresh=False)
        set_dropout(model, model.config.dropout)
        self.log(stage, lr_at(stage, max(stage.steps - 1, 0), cfg.min_lr_frac))
        if env.master:
            checkpoint.save(model_record(model), self.out_dir / f'model_level{stage.level}.pt')
        self.save_checkpoint(optimizer)
        return optimizer

    def enter_level(self, level):
        """The level's micro-batch (sequences per forward pass) and whether its compiled module
        replays CUDA graphs (compile_mode 'reduce-overhead'), which must be told where a step begins."""
        self.micro_batch = self.cfg.micro_batch[level - 1]
        self.cuda_graphs = self.env.compile and self.cfg.compile_mode[level - 1] == 'reduce-overhead'

    def train_step(self, runner, optimizer, lr, ramp=None):
        """One optimizer step on the global batch of this iteration, queued without waiting for the
        device. A step whose loss (or, with clipping, gradient norm) is not finite changes nothing:
        the fused AdamW skips it on the device (found_inf, as for a gradient scaler's overflow), and
        the run stops at the next check (check_finite). Returns the mean loss, on the device.
        ramp: ([(parameter, mask)], r): the masked entries move r times their update."""
        loss = self.accumulate_gradients(runner)
        bad = ~torch.isfinite(loss)
        if self.cfg.grad_clip > 0:
            bad |= ~torch.isfinite(torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip))
        first = bad & (self.first_bad < 0)
        self.first_bad = torch.where(first, self.progress.iter, self.first_bad)
        self.bad_loss = torch.where(first, loss, self.bad_loss)
        optimizer.found_inf = bad.float()
        for group in optimizer.param_groups:
            group['lr'] = lr * group.get('lr_scale', 1.0)
        before = [param.detach().clone() for param, _ in ramp[0]] if ramp else []
        optimizer.step()
        with torch.no_grad():
            for (param, mask), old in zip(ramp[0] if ramp else (), before):
                param.copy_(torch.where(mask, old.lerp(param, ramp[1]), param))
        optimizer.zero_grad(set_to_none=True)
        return loss

    def accumulate_gradients(self, runner):
        """Gradients of this rank's share of the iteration's global batch, averaged over the
        micro-steps and (by DDP) over the ranks: the gradient of the whole batch's mean loss.
        Returns that mean loss, on the device."""
        env = self.env
        accum = self.rows // (self.micro_batch * env.world)
        total = torch.zeros((), device=env.device)
        for micro in range(accum):
            x, y = self.batches.train_chunk(self.progress.iter, micro * env.world + env.rank, self.micro_batch)
            x, y = x.to(env.device, non_blocking=True), y.to(env.device, non_blocking=True)
            # DDP averages gradients over the ranks only on the last micro-step
            if self.cuda_graphs:
                torch.compiler.cudagraph_mark_step_begin()
            with nullcontext() if not env.ddp or micro == accum - 1 else runner.no_sync():
                with env.autocast():
                    _, loss = runner(x, y)
                (loss / accum).backward()
            total += loss.detach() / accum
        if env.ddp:
            dist.all_reduce(total)  # gloo has no AVG
            total /= env.world
        return total

    def check_finite(self):
        """Stop the run if a step since the start had a non-finite loss, naming the first. Called
        where the host waits anyway: evaluations, checkpoints, the end of a stage."""
        bad = self.first_bad.item()
        if bad < 0:
            return
        start = 0
        for stage in self.stages:
            if bad < start + stage.steps:
                break
            start += stage.steps
        raise NonFiniteLoss(
            f"loss is {self.bad_loss.item()} at level {stage.level} ({stage.phase}) step {bad - start} (iteration "
            f"{bad}); the last good checkpoint in {self.cfg.out_dir} is kept: lower this level's learning rate or "
            f"lengthen its warmup, then resume")

    # -- logging, checkpoints, signals ----------------------------------------------------------

    def log(self, stage, lr):
        p = self.progress
        t0 = time.perf_counter()
        self.check_finite()  # waits for the queued steps: training time
        p.time_s += time.perf_counter() - t0
        if (p.stage, p.step) == self.resumed_at:
            return  # logged before the checkpoint we resumed from
        losses = evaluate(self.model, self.batches, self.cfg, self.env)
        tokens = p.iter * self.cfg.batch_tokens
        last = self.last_logged
        rate = (tokens - last[0]) / (p.time_s - last[1]) if last and tokens > last[0] and p.time_s > last[1] else None
        if self.env.master and last and p.step == 0 and p.stage > 0:
            self.bar.write(f"{self.describe_change(stage)} | val loss {last[2]:.4f} before -> {losses['val']:.4f} "
                           f"right after")
        self.last_logged = (tokens, p.time_s, losses['val'])
        accuracy = {k: losses[k] for k in ACCURACY_FIELDS if k in losses}
        grown_wider = stage.phase == 'up' and level_change(self.cfg, stage.level)['width']
        pairs = {PAIR_FIELD: pair_cosine(self.model)} if grown_wider else {}
        record = dict(level=stage.level, phase=stage.phase, stage=p.stage, step=p.step, iter=p.iter,
                      tokens=tokens, flops=p.flops, train_loss=losses['train'], val_loss=losses['val'],
                      **accuracy, lr=lr, time_s=p.time_s, tokens_per_s=rate, **pairs)
        p.log_lines += 1
        if self.env.master:
            with open(self.out_dir / 'log.jsonl', 'a') as f:
                f.write(json.dumps(record) + '\n')
            shown_accuracy = f" | acc {accuracy['val_acc']:.4f}" if accuracy else ''
            self.bar.write(f"level {stage.level} {stage.phase:6s} step {p.step:5d} | train {losses['train']:.4f}"
                           f" | val {losses['val']:.4f}{shown_accuracy} | lr {lr:.2e} | {p.flops:.3e} FLOPs"
                           f" | {p.time_s:.1f}s")

    def describe_change(self, stage):
        """What the level change before `stage` did, shape to shape."""
        previous = self.stages[self.progress.stage - 1]
        upper = min(previous.level, stage.level)
        change, i, now = level_change(self.cfg, upper), upper - 1, self.model.config
        halved = ' and '.join(name for name in ('width', 'depth') if change[name])
        before = resized_config(now, change['width'], change['depth'], shrink=stage.level < previous.level)
        if stage.level > previous.level:
            how = f"M_{stage.level} from its own initialization (plain growth)" \
                if previous.steps == 0 and self.cfg.small_init[i] == 'own' else f"coalesce {halved}"
        elif self.cfg.return_rule[i] == 'correct':
            how = f"de-coalesce {halved}, correct the kept M_{stage.level} (beta {self.cfg.beta[i]:g})"
        else:
            how = f"de-coalesce {halved}, interpolate with the kept M_{stage.level} (alpha {self.cfg.alpha[i]:g})"
        return (f"level {previous.level} -> {stage.level}: {how}, {before.n_layer} x {before.n_embd} -> "
                f"{now.n_layer} x {now.n_embd}")

    def save_checkpoint(self, optimizer):
        self.check_finite()  # never a checkpoint after a non-finite step
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
