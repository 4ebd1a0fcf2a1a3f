"""The built-in default corpus: the Python standard library source of the interpreter running this,
as bytes (vocab_size 256). No network. Files in sorted order, test folders and site-packages left
out (about 12 MB for CPython 3.11); the last 10% of the bytes are the validation split.

    python data/stdlib/prepare.py
    python data/stdlib/prepare.py --root DIR --out data/pysrc   # any source tree, a site-packages
"""
import os
import sys
import sysconfig
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from data import write_meta, write_tokens  # noqa: E402

META = dict(vocab_size=256)  # known before preparing, for train.py --plan
SKIPPED_DIRS = {'test', 'tests', 'idle_test', 'site-packages', '__pycache__'}


def corpus_bytes(root):
    """Every .py file under root, in a fixed order, joined into one bytes object."""
    parts = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
        parts += [Path(folder, f).read_bytes() for f in sorted(files) if f.endswith('.py')]
    return b''.join(parts)


def prepare(out_dir=Path(__file__).parent, root=sysconfig.get_paths()['stdlib']):
    data = corpus_bytes(root)
    if len(data) < 1000:
        raise SystemExit(f"found only {len(data)} bytes of Python source under {root}")
    n_val = len(data) // 10
    ids = np.frombuffer(data, dtype=np.uint8)
    write_tokens(Path(out_dir) / 'train.bin', ids[:-n_val])
    write_tokens(Path(out_dir) / 'val.bin', ids[-n_val:])
    write_meta(out_dir, **META, source=str(root))
    print(f"stdlib corpus from {root}: {len(data) - n_val:,} train and {n_val:,} val bytes in "
          f"{out_dir}")


if __name__ == '__main__':
    import argparse
    ap = argparse.ArgumentParser(description='Write a byte-level corpus of the .py files under a '
                                             'folder.')
    ap.add_argument('--root', default=sysconfig.get_paths()['stdlib'],
                    help='the source tree (default: the stdlib)')
    ap.add_argument('--out', default=str(Path(__file__).parent), help='the dataset folder to write')
    args = ap.parse_args()
    Path(args.out).mkdir(parents=True, exist_ok=True)
    prepare(args.out, args.root)
