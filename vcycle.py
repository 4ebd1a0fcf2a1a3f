"""The V-cycle (Algorithm 1 of Zou, Zhang, Deng, ICLR 2024), for any number of levels k.

    M_1 = the model to train; M_{l+1} = coalesce(M_l) has half the width and half the depth
    down:   for l = 1 .. k-1: train M_l for down_steps[l]; keep a copy of M_l; coalesce
    bottom: train M_k for up_steps[k]
    up:     for l = k-1 .. 1: M_l = interpolate(kept M_l, decoalesce(M_{l+1}), alpha[l]); train
            M_l for up_steps[l]
With k = 1 the only stage is the bottom: plain training of M_1, the baseline. With no steps on the
way down, each smaller level from its own initialization (small_init='own') and alpha = 1, it is
plain growth (StackBERT, G_stack, bert2BERT): M_k trains from the start and the grown model never
returns to a kept copy.

VCycle.run is that loop over the stages of the plan (schedule.py), with `down` and `up` the level
changes; every lever of the project enters them, or a stage, in one line from levers.py. Every
stage gets its own warmup and a fresh AdamW, as in the paper, and trains with step.py's step.
Batches are a pure function of the global iteration, so the baseline and a V-cycle see the same
data in the same order. Every evaluation appends a line to out_dir/log.jsonl; checkpoints hold the
position in the cycle (stage, step), the current model and optimizer, the kept copies and the RNG
states, so a run resumes exactly where it stopped.
"""
import json
import shlex
import signal
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from tqdm import tqdm

import checkpoint
import levers
from checkpoint import model_from_record, model_record
from coalesce import decoalesce, pair_cosine
from moments import load_adam_moments, load_optimizer_state
from schedule import locate, plan_stages
from step import (Interrupted, NonFiniteLoss, NonFiniteWatch, build_optimizer, evaluate,
                  stage_step)

LOG_FIELDS = ('level', 'phase', 'stage', 'step', 'iter', 'tokens', 'flops', 'train_loss',
              'val_loss', 'lr', 'time_s', 'tokens_per_s')
ACCURACY_FIELDS = ('train_acc', 'val_acc')  # logged too by the models that report accuracy
DIAGNOSTIC_STEPS = (10, 50)  # a stage after a level change also logs these: how fast it recovers
PAIR_FIELD = 'pair_cosine'   # ... and after growing width, how far the features' copies moved apart
SIGNAL_INTERVAL = 25  # with DDP, the ranks ask each other for a signal every this many iterations


@dataclass
class Progress:
    """Where the run is: stage index and step within it, and what it has done so far."""
    stage: int = 0
    step: int = 0
    iter: int = 0        # optimizer steps over all stages; the data sampler's whole state
    flops: float = 0.0   # cumulative training FLOPs
    time_s: float = 0.0  # wall time in training steps and level changes (evaluation excluded)
    log_lines: int = 0
    kept: dict = field(default_factory=dict)  # level -> model_record of M_level kept going down,
                                              # with its Adam moments (or None) under 'moments'


class StopSignals:
    """SIGINT and SIGTERM while a run trains: each only notes its name, and the loop stops with a
    checkpoint at its next step, or with DDP at the next multiple of SIGNAL_INTERVAL iterations,
    every rank at the same one."""

    def __init__(self, env):
        self.env, self.name = env, None

    def __enter__(self):
        self.old_handlers = {s: signal.signal(s, self.note)
                             for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exception):
        for s, handler in self.old_handlers.items():
            signal.signal(s, handler)

    def note(self, signum, frame):
        self.name = signal.Signals(signum).name

    def arrived(self, iteration):
        """Whether a signal arrived, here or (with DDP) on any rank. Asking the other ranks is an
        all-reduce read on the host, so with DDP only every SIGNAL_INTERVAL iterations, when every
        rank asks at once: the steps between queue on the device without waiting."""
        if not self.env.ddp:
            return self.name is not None
        if iteration % SIGNAL_INTERVAL:
            return False
        flag = torch.tensor(float(self.name is not None), device=self.env.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return flag.item() > 0


class RunLog:
    """out_dir/log.jsonl, a line per evaluation, each printed too, with the training tokens per
    second since the line before."""

    def __init__(self, out_dir, master):
        self.path, self.master, self.last = Path(out_dir) / 'log.jsonl', master, None

    def keep_first(self, lines):
        if self.master and self.path.exists():
            self.path.write_text(''.join(self.path.read_text().splitlines(keepends=True)[:lines]))

    def write(self, bar, change, **record):
        """Append record (LOG_FIELDS, then the optional fields); with `change`, the level change it
        follows in words, print the validation loss just before it and right after."""
        last, self.last = self.last, record
        if last and record['tokens'] > last['tokens'] and record['time_s'] > last['time_s']:
            tokens, seconds = record['tokens'] - last['tokens'], record['time_s'] - last['time_s']
            record['tokens_per_s'] = tokens / seconds
        if not self.master:
            return
        if last and change:
            bar.write(f"{change} | val loss {last['val_loss']:.4f} before -> "
                      f"{record['val_loss']:.4f} right after")
        with open(self.path, 'a') as f:
            f.write(json.dumps(record) + '\n')
        accuracy = f" | acc {record['val_acc']:.4f}" if 'val_acc' in record else ''
        bar.write(f"level {record['level']} {record['phase']:6s} step {record['step']:5d} | train "
                  f"{record['train_loss']:.4f} | val {record['val_loss']:.4f}{accuracy} | lr "
                  f"{record['lr']:.2e} | {record['flops']:.3e} FLOPs | {record['time_s']:.1f}s")


class VCycle:
    """Algorithm 1 on `model` through the stages of plan_stages(cfg), logging, checkpointing and
    resuming (resume: a checkpoint's contents, read by train.py)."""

    def __init__(self, cfg, model, batches, env, resume=None):
        self.cfg, self.model, self.batches, self.env = cfg, model, batches, env
        self.stages = plan_stages(cfg)
        self.progress = Progress()
        self.optimizer = None      # the stage's AdamW
        self.carried = None        # carry_optimizer: the moments the next stage's AdamW starts from
        self.watch = NonFiniteWatch(env.device)
        self.run_log = RunLog(cfg.out_dir, env.master)
        self.resumed_at, self.resumed_optimizer = None, None
        if resume is not None:
            self.restore(resume)

    def run(self):
        """Algorithm 1: each stage after the first enters its level by a change, down or up, then
        trains. A resumed run starts in its checkpoint's stage, past the change that entered it."""
        p = self.progress
        if self.finished:
            return self.model  # resumed after its last step: nothing to train or write
        done = sum(s.steps for s in self.stages[:p.stage]) + p.step
        # a progress bar on the master's terminal; none in a log file or a notebook (disable=None)
        bar = tqdm(total=sum(s.steps for s in self.stages), initial=done,
                   disable=None if self.env.master else True, dynamic_ncols=True)
        with StopSignals(self.env) as self.signals, bar as self.bar:
            for i, stage in enumerate(self.stages):
                if i < p.stage:
                    continue                         # finished before a resume
                if i > p.stage:                      # the change into this stage is still to make
                    with self.clock():
                        if stage.change.down:
                            self.down(stage.change)
                        else:
                            self.up(stage.change)
                    p.stage, p.step = i, 0
                self.train_stage(stage)
        return self.model

    @property
    def finished(self):
        """Whether the run has taken every step of its plan (and written its models)."""
        return self.progress.iter == sum(stage.steps for stage in self.stages)

    def down(self, change):
        """Keep a copy of M_l, then M_{l+1} = coalesce(M_l)."""
        moments, self.carried = levers.carry_optimizer(self.model, self.optimizer, change)
        self.progress.kept[change.upper] = dict(model_record(self.model), moments=moments)
        self.model = levers.small_model(self.model, change)           # coalesce (or its own init)

    def up(self, change):
        """M_l = (1 - alpha) kept M_l + alpha decoalesce(M_{l+1})."""
        kept = self.progress.kept.pop(change.upper)
        _, self.carried = levers.carry_optimizer(self.model, self.optimizer, change,
                                                 kept['moments'])
        grown = decoalesce(self.model, **change.resize)
        grown = levers.break_symmetry(grown, change)                   # splits the copies, if asked
        kept_model = model_from_record(kept, self.env.device)
        self.model = levers.return_to(kept_model, grown, change)       # interpolate (or correct)

    def train_stage(self, stage):
        """Train the current model through `stage` from the step it is at, as nanoGPT's loop does:
        evaluate, checkpoint, stop if asked, then a step at the stage's lr."""
        cfg, env, p = self.cfg, self.env, self.progress
        self.optimizer = build_optimizer(self.model, cfg, stage.hidden_lr_scale, env.device)
        if self.resumed_optimizer is not None:  # the checkpoint's, for the stage it resumes
            load_optimizer_state(self.optimizer, self.resumed_optimizer)
        elif self.carried is not None:          # carry_optimizer: moments through the level change
            load_adam_moments(self.model, self.optimizer, self.carried)
        self.resumed_optimizer = self.carried = None
        step = stage_step(self.model, self.optimizer, self.batches, stage, cfg, env, self.watch)
        flops_per_step = self.model.flops_per_token() * cfg.batch_tokens
        self.bar.set_description(f"level {stage.level} {stage.phase}")
        with levers.around_steps(stage, self.model, self.optimizer, p.step):  # ramp, dropout
            while p.step < stage.steps:
                # evaluate at the start, every eval_interval, and at the steps that show a recovery
                recovery = stage.change and p.step in DIAGNOSTIC_STEPS
                if p.step == 0 or p.iter % cfg.eval_interval == 0 or recovery:
                    self.log(stage, stage.lr_at(p.step))
                if p.iter % cfg.checkpoint_interval == 0 and (p.stage, p.step) != self.resumed_at:
                    self.save_checkpoint()
                if self.signals.arrived(p.iter):
                    self.save_checkpoint()
                    raise Interrupted(f"{self.signals.name or 'a signal'} at level {stage.level} "
                                      f"{stage.phase} step {p.step}: checkpoint written; continue "
                                      f"with: {self.resume_command()}")
                with self.clock():  # when the step is queued: the GPU's time shows at the next wait
                    lr = stage.lr_at(p.step)
                    step(p.iter, lr)
                    p.step, p.iter, p.flops = p.step + 1, p.iter + 1, p.flops + flops_per_step
                self.bar.update(1)
                self.bar.set_postfix(lr=f"{lr:.2e}", refresh=False)
        self.log(stage, stage.lr_at(max(stage.steps - 1, 0)))
        if env.master:
            checkpoint.save(model_record(self.model),
                            Path(cfg.out_dir) / f'model_level{stage.level}.pt')
        self.save_checkpoint()

    # -- time, logging, checkpoints, signals ------------------------------------------------------

    @contextmanager
    def clock(self):
        """Counts the time inside as training time (level changes, steps, waiting for them)."""
        t0 = time.perf_counter()
        yield
        self.progress.time_s += time.perf_counter() - t0

    def check_finite(self):
        """Stop the run if a step since the start had a non-finite loss, naming the first. Called
        where the host waits anyway: evaluations, checkpoints, the end of a stage."""
        bad = self.watch.first()
        if bad is None:
            return
        (iteration, loss), (stage, step) = bad, locate(self.stages, bad[0])
        raise NonFiniteLoss(
            f"loss is {loss} at level {stage.level} ({stage.phase}) step {step} (iteration "
            f"{iteration}); the last good checkpoint in {self.cfg.out_dir} is kept: lower this "
            f"level's learning rate or lengthen its warmup, then resume")

    def log(self, stage, lr):
        """Evaluate, and log it; right after a level change, what the change did to the loss."""
        p = self.progress
        with self.clock():
            self.check_finite()  # waits for the queued steps: training time
        if (p.stage, p.step) == self.resumed_at:
            return  # logged before the checkpoint we resumed from
        losses = evaluate(self.model, self.batches, self.cfg, self.env)
        change = stage.change.describe(self.model.config) if stage.change and p.step == 0 else None
        grown_wider = stage.change and not stage.change.down and stage.change.width
        self.run_log.write(self.bar, change, level=stage.level, phase=stage.phase, stage=p.stage,
                           step=p.step, iter=p.iter, tokens=p.iter * self.cfg.batch_tokens,
                           flops=p.flops, train_loss=losses['train'], val_loss=losses['val'],
                           **{k: losses[k] for k in ACCURACY_FIELDS if k in losses}, lr=lr,
                           time_s=p.time_s, tokens_per_s=None,
                           **({PAIR_FIELD: pair_cosine(self.model)} if grown_wider else {}))
        p.log_lines += 1

    def save_checkpoint(self):
        self.check_finite()  # never a checkpoint after a non-finite step
        if not self.env.master:
            return
        state = {'config': asdict(self.cfg), 'progress': vars(self.progress),
                 'model': model_record(self.model), 'optimizer': self.optimizer.state_dict(),
                 'rng_cpu': torch.get_rng_state(),
                 'rng_cuda': torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}
        checkpoint.save(state, Path(self.cfg.out_dir) / 'ckpt.pt')

    def resume_command(self):
        """The command that continues this run where its checkpoint stands."""
        launcher = f'torchrun --nproc_per_node={self.env.world}' if self.env.ddp else 'python'
        return f"{launcher} train.py --out_dir={shlex.quote(self.cfg.out_dir)} --resume"

    def restore(self, state):
        self.progress = Progress(**state['progress'])
        self.resumed_at = (self.progress.stage, self.progress.step)
        self.model = model_from_record(state['model'], self.env.device)
        self.resumed_optimizer = state['optimizer']
        torch.set_rng_state(state['rng_cpu'])
        if state['rng_cuda'] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state['rng_cuda'])
        self.run_log.keep_first(self.progress.log_lines)  # drop lines logged after the checkpoint
