"""Datasets on disk and the batches drawn from them.

Text datasets use nanoGPT's format, so they move between the two projects: train.bin and val.bin
hold uint16 token ids, meta.pkl holds at least {'vocab_size': V}. Image datasets hold train.npz
and val.npz (x: uint8 (N, C, S, S), y: int64 (N,)) and meta.pkl with 'n_classes'.

Batches are a pure function of (seed, split, iteration): the global batch of an iteration is the
same whatever the micro-batch size, the accumulation or the number of DDP ranks, and a resumed run
draws exactly what an uninterrupted one would. Rank r's micro-step m takes chunk m * world + r.
"""
import importlib
import os
import pickle
from pathlib import Path

import numpy as np
import torch

from model import mask_tokens

DATA_DIR = Path(__file__).resolve().parent
BUILT_IN = ('stdlib', 'synthetic_images')  # made on first use, without a download
IMAGE_MEAN, IMAGE_STD = 127.5, 64.0  # uint8 pixels -> about zero mean, unit spread


class DataError(ValueError):
    """A dataset that is missing or unusable; the message says how to fix it."""


def dataset_path(name):
    """The folder of the dataset `name`: a path if it holds a '/', else a folder under data/."""
    return Path(name) if '/' in name else DATA_DIR / name


def dataset_folder(name):
    """The folder of the dataset `name`, which must exist."""
    folder = dataset_path(name)
    if not folder.is_dir():
        raise DataError(f"dataset {name!r} not found: expected a folder {folder} (built in: "
                        f"{', '.join(BUILT_IN)}; others: run data/<name>/prepare.py)")
    return folder


def planned_meta(name):
    """The metadata of the dataset `name` for a plan: its meta.pkl, or what its prepare.py declares
    (META) for a dataset under data/ not yet prepared, so that a plan needs no download, and for a
    built-in one, which a run makes again if its files are older (prepare_builtin)."""
    folder = dataset_path(name)
    declares = name in BUILT_IN or not (folder / 'meta.pkl').exists()
    if not declares or '/' in name or not (folder / 'prepare.py').exists():
        return read_meta(dataset_folder(name))
    declared = getattr(importlib.import_module(f'data.{name}.prepare'), 'META', None)
    return declared if declared is not None else read_meta(dataset_folder(name))


def prepare_builtin(name):
    """The built-in datasets are made on first use (no network), and made again where the stored
    meta.pkl lacks what their prepare.py now declares (META): files of an older generator. Their
    files are written atomically, so DDP ranks doing this at once all end with the same complete
    files."""
    if name not in BUILT_IN:
        return
    folder, module = DATA_DIR / name, importlib.import_module(f'data.{name}.prepare')
    if not (folder / 'meta.pkl').exists() or not module.META.items() <= read_meta(folder).items():
        module.prepare(folder)


def write_atomically(path, write):
    """write(file) into a temporary file, then rename it over path: readers (and other DDP ranks
    preparing the same data) never see a half-written file."""
    tmp = Path(f'{path}.tmp{os.getpid()}')
    with open(tmp, 'wb') as f:
        write(f)
    os.replace(tmp, path)


def download(url, path):
    """Fetch url to path once; a later call finds the file and does nothing."""
    if not Path(path).exists():
        import urllib.request
        print(f"downloading {url}")
        urllib.request.urlretrieve(url, f'{path}.part')
        os.replace(f'{path}.part', path)


def write_tokens(path, ids):
    write_atomically(path, np.asarray(ids, dtype=np.uint16).tofile)


def write_meta(folder, **meta):
    """Written last by every prepare.py: its presence means the dataset is complete."""
    write_atomically(Path(folder) / 'meta.pkl', lambda f: pickle.dump(meta, f))


def read_meta(folder):
    path = Path(folder) / 'meta.pkl'
    if not path.exists():
        raise DataError(f"{path} is missing: run `python {Path(folder) / 'prepare.py'}` first")
    with open(path, 'rb') as f:
        return pickle.load(f)


def load_tokens(path, vocab_size, block_size):
    """The uint16 tokens of a .bin file, checked: whole tokens, ids below vocab_size, and more than
    block_size + 1 of them (a window of block_size inputs and their next tokens, at 2+ offsets)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path} is missing: run `python {path.parent / 'prepare.py'}` first")
    if path.stat().st_size % 2:
        raise DataError(f"{path} has {path.stat().st_size} bytes, not a whole number of uint16 "
                        f"tokens: "
                        f"the file is truncated or not a token file; prepare it again")
    tokens = np.memmap(path, dtype=np.uint16, mode='r')
    if len(tokens) < block_size + 2:
        raise DataError(f"{path} holds {len(tokens)} tokens, too few for block_size {block_size}: "
                        f"use a smaller block_size or more data")
    top = int(tokens.max())
    if top >= vocab_size:
        raise DataError(f"{path} holds token id {top}, not below its vocab_size {vocab_size}: "
                        f"the data and meta.pkl disagree; prepare the dataset again")
    return tokens


def seed_for(*keys):
    """A well-mixed 63-bit seed for a tuple of non-negative ints."""
    return int(np.random.SeedSequence(list(keys)).generate_state(2, np.uint64)[0] >> np.uint64(1))


class TextBatches:
    """Random windows of block_size + 1 tokens: x the first block_size, y the next-token targets.
    For BERT (mask_token_id given) x is masked 80/10/10 and y holds the masked tokens, else -1.
    With pin, batches are in page-locked memory, so that copying them to a GPU does not wait."""

    def __init__(self, folder, block_size, batch_rows, seed, pin=False, mask_token_id=None):
        meta = read_meta(folder)
        self.vocab_size = meta['vocab_size']
        self.split = {s: load_tokens(Path(folder) / f'{s}.bin', self.vocab_size, block_size)
                      for s in ('train', 'val')}
        self.block_size, self.batch_rows, self.seed, self.pin = block_size, batch_rows, seed, pin
        self.mask_token_id = mask_token_id
        self._cache = (None, None)

    def windows(self, split, rows, generator):
        """rows windows of block_size + 1 tokens of a split, int64 (rows, block_size + 1)."""
        data, T = self.split[split], self.block_size
        starts = torch.randint(len(data) - T - 1, (rows,), generator=generator).tolist()
        return torch.from_numpy(np.stack([data[s:s + T + 1].astype(np.int64) for s in starts]))

    def draw(self, split, index, rows):
        g = torch.Generator().manual_seed(seed_for(self.seed, int(split == 'val'), index))
        window = self.windows(split, rows, g)
        x, y = window[:, :-1], window[:, 1:]
        if self.mask_token_id is not None:
            x, y = mask_tokens(window[:, :-1], self.mask_token_id, generator=g)
        return (x.pin_memory(), y.pin_memory()) if self.pin else (x, y)

    def train_chunk(self, iteration, chunk, rows):
        """Rows [chunk * rows, (chunk + 1) * rows) of the global training batch of an iteration."""
        if self._cache[0] != iteration:
            self._cache = (iteration, self.draw('train', iteration, self.batch_rows))
        x, y = self._cache[1]
        return x[chunk * rows:(chunk + 1) * rows], y[chunk * rows:(chunk + 1) * rows]

    def eval_batch(self, split, index, rows):
        """The index-th fixed evaluation batch of a split: the same in every run with this seed."""
        return self.draw(split, 1_000_000_000 + index, rows)


class RandomTokens(TextBatches):
    """Uniformly random token ids in place of a dataset, for measuring speed (bench.py --speed)."""

    def __init__(self, vocab_size, block_size, batch_rows, seed, pin=False, mask_token_id=None):
        self.vocab_size, self.block_size, self.batch_rows = vocab_size, block_size, batch_rows
        self.seed, self.pin, self.mask_token_id = seed, pin, mask_token_id
        self._cache = (None, None)

    def windows(self, split, rows, generator):
        return torch.randint(self.vocab_size, (rows, self.block_size + 1), generator=generator)


class ImageBatches(TextBatches):
    """Random images with their labels; x float (B, C, S, S) normalized, y int64 (B,)."""

    def __init__(self, folder, batch_rows, seed, pin=False):
        self.meta = read_meta(folder)
        self.split = {}
        for s in ('train', 'val'):
            path = Path(folder) / f'{s}.npz'
            if not path.exists():
                raise DataError(f"{path} is missing: run `python {Path(folder) / 'prepare.py'}` "
                                f"first")
            with np.load(path) as f:
                self.split[s] = (torch.from_numpy(f['x']), torch.from_numpy(f['y']).long())
            if int(self.split[s][1].max()) >= self.meta['n_classes']:
                raise DataError(f"{path} holds a label not below n_classes "
                                f"{self.meta['n_classes']}")
        self.batch_rows, self.seed, self.pin, self._cache = batch_rows, seed, pin, (None, None)

    def draw(self, split, index, rows):
        g = torch.Generator().manual_seed(seed_for(self.seed, int(split == 'val'), index))
        return self.images(split, torch.randint(len(self.split[split][1]), (rows,), generator=g))

    def eval_batch(self, split, index, rows):
        """The index-th evaluation batch of a split: its images index * rows on, in order (wrapping
        round), so that eval_iters batches of micro_batch images read eval_iters x micro_batch
        images once each, the whole split when that is its size."""
        return self.images(split, (index * rows + torch.arange(rows)) % len(self.split[split][1]))

    def images(self, split, pick):
        images, labels = self.split[split]
        x, y = (images[pick].float() - IMAGE_MEAN) / IMAGE_STD, labels[pick]
        return (x.pin_memory(), y.pin_memory()) if self.pin else (x, y)
