"""TinyStories (Eldan and Li, 2023; about 2 GB of English), tokenized with tiktoken's GPT-2 BPE,
stories separated by <|endoftext|>. For the GPT-2-small recipe on one GPU.

    python data/tinystories/prepare.py           (downloads the two text files once)
"""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from data import download, write_meta  # noqa: E402

BASE = 'https://huggingface.co/datasets/roneneldan/TinyStories/resolve/main/'
FILES = {'train': 'TinyStories-train.txt', 'val': 'TinyStories-valid.txt'}
SEPARATOR = '<|endoftext|>'
META = dict(vocab_size=50257, encoding='gpt2')  # what prepare() writes by default; for --plan


def tokenize_file(source, dest, encoding, chunk_stories=10_000):
    """Tokenize a text file of stories separated by SEPARATOR into dest (uint16), in chunks."""
    eot = encoding.eot_token
    n = 0
    with open(source, encoding='utf-8') as f, open(dest, 'wb') as out:
        stories, pending = [], ''
        for line in f:
            pending += line
            if SEPARATOR in pending:
                *done, pending = pending.split(SEPARATOR)
                stories += [s.strip() for s in done if s.strip()]
            if len(stories) >= chunk_stories:
                n += write_stories(stories, encoding, eot, out)
                stories = []
        stories += [pending.strip()] if pending.strip() else []
        n += write_stories(stories, encoding, eot, out)
    return n


def write_stories(stories, encoding, eot, out):
    ids = [t for ids in encoding.encode_ordinary_batch(stories) for t in ids + [eot]]
    np.asarray(ids, dtype=np.uint16).tofile(out)
    return len(ids)


def prepare(out_dir=Path(__file__).parent, encoding=None):
    import tiktoken
    encoding = encoding or tiktoken.get_encoding('gpt2')
    out_dir = Path(out_dir)
    for split, name in FILES.items():
        source = out_dir / name
        download(BASE + name, source)
        n = tokenize_file(source, out_dir / f'{split}.bin', encoding)
        print(f"{split}: {n:,} tokens")
    write_meta(out_dir, vocab_size=encoding.n_vocab, encoding=encoding.name)


if __name__ == '__main__':
    prepare()
