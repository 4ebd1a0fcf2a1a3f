"""CIFAR-10 (Krizhevsky, 2009): 50,000 train and 10,000 test 32 x 32 RGB images in 10 classes,
from the binary release, parsed with numpy (no torchvision).

    python data/cifar10/prepare.py               (downloads about 160 MB once)
"""
import sys
import tarfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from data import download, write_atomically, write_meta  # noqa: E402

URL = 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz'
RECORD = 1 + 3 * 32 * 32  # a label byte, then 1024 red, 1024 green, 1024 blue bytes
SPLITS = {'train': [f'data_batch_{i}.bin' for i in range(1, 6)], 'val': ['test_batch.bin']}
META = dict(n_classes=10, image_size=32, in_channels=3)  # known before preparing, for --plan


def parse_records(raw):
    """bytes of CIFAR-10 binary records -> (x uint8 (n, 3, 32, 32), y int64 (n,))."""
    if len(raw) % RECORD:
        raise ValueError(f"{len(raw)} bytes is not a whole number of {RECORD}-byte CIFAR-10 "
                         f"records")
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, RECORD)
    return records[:, 1:].reshape(-1, 3, 32, 32).copy(), records[:, 0].astype(np.int64)


def prepare(out_dir=Path(__file__).parent, url=URL):
    out_dir = Path(out_dir)
    archive = out_dir / 'cifar-10-binary.tar.gz'
    download(url, archive)
    with tarfile.open(archive) as tar:
        members = {Path(m.name).name: m for m in tar.getmembers()}
        for split, names in SPLITS.items():
            x, y = zip(*(parse_records(tar.extractfile(members[n]).read()) for n in names))
            write_atomically(out_dir / f'{split}.npz',
                             lambda f: np.savez(f, x=np.concatenate(x), y=np.concatenate(y)))
            print(f"{split}: {sum(len(a) for a in y):,} images")
    write_meta(out_dir, **META)


if __name__ == '__main__':
    prepare()
