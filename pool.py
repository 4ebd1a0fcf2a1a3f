"""Training many runs for the bench: each run once, the finished ones read, the rest trained here
one after the other or side by side in processes of their own.
"""
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import train
from baseline import BASELINE_SETTINGS
from commandline import RunStopped
from schedule import stage_costs, total_steps

ROOT = Path(__file__).resolve().parent


def finished_log(cfg):
    """The log of a finished run of exactly cfg in cfg.out_dir, or None. The baseline's settings do
    not count (a baseline run has its schedule in lr and decay_steps): an arm trained beside one
    baseline is read beside another. A setting its config.json lacks (added to Config since) had
    its default."""
    out = Path(cfg.out_dir)
    if not (out / 'config.json').exists() or not (out / 'log.jsonl').exists():
        return None
    defaults = json.loads(json.dumps(asdict(train.Config())))  # of a setting added since the run
    stored = {**defaults, **json.loads((out / 'config.json').read_text())}
    wanted = json.loads(json.dumps(asdict(cfg)))  # as JSON stores it: tuples become lists
    same = set(stored) <= set(wanted) and all(stored.get(k) == v for k, v in wanted.items()
                                              if k not in BASELINE_SETTINGS)
    log = [json.loads(line) for line in (out / 'log.jsonl').read_text().splitlines()]
    return log if same and log and log[-1]['iter'] == total_steps(cfg) else None


def threads_per_run(jobs, threads=0):
    """Torch threads a run with `jobs` runs side by side: `threads`, or the cores shared out."""
    return threads or max(1, (os.cpu_count() or 1) // jobs)


def train_all(runs, jobs=1, threads=0):
    """Train every run of {key: (name, config)} and return {key: its log}. A finished run of the
    same config in its out_dir is read instead (so an interrupted bench, or one adding arms, redoes
    only what is missing). With jobs = 1 the runs train here, one after the other; with more, each
    in its own process (python train.py with every setting spelled out, its output in
    out_dir/train.log), `jobs` at a time, each on `threads` threads (0: the cores / jobs), the
    longest (in planned FLOPs) first, so that the last to finish are short ones."""
    logs, pending = {}, []
    for key, (name, cfg) in runs.items():
        logs[key] = finished_log(cfg)
        print(f"=== {name}: seed {cfg.seed}, {cfg.levels} level(s), out_dir {cfg.out_dir}"
              + (' (finished before: read, not trained)' if logs[key] else ''), flush=True)
        if logs[key] is None:
            pending.append((key, cfg))
    progress = Progress([cfg for _, cfg in pending])

    def finished(key, cfg):
        logs[key] = finished_log(cfg)
        print(progress.line(cfg), flush=True)
    if jobs == 1:
        for key, cfg in pending:
            train.run(cfg)
            finished(key, cfg)
        return logs
    threads = threads_per_run(jobs, threads)
    pending.sort(key=lambda run: -progress.flops[run[1].out_dir])  # no long run left for the end
    running = []
    while pending or running:
        while pending and len(running) < jobs:
            key, cfg = pending.pop(0)
            Path(cfg.out_dir).mkdir(parents=True, exist_ok=True)
            command = [sys.executable, str(ROOT / 'train.py')]
            command += [f'--{k}={v!r}' for k, v in asdict(cfg).items()]
            with open(Path(cfg.out_dir) / 'train.log', 'w') as log_file:
                process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT,
                                           env={**os.environ, 'OMP_NUM_THREADS': str(threads)})
            running.append((key, cfg, process))
        time.sleep(0.2)
        for key, cfg, process in [r for r in running if r[2].poll() is not None]:
            running.remove((key, cfg, process))
            if process.returncode != 0:
                for _, _, other in running:
                    other.terminate()
                raise RunStopped(f"the run in {cfg.out_dir} failed (exit status "
                                 f"{process.returncode}): see {Path(cfg.out_dir) / 'train.log'}")
            finished(key, cfg)
    return logs


class Progress:
    """How far a set of runs has come: runs done and left, and the time to go, estimated from the
    FLOPs trained so far (the runs' planned FLOPs, stage_costs)."""

    def __init__(self, cfgs):
        self.flops = {cfg.out_dir: planned_flops(cfg) for cfg in cfgs}
        self.done, self.start = [], time.perf_counter()

    def line(self, cfg):
        """The line to print when the run of cfg has finished."""
        self.done.append(cfg.out_dir)
        elapsed = time.perf_counter() - self.start
        share = sum(self.flops[d] for d in self.done) / sum(self.flops.values())
        left = len(self.flops) - len(self.done)
        to_go = f", about {minutes(elapsed * (1 - share) / share)} to go" if left else ''
        return (f"--- trained {len(self.done)} of {len(self.flops)} runs ({cfg.out_dir}), {left} "
                f"left; {minutes(elapsed)} so far{to_go}")


def planned_flops(cfg):
    """The FLOPs a run of cfg trains, as its plan counts them."""
    costs, _ = stage_costs(cfg, train.checked_request(cfg, plan=True)[1])
    return sum(flops for *_, flops in costs)


def minutes(seconds):
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"
