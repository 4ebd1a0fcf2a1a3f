import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from data import write_meta, write_tokens  # noqa: E402


@pytest.fixture(scope='session')
def tiny_corpus(tmp_path_factory):
    """A small byte-level text dataset: this project's own source, about 60 KB."""
    folder = tmp_path_factory.mktemp('tiny_corpus')
    text = b''.join(p.read_bytes() for p in sorted(ROOT.glob('*.py')))
    n_val = len(text) // 10
    write_tokens(folder / 'train.bin', list(text[:-n_val]))
    write_tokens(folder / 'val.bin', list(text[-n_val:]))
    write_meta(folder, vocab_size=256)
    return folder


@pytest.fixture(scope='session')
def tiny_images(tmp_path_factory):
    from data.synthetic_images.prepare import prepare
    folder = tmp_path_factory.mktemp('tiny_images')
    prepare(folder, n_train=2000, n_val=200)
    return folder


def tiny_args(corpus, out_dir, **overrides):
    """train.py arguments for a tiny GPT (4 layers x 32) on the tiny corpus."""
    args = dict(dataset=str(corpus), out_dir=str(out_dir), device='cpu', n_layer=4, n_head=4, n_embd=32, block_size=32,
                batch_tokens=256, micro_batch=4, levels=2, down_steps=6, up_steps='8,10', lr='3e-3,6e-3',
                warmup=2, transition_warmup=2, eval_interval=4, eval_iters=2, checkpoint_interval=5)
    args.update(overrides)
    return [f'--{k}={v}' for k, v in args.items()]


def weights(path):
    import checkpoint
    return checkpoint.load(path)['state']


def max_abs_diff(a, b):
    assert a.keys() == b.keys()
    return max((a[k] - b[k]).abs().max().item() for k in a)


def read_log(out_dir):
    import json
    return [json.loads(line) for line in (Path(out_dir) / 'log.jsonl').read_text().splitlines()]


__all__ = ['tiny_args', 'weights', 'max_abs_diff', 'read_log', 'np']
