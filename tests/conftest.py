"""Fixtures and helpers shared by the tests: a tiny corpus and image set, tiny models with every
parameter random, train.py arguments for a tiny GPT, reading runs back, killing runs on cue."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import checkpoint  # noqa: E402
from data import write_meta, write_tokens  # noqa: E402
from model import BERT, GPT, ViT, BERTConfig, GPTConfig, ViTConfig  # noqa: E402

ARCHS = ['gpt', 'bert', 'vit']
MODES = {'width': (True, False), 'depth': (False, True), 'both': (True, True)}
PAIRINGS = ['stack', 'adjacent']
# (mode, depth pairing, depth copies) worth testing: width alone ignores the last two
RESIZES = [('width', 'stack', 'half')] + [(mode, pairing, copies) for mode in ('depth', 'both')
                                          for pairing in PAIRINGS for copies in ('half', 'full')]


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
    """train.py arguments for a tiny GPT (4 layers x 32) on the tiny corpus, the paper's cycle
    (width and depth halved at each change, alpha 0.5)."""
    args = dict(dataset=str(corpus), out_dir=str(out_dir), device='cpu', n_layer=4, n_head=4,
                n_embd=32, block_size=32, batch_tokens=256, micro_batch=4, levels=2, down_steps=6,
                up_steps='8,10', lr='3e-3,6e-3', coalesce_width=True, coalesce_depth=True,
                alpha=0.5, warmup=2, transition_warmup=2, eval_interval=4, eval_iters=2,
                checkpoint_interval=5)
    args.update(overrides)
    return [f'--{k}' if v is None else f'--{k}={v}' for k, v in args.items()]  # None: a bare --key


def weights(path):
    return checkpoint.load(path)['state']


def max_abs_diff(a, b):
    assert a.keys() == b.keys()
    return max((a[k] - b[k]).abs().max().item() for k in a)


def share_differing(a, b, tolerance):
    """The fraction of all elements of state dicts a and b that differ by more than tolerance."""
    assert a.keys() == b.keys()
    differing = sum(((a[k] - b[k]).abs() > tolerance).sum().item() for k in a)
    return differing / sum(a[k].numel() for k in a)


def read_log(out_dir):
    return [json.loads(line) for line in (Path(out_dir) / 'log.jsonl').read_text().splitlines()]


def make(arch, n_layer=4, n_head=4, n_embd=32, seed=0):
    """A small model with every parameter random (biases and LayerNorms too), so that no invariant
    holds by accident of an all-zero or all-one initialization."""
    torch.manual_seed(seed)
    shape = dict(n_layer=n_layer, n_head=n_head, n_embd=n_embd)
    if arch == 'gpt':
        m = GPT(GPTConfig(block_size=16, vocab_size=37, **shape))
    elif arch == 'bert':
        m = BERT(BERTConfig(block_size=16, vocab_size=37, **shape))
    else:
        m = ViT(ViTConfig(image_size=8, patch_size=4, in_channels=3, n_classes=5,
                          n_layer=n_layer, n_head=n_head, n_embd=n_embd))
    with torch.no_grad():
        for name, p in m.named_parameters():
            around = 1.0 if 'ln' in name and name.endswith('weight') else 0.0  # LayerNorm gains: 1
            p.copy_(torch.randn_like(p) * 0.3 + around)
    return m.eval()


def inputs(arch, batch=3):
    g = torch.Generator().manual_seed(1)
    if arch == 'vit':
        return torch.randn(batch, 3, 8, 8, generator=g)
    return torch.randint(36, (batch, 16), generator=g)


def run_until(where, at, signame, args):
    """train.py with args in a subprocess that sends itself a signal at a point
    (tests/killable_run.py)."""
    command = [sys.executable, str(ROOT / 'tests/killable_run.py'), where, str(at), signame, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def assert_same_run(out, reference):
    """Two runs ended bitwise alike: every level's weights, and the log but for wall time."""
    for level in (1, 2):
        a = weights(out / f'model_level{level}.pt')
        b = weights(reference / f'model_level{level}.pt')
        assert all(torch.equal(a[k], b[k]) for k in a), f'level {level} weights differ'

    def timeless(log):
        return [{k: v for k, v in r.items() if k not in ('time_s', 'tokens_per_s')} for r in log]
    assert timeless(read_log(out)) == timeless(read_log(reference))
