"""Run train.py counting, by iteration, the reads of a tensor on the host (a wait for the device):
.item(), bool() and .tolist(), but those of the data sampler (data/), which draws its windows on
the host by design. Writes {iteration: count} to the file named by HOST_WAITS_FILE, with the rank
appended (for the tests).

    python tests/count_host_waits.py train.py-arguments...
The reads after step i, before step i + 1, count for iteration i + 1 (the loop's checks there).
"""
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import torch  # noqa: E402

import step  # noqa: E402
import train  # noqa: E402

DATA = str(Path(__file__).resolve().parents[1] / 'data')
waits, at = {}, [0]  # {iteration: reads}, and the iteration the reads now count for


def counted(method):
    """`method` of torch.Tensor, counting each call that does not come from data/."""
    def read(tensor, *args, **kwargs):
        if not sys._getframe(1).f_code.co_filename.startswith(DATA):
            waits[at[0]] = waits.get(at[0], 0) + 1
        return method(tensor, *args, **kwargs)
    return read


for name in ('item', '__bool__', 'tolist'):
    setattr(torch.Tensor, name, counted(getattr(torch.Tensor, name)))
train_step = step.train_step


def stepping(model, optimizer, batches, iteration, *args, **kwargs):
    at[0] = iteration       # the reads in the step count for its iteration
    result = train_step(model, optimizer, batches, iteration, *args, **kwargs)
    at[0] = iteration + 1   # the checks before the next step, for the next iteration
    return result


step.train_step = stepping
status = train.cli(sys.argv[1:])
rank = os.environ.get('RANK', '0')
Path(f"{os.environ['HOST_WAITS_FILE']}.{rank}").write_text(json.dumps(waits))
train.exit_process(status)
