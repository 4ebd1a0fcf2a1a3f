"""Run train.py, sending this process a signal at an exact point of the V-cycle (for the tests).

    python tests/killable_run.py WHERE ITER SIGNAL train.py-arguments...
WHERE: 'step' (before the optimizer step of iteration ITER), 'transition' (right after the level
change that happens at iteration ITER, before anything is saved) or 'checkpoint' (while writing the
checkpoint of iteration ITER: after the temporary file, before the rename).
"""
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import checkpoint  # noqa: E402
import train  # noqa: E402
import vcycle  # noqa: E402

where, at, signame, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
state = {'cycle': None}


def hit():
    os.kill(os.getpid(), getattr(signal, signame))


def patch(cls, name, before):
    original = getattr(cls, name)

    def patched(self, *args, **kwargs):
        state['cycle'] = self
        if before and self.progress.iter == at:
            hit()
        result = original(self, *args, **kwargs)
        if not before and self.progress.iter == at:
            hit()
        return result
    setattr(cls, name, patched)


if where == 'step':
    patch(vcycle.VCycle, 'train_step', before=True)
elif where == 'transition':
    patch(vcycle.VCycle, 'change_level', before=False)
elif where == 'checkpoint':
    patch(vcycle.VCycle, 'save_checkpoint', before=False)  # records the cycle
    real_replace = os.replace

    def replace(src, dst):
        cycle = state['cycle']
        if Path(dst).name == 'ckpt.pt' and cycle is not None and cycle.progress.iter == at:
            hit()
        return real_replace(src, dst)
    checkpoint.os.replace = replace
sys.exit(train.cli(argv))
