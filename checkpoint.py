"""Safe checkpoints: written atomically, read without executing anything; models as plain records.

save() writes to a temporary file in the same folder, flushes and fsyncs it, then renames it over
the target (atomic on POSIX), so a crash or a full disk mid-write leaves the previous checkpoint
intact; the file gets the permissions open() would give it (the umask), so that the other users of
a shared course machine can read it. load() uses torch.load(weights_only=True): only tensors,
numbers, strings and plain containers are accepted, so a file carrying pickled code is refused
before any of it runs. A model travels as a record (model_record): its kind, config and weights.
"""
import os
import pickle
import tempfile
from dataclasses import asdict
from pathlib import Path

import torch

from model import MODELS


class CheckpointError(RuntimeError):
    pass


def save(obj, path):
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f'.{path.name}.', suffix='.tmp')
    try:
        os.fchmod(fd, 0o666 & ~current_umask())  # mkstemp makes 0600: what open() would give
        with os.fdopen(fd, 'wb') as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise CheckpointError(f"could not write {path} ({e.strerror or e}); the previous "
                                  f"checkpoint there, if any, is intact") from e
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)  # make the rename itself durable
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    for stale in path.parent.glob(f'.{path.name}.*.tmp'):  # left by a process killed mid-write
        stale.unlink(missing_ok=True)


def current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def load(path, map_location='cpu'):
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(f"{path} holds objects other than tensors and plain data, refused "
                              f"unexecuted (weights_only=True): {str(e).splitlines()[0]}") from e
    except (OSError, RuntimeError, EOFError) as e:
        first_line = str(e).splitlines()[0]
        raise CheckpointError(f"{path} is not a readable checkpoint: {first_line}") from e


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
