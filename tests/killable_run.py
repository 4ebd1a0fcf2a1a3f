"""Run train.py, sending this process a signal at an exact point of the V-cycle (for the tests).

    python tests/killable_run.py WHERE ITER SIGNAL train.py-arguments...
WHERE: 'step' (before the optimizer step of iteration ITER), 'transition' (right after the level
change that happens at iteration ITER, before anything is saved) or 'checkpoint' (while writing the
checkpoint of iteration ITER: after the temporary file, before the rename). Under torchrun only
the rank KILL_RANK (an environment variable, 0 by default) is hit, and only in the first attempt
(a worker restarted by --max-restarts runs on).
"""
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import checkpoint  # noqa: E402
import step  # noqa: E402
import train  # noqa: E402
import vcycle  # noqa: E402

where, at, signame, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
state = {'cycle': None}


def hit():
    first_attempt = os.environ.get('TORCHELASTIC_RESTART_COUNT', '0') == '0'
    if os.environ.get('RANK', '0') == os.environ.get('KILL_RANK', '0') and first_attempt:
        os.kill(os.getpid(), getattr(signal, signame))


def after(name):
    """VCycle's method `name`, then the signal if the cycle is at iteration `at`."""
    original = getattr(vcycle.VCycle, name)

    def patched(self, *args, **kwargs):
        state['cycle'] = self
        result = original(self, *args, **kwargs)
        if self.progress.iter == at:
            hit()
        return result
    setattr(vcycle.VCycle, name, patched)


if where == 'step':
    train_step = step.train_step

    def hit_then_step(model, optimizer, batches, iteration, *args, **kwargs):
        if iteration == at:
            hit()
        return train_step(model, optimizer, batches, iteration, *args, **kwargs)
    step.train_step = hit_then_step
elif where == 'transition':
    after('down')
    after('up')
elif where == 'checkpoint':
    after('save_checkpoint')  # records the cycle
    real_replace = os.replace

    def replace(src, dst):
        cycle = state['cycle']
        if Path(dst).name == 'ckpt.pt' and cycle is not None and cycle.progress.iter == at:
            hit()
        return real_replace(src, dst)
    checkpoint.os.replace = replace
train.exit_process(train.cli(argv))
