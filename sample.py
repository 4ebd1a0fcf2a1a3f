"""Generate text from a GPT trained by train.py.

    python sample.py                                  # out/model_level1.pt, prompt 'def '
    python sample.py --out_dir=out --start="import " --num_samples=3 --max_new_tokens=300
"""
import argparse
import json
import sys
from pathlib import Path

import torch

import checkpoint
from data import DATA_DIR, read_meta
from vcycle import model_from_record


def codec(meta):
    """(encode, decode) for a dataset's meta.pkl: bytes, characters or GPT-2 BPE."""
    if 'stoi' in meta:
        stoi, itos = meta['stoi'], meta['itos']
        return (lambda s: [stoi[c] for c in s]), (lambda ids: ''.join(itos[i] for i in ids))
    if meta.get('encoding'):
        import tiktoken
        enc = tiktoken.get_encoding(meta['encoding'])
        return (lambda s: enc.encode(s, allowed_special={'<|endoftext|>'})), enc.decode
    return (lambda s: list(s.encode('utf-8'))), (lambda ids: bytes(ids).decode('utf-8', errors='replace'))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out_dir', default='out')
    ap.add_argument('--level', type=int, default=1, help='which level\'s model (1 = the full model)')
    ap.add_argument('--start', default='def ')
    ap.add_argument('--num_samples', type=int, default=2)
    ap.add_argument('--max_new_tokens', type=int, default=200)
    ap.add_argument('--temperature', type=float, default=0.8)
    ap.add_argument('--top_k', type=int, default=50)
    ap.add_argument('--seed', type=int, default=1337)
    ap.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    args = ap.parse_args()
    path = Path(args.out_dir) / f'model_level{args.level}.pt'
    if not path.exists():
        sys.exit(f"error: {path} not found: train first (python train.py) or pass --out_dir / --level")
    record = checkpoint.load(path)
    if record['kind'] != 'gpt':
        sys.exit(f"error: {path} holds a {record['kind']} model; only a GPT generates text")
    cfg = json.loads((Path(args.out_dir) / 'config.json').read_text())
    folder = Path(cfg['dataset']) if '/' in cfg['dataset'] else DATA_DIR / cfg['dataset']
    encode, decode = codec(read_meta(folder))
    model = model_from_record(record, args.device).eval()
    torch.manual_seed(args.seed)
    idx = torch.tensor([encode(args.start)] * args.num_samples, device=args.device)
    out = model.generate(idx, args.max_new_tokens, temperature=args.temperature, top_k=args.top_k)
    for row in out.tolist():
        print(decode(row))
        print('-' * 60)


if __name__ == '__main__':
    main()
