"""Tiny Shakespeare at the character level (about 1 MB, vocab 65), as in nanoGPT.

    python data/shakespeare_char/prepare.py      (downloads input.txt once)
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from data import download, write_meta, write_tokens  # noqa: E402

URL = 'https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt'
META = dict(vocab_size=65)  # Tiny Shakespeare's characters, known before downloading (for --plan)


def prepare(out_dir=Path(__file__).parent, url=URL):
    out_dir = Path(out_dir)
    source = out_dir / 'input.txt'
    download(url, source)
    text = source.read_text(encoding='utf-8')
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    ids = [stoi[c] for c in text]
    n_train = int(0.9 * len(ids))
    write_tokens(out_dir / 'train.bin', ids[:n_train])
    write_tokens(out_dir / 'val.bin', ids[n_train:])
    write_meta(out_dir, vocab_size=len(chars), stoi=stoi, itos={i: c for c, i in stoi.items()})
    print(f"{len(chars)} characters, {n_train:,} train and {len(ids) - n_train:,} val tokens in "
          f"{out_dir}")


if __name__ == '__main__':
    prepare()
