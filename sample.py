"""Generate text from a GPT trained by train.py.

    python sample.py                                  # out/model_level1.pt, prompt 'def '
    python sample.py --out_dir=out --start="import " --num_samples=3 --max_new_tokens=300
    python sample.py --init_from=gpt2-folder --start="Once upon a time"   # a Hugging Face GPT-2
"""
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

import checkpoint
import commandline
import hf
from checkpoint import model_from_record
from commandline import ConfigError
from data import dataset_path, read_meta
from model import GPT
from step import Env


def codec(meta):
    """(encode, decode) for a dataset's meta.pkl: bytes, characters or GPT-2 BPE."""
    if 'stoi' in meta:
        stoi, itos = meta['stoi'], meta['itos']
        return (lambda s: [stoi[c] for c in s]), (lambda ids: ''.join(itos[i] for i in ids))
    if meta.get('encoding'):
        import tiktoken
        try:
            enc = tiktoken.get_encoding(meta['encoding'])
        except Exception as e:  # offline: tiktoken downloads an encoding's files on first use
            raise ConfigError(
                f"tiktoken's {meta['encoding']} encoding could not be loaded ({type(e).__name__}): "
                f"it downloads its files once, so run this once where downloads work, or copy them "
                f"into the folder that TIKTOKEN_CACHE_DIR names") from None
        return (lambda s: enc.encode(s, allowed_special={'<|endoftext|>'})), enc.decode
    return (lambda s: list(s.encode('utf-8'))), (lambda ids: bytes(ids).decode('utf-8', 'replace'))


@dataclass
class Settings:
    out_dir: str = 'out'            # the run folder that holds model_level<l>.pt and config.json
    init_from: str = ''             # or a Hugging Face GPT-2 folder (hf.py), its text in GPT-2 BPE
    level: int = 1                  # which level's model (1 = the full model)
    start: str = 'def '             # the prompt
    num_samples: int = 2            # how many texts to print
    max_new_tokens: int = 200       # tokens generated after the prompt
    temperature: float = 0.8        # softmax temperature; 0 means greedy
    top_k: int = 50                 # sample among the top_k most likely tokens
    seed: int = 1337                # fixes the sampling
    device: str = 'auto'            # 'auto': cuda, then mps, then cpu


def check(args):
    """Settings that cannot sample, refused before any model is loaded."""
    for ok, message in (
            (args.temperature >= 0,
             f"temperature must be >= 0 (0: greedy), got {args.temperature}"),
            (args.top_k >= 1, f"top_k must be at least 1, got {args.top_k}"),
            (args.num_samples >= 1, f"num_samples must be at least 1, got {args.num_samples}"),
            (args.max_new_tokens >= 0, f"max_new_tokens must be >= 0, got {args.max_new_tokens}"),
            (args.level >= 1, f"level must be at least 1 (1: the full model), got {args.level}"),
            (args.start != '', "start is empty: give the text to continue, e.g. --start='def '")):
        if not ok:
            raise ConfigError(message)


def main(argv):
    args = commandline.parse_settings(Settings, argv)
    check(args)
    try:
        device = Env.here(args.device, compile='off').device
    except ValueError as e:
        raise ConfigError(str(e)) from None
    if args.init_from:
        model = hf.import_hf(args.init_from).to(device)
        if not isinstance(model, GPT):
            raise ConfigError(f"{args.init_from} holds a {type(model).__name__}; only a GPT "
                              f"generates text")
        encode, decode = codec({'encoding': 'gpt2'})
    else:
        path = Path(args.out_dir) / f'model_level{args.level}.pt'
        if not path.exists():
            raise ConfigError(f"{path} not found: train first (python train.py) or pass --out_dir "
                              f"/ --level")
        record = checkpoint.load(path)
        if record['kind'] != 'gpt':
            raise ConfigError(f"{path} holds a {record['kind']} model; only a GPT generates text")
        cfg = json.loads((Path(args.out_dir) / 'config.json').read_text())
        encode, decode = codec(read_meta(dataset_path(cfg['dataset'])))
        model = model_from_record(record, device)
    model.eval()
    torch.manual_seed(args.seed)
    idx = torch.tensor([encode(args.start)] * args.num_samples, device=device)
    out = model.generate(idx, args.max_new_tokens, temperature=args.temperature, top_k=args.top_k)
    for row in out.tolist():
        print(decode(row))
        print('-' * 60)


def cli(argv):
    help = commandline.help_text(__doc__, {'--help, -h': 'this text'},
                                 commandline.settings_help(Settings))
    return commandline.command(argv, main, help)


if __name__ == '__main__':
    sys.exit(cli(sys.argv[1:]))
