"""Train a model with a k-level V-cycle (k = 1: the baseline) on one CPU, one GPU, or several.

    python train.py                                   # the default: byte-level GPT, 2-level V-cycle
    python train.py config/bert.py --levels=3         # a recipe, with overrides
    python train.py --resume                          # continue the run in out_dir exactly
    python train.py config/gpt2_small.py --plan       # what a run would train, and its FLOPs
    torchrun --standalone --nproc_per_node=8 train.py config/gpt2_small.py

Settings are --key=value after an optional config file (commandline.py: Python literals,
type-checked against Config). Per-level settings take one value for every level (--lr=1e-3) or a
tuple, level 1 (the full model) first (--lr=1e-3,2e-3); their defaults adapt to --levels (first
values kept, the last one repeated). Every problem with the request is reported in one line before
any work starts.
"""
import json
import os
import shlex
import sys
import typing
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch

import checkpoint
import commandline
import hf
from baseline import BASELINE_SETTINGS, baseline_name, baseline_of
from commandline import ConfigError
from data import (DataError, ImageBatches, TextBatches, dataset_folder, planned_meta,
                  prepare_builtin, read_meta)
from model import MODELS
from schedule import (PER_LEVEL, level_configs, need, plan_table, stage_costs, total_steps,
                      warmup_warnings)
from step import Env, Interrupted
from vcycle import VCycle


@dataclass
class Config:
    # run
    out_dir: str = 'out'            # where the run writes log.jsonl, model_level<l>.pt, ckpt.pt
    init_from: str = 'scratch'      # 'scratch', 'resume' (--resume), 'auto' (resume this run's
                                    # checkpoint if out_dir has one, else start), or a Hugging
                                    # Face model folder
    overwrite: bool = False         # start afresh in an out_dir that holds another run
    seed: int = 1337                # fixes the initialization, data order and evaluation batches
    device: str = 'auto'            # 'auto': cuda, then mps, then cpu
    dtype: str = 'auto'             # 'auto': bfloat16 autocast on CUDA, float32 elsewhere
    compile: str = 'auto'           # 'auto': torch.compile on CUDA only; 'on' or 'off'
    compile_mode: tuple[str, ...] = ('default',)  # per level: 'default', 'reduce-overhead' (CUDA
                                    # graphs), 'max-autotune', 'max-autotune-no-cudagraphs'
    # data and model
    dataset: str = 'stdlib'         # a folder under data/, or a path to one
    model: str = 'gpt'              # 'gpt', 'bert' or 'vit'
    n_layer: int = 4                # layers of M_1, the full model
    n_head: int = 4                 # attention heads of M_1
    n_embd: int = 128               # width d of M_1
    block_size: int = 128           # text models: tokens per sequence
    patch_size: int = 4             # ViT: pixels per patch side
    dropout: float = 0.0            # dropout on embeddings and residual branches
    vocab_multiple: int = 1         # text models: embedding rows padded to a multiple (64 on GPUs)
    # batch
    batch_tokens: int = 4096        # tokens per optimizer step (ViT: images x tokens per image)
    micro_batch: tuple[int, ...] = (32,)  # per level: sequences per forward pass; accumulation
                                    # makes up the rest
    # V-cycle, per level: one value for every level, or k values from level 1 (the full model) down
    levels: int = 2                 # k, the number of levels; 1 is plain training (the baseline)
    up_steps: tuple[int, ...] = (300, 1287)  # steps at levels 1 .. k going up (level k: the
                                    # bottom)
    lr: tuple[float, ...] = (5.6e-3, 8.4e-3)  # peak learning rate per level
    warmup: int = 50                # warmup steps of the first stage
    transition_warmup: tuple[int, ...] = (30,)  # warmup steps after each level change, per level
    min_lr_frac: float = 0.1        # the last stage's decay ends at this fraction of the peak lr
    decay_steps: int = 0            # the last stage decays over its last this many steps
                                    # (warmup-stable-decay); 0: all of them
    decay_every_stage: bool = False  # decay every stage but the way down, not only the last one
    budget: float = 1.0             # every stage's steps and decay_steps times this (warmups kept):
                                    # the same recipe trained longer or shorter
    mup_lr: bool = False            # a narrower level's hidden matrices take its lr x d_1 / d_l
                                    # (muP's rule for Adam)
    baseline_lr: float = 0.0        # plain training's peak lr on this recipe (the bench's
                                    # baseline, baseline.py); 0: level 1's lr
    baseline_decay: float = 0.2     # plain training decays over the last this fraction of its steps
                                    # (warmup-stable-decay); 0: all of them
    # level changes, one value for every change or k - 1 values, the change from level 1 to 2 first
    down_steps: tuple[int, ...] = (100,)  # E_a: steps at levels 1 .. k-1 on the way down (0: none,
                                    # see small_init)
    return_rule: tuple[str, ...] = ('interpolate',)  # the way up: 'interpolate' (the paper,
                                    # alpha) or 'correct' (beta)
    alpha: tuple[float, ...] = (0.75,)   # interpolation weight of the de-coalesced model
    beta: tuple[float, ...] = (1.0,)     # 'correct': share of the kept model's fine detail kept
    coalesce_width: tuple[bool, ...] = (False,)  # the change halves (doubles) n_embd and n_head
    coalesce_depth: tuple[bool, ...] = (True,)  # the change halves (doubles) n_layer
    depth_pairing: tuple[str, ...] = ('stack',)  # 'stack' (i, i + L/2) or 'adjacent' (2i, 2i + 1)
    depth_copies: tuple[str, ...] = ('half',)    # a grown layer's residual writes: 'half', 'full'
                                    # (the paper), 'identity'
    small_init: tuple[str, ...] = ('coalesce',)  # after 0 steps down: 'coalesce' the untrained
                                    # level, or its 'own' init
    split_skew: tuple[float, ...] = (0.0,)   # width growth: a split input weight's copies get
                                    # (1 +- split_skew) / 2 of it
    split_noise: tuple[float, ...] = (0.0,)  # ... and +- this x its RMS, Gaussian (keeps the
                                    # function too)
    split_complementary: tuple[float, ...] = (0.0,)  # ... or U - N and N, N this x U's RMS (LEMON),
                                    # instead
    carry_optimizer: tuple[bool, ...] = (False,)  # map AdamW's moments through the change (else a
                                    # fresh AdamW)
    new_copy_ramp: tuple[int, ...] = (0,)  # growing: second copies' updates ramp up over this many
                                    # steps, moments zeroed
    return_dropout: tuple[float, ...] = (0.0,)  # dropout during the warmup after the way up,
                                    # breaking symmetry
    # optimizer: AdamW, weight decay on matrices only
    weight_decay: float = 0.1       # decoupled weight decay of the weight matrices
    beta1: float = 0.9              # AdamW's first-moment decay
    beta2: float = 0.95             # AdamW's second-moment decay
    grad_clip: float = 1.0          # clip the gradient's global norm to this (0: no clipping)
    fused_adamw: str = 'auto'       # AdamW's fused kernel: 'auto' (where PyTorch has it: CUDA,
                                    # CPU), 'on' or 'off'
    # evaluation and checkpoints
    eval_interval: int = 100        # evaluate (and log a line) every this many iterations
    eval_iters: int = 10            # micro-batches per split in each evaluation
    checkpoint_interval: int = 250  # write out_dir/ckpt.pt every this many iterations


STARTS = ('scratch', 'resume', 'auto')  # init_from's values but a Hugging Face folder
# the settings given per level (PER_LEVEL: k values) or per level change (the others: k - 1)
TUPLES = [f.name for f in fields(Config) if typing.get_origin(f.type) is tuple]
RESUMABLE_CHANGES = {'init_from', 'overwrite', 'device', 'compile', 'fused_adamw',
                     *BASELINE_SETTINGS}


def parse_args(argv):
    """Config from an optional config file and --key=value overrides (--resume: --init_from=resume).
    Starting from a Hugging Face folder, the model's kind and shape come from the folder where the
    arguments leave them unset."""
    argv = ['--init_from=resume' if a == '--resume' else a for a in argv]
    values = commandline.read_settings(Config, argv)
    init_from = values.get('init_from', 'scratch')
    if (Path(init_from) / 'model_level1.pt').is_file():
        m1 = shlex.quote(str(Path(init_from) / 'model_level1.pt'))
        raise ConfigError(f"init_from={init_from} is a vcycle run, not a Hugging Face folder: "
                          f"continue it with --out_dir={init_from} --resume, or start from its M_1 "
                          f"exported: python -c \"import checkpoint, hf; hf.export_hf(checkpoint."
                          f"model_from_record(checkpoint.load('{m1}'), 'cpu'), 'm1_hf')\" then "
                          f"--init_from=m1_hf (GPT and ViT)")
    if init_from not in STARTS and Path(init_from).is_dir():
        kind, held = hf.folder_config(values['init_from'])
        shape = dict(model=kind, n_layer=held.n_layer, n_head=held.n_head, n_embd=held.n_embd)
        if kind == 'vit':
            shape['patch_size'] = held.patch_size
        values = {**shape, **values}
    cfg = full_config(values)
    if init_from == 'resume':  # the run's own settings, with which those given must agree
        path, saved = Path(cfg.out_dir) / 'config.json', started_with(cfg.out_dir)
        differ = [k for k in values if k in saved and k not in RESUMABLE_CHANGES
                  and getattr(cfg, k) != saved[k]]
        if differ:
            k = differ[0]
            raise ConfigError(f"{path} belongs to a different run: {k}={saved[k]!r} there, "
                              f"{getattr(cfg, k)!r} now; resume with --out_dir={cfg.out_dir} "
                              f"--resume alone, or use another out_dir")
        cfg = full_config({**saved, **values})
    return cfg


def full_config(values):
    """Config of these settings, every per-level or per-change tuple at its full length."""
    cfg = Config(**values)
    for name in TUPLES:
        n, value = max(cfg.levels - (name not in PER_LEVEL), 0), getattr(cfg, name)
        if name in values and len(value) not in (1, n) and n:
            raise ConfigError(f"{name} has {len(value)} values for {cfg.levels} levels: give one "
                              f"value, or {n} (levels 1 to {n})")
        # one value serves every level; defaults adapt to `levels` by repeating their last value
        setattr(cfg, name, (value + value[-1:] * n)[:n] if len(value) != 1 else value * n)
    return cfg


def started_with(out_dir):
    """The settings the run in out_dir started with (its config.json; none if it has none), but
    the way it was started (init_from, overwrite)."""
    path = Path(out_dir) / 'config.json'
    if not path.is_file():
        return {}
    saved = commandline.config_file(Config, path)
    return {key: value for key, value in saved.items() if key not in ('init_from', 'overwrite')}


def check_config(cfg):
    """Checks that need no data and no device; the plan checks each level and level change."""
    try:
        need(cfg.levels >= 1, f"levels must be at least 1, got {cfg.levels}")
        need(cfg.model in MODELS, f"model must be one of {', '.join(MODELS)}, got {cfg.model!r}")
        need(cfg.init_from in STARTS or Path(cfg.init_from).is_dir(),
             f"init_from must be 'scratch', 'resume', 'auto' or a Hugging Face model folder, got "
             f"{cfg.init_from!r}")
        need(not (cfg.init_from == 'auto' and cfg.overwrite),
             "init_from='auto' continues this run where out_dir holds its checkpoint: it does not "
             "go with --overwrite (use init_from='scratch' to start afresh)")
        need(cfg.dtype in ('auto', 'float32', 'bfloat16'),
             f"dtype must be auto, float32 or bfloat16, got {cfg.dtype!r}")
        need(cfg.compile in ('auto', 'on', 'off'),
             f"compile must be auto, on or off, got {cfg.compile!r}")
        need(cfg.fused_adamw in ('auto', 'on', 'off'),
             f"fused_adamw must be auto, on or off, got {cfg.fused_adamw!r}")
        need(cfg.baseline_lr >= 0,
             f"baseline_lr must be positive, or 0 for level 1's lr; got {cfg.baseline_lr}")
        need(0 <= cfg.baseline_decay < 1, f"baseline_decay must lie in [0, 1) (0: cosine decay "
                                          f"over every step after the warmup), got "
                                          f"{cfg.baseline_decay}")
        need(0 <= cfg.dropout < 1, f"dropout must lie in [0, 1), got {cfg.dropout}")
        for name in ('n_layer', 'n_head', 'n_embd', 'block_size', 'patch_size', 'batch_tokens',
                     'vocab_multiple', 'eval_interval', 'eval_iters', 'checkpoint_interval'):
            need(getattr(cfg, name) >= 1, f"{name} must be at least 1, got {getattr(cfg, name)}")
        need(cfg.n_embd % cfg.n_head == 0,
             f"n_embd={cfg.n_embd} must be a multiple of n_head={cfg.n_head}")
        # the plan's stages and changes, and the shapes of the levels
        level_configs(cfg, MODELS[cfg.model].CONFIG(n_layer=cfg.n_layer, n_head=cfg.n_head,
                                                    n_embd=cfg.n_embd))
    except ValueError as e:
        raise ConfigError(str(e)) from None


def imported_model_config(cfg):
    """The model config of the Hugging Face folder cfg.init_from (None when not starting from one),
    checked against what cfg asks for, with cfg's block_size and dropout."""
    if cfg.init_from in STARTS:
        return None
    kind, imported = hf.folder_config(cfg.init_from, cfg.block_size, cfg.dropout,
                                      cfg.vocab_multiple)
    asked = dict(model=cfg.model, n_layer=cfg.n_layer, n_head=cfg.n_head, n_embd=cfg.n_embd)
    held = dict(model=kind, n_layer=imported.n_layer, n_head=imported.n_head,
                n_embd=imported.n_embd)
    if kind == 'vit':
        asked['patch_size'], held['patch_size'] = cfg.patch_size, imported.patch_size
    if asked != held:
        raise ConfigError(f"init_from={cfg.init_from} holds a different model than asked: pass "
                          + ' '.join(f'--{k}={v}' for k, v in held.items()))
    return imported


def model_config_of(cfg, meta, world=1):
    """(M_1's model config, sequences per step) for cfg on a dataset with this metadata: a new one,
    or init_from's; checks that the data suits the model and the batch splits as asked."""
    config_cls = MODELS[cfg.model].CONFIG
    shape = dict(n_layer=cfg.n_layer, n_head=cfg.n_head, n_embd=cfg.n_embd, dropout=cfg.dropout)
    imported = imported_model_config(cfg)
    if cfg.model == 'vit':
        if 'n_classes' not in meta:
            raise DataError(f"dataset {cfg.dataset} is not an image dataset; ViT needs one such as "
                            f"synthetic_images")
        if meta['image_size'] % cfg.patch_size:
            raise ConfigError(f"patch_size={cfg.patch_size} does not divide the image size "
                              f"{meta['image_size']}")
        model_config = config_cls(image_size=meta['image_size'], patch_size=cfg.patch_size,
                                  in_channels=meta['in_channels'], n_classes=meta['n_classes'],
                                  **shape)
        images = lambda c: (c.image_size, c.in_channels, c.n_classes)  # noqa: E731
        if imported is not None and images(imported) != images(model_config):
            raise DataError(f"dataset {cfg.dataset} has {meta['image_size']}-pixel images, "
                            f"{meta['in_channels']} channels, {meta['n_classes']} classes; "
                            f"init_from's ViT takes {imported.image_size}, {imported.in_channels}, "
                            f"{imported.n_classes}")
        seq_len = (meta['image_size'] // cfg.patch_size) ** 2 + 1
    else:
        if 'vocab_size' not in meta:
            raise DataError(f"dataset {cfg.dataset} is not a text dataset; {cfg.model} needs one "
                            f"such as stdlib")
        vocab = meta['vocab_size'] + (1 if cfg.model == 'bert' else 0)  # BERT adds a [MASK] token
        model_config = config_cls(block_size=cfg.block_size, vocab_size=vocab,
                                  vocab_multiple=cfg.vocab_multiple, **shape)
        if imported is not None and imported.vocab_size < vocab:
            raise DataError(f"dataset {cfg.dataset} has {vocab} token ids, more than init_from's "
                            f"vocabulary of {imported.vocab_size}")
        seq_len = cfg.block_size
    if cfg.batch_tokens % seq_len:
        raise ConfigError(f"batch_tokens={cfg.batch_tokens} is not a multiple of the sequence "
                          f"length {seq_len}: use a multiple such as "
                          f"{seq_len * max(1, cfg.batch_tokens // seq_len)}")
    rows = cfg.batch_tokens // seq_len
    for micro_batch in cfg.micro_batch:
        if rows % (micro_batch * world):
            raise ConfigError(f"a step of {rows} sequences does not split into micro-batches of "
                              f"{micro_batch} on {world} rank(s): make batch_tokens / {seq_len} a "
                              f"multiple of micro_batch x world size = {micro_batch * world}")
    return imported or model_config, rows


def build_data_and_model(cfg, env):
    """The batches and a freshly initialized M_1; checks that the data suits the model."""
    folder = dataset_folder(cfg.dataset)
    meta = read_meta(folder)
    model_config, rows = model_config_of(cfg, meta, env.world)
    pin = env.device.startswith('cuda')  # page-locked batches copy to the GPU without waiting
    if cfg.model == 'vit':
        batches = ImageBatches(folder, rows, cfg.seed, pin)
    else:
        mask_token_id = model_config.vocab_size - 1 if cfg.model == 'bert' else None
        batches = TextBatches(folder, cfg.block_size, rows, cfg.seed, pin, mask_token_id)
    torch.manual_seed(cfg.seed)
    if cfg.init_from in STARTS:
        model = MODELS[cfg.model](model_config)
    else:
        model = hf.import_hf(cfg.init_from, block_size=cfg.block_size, dropout=cfg.dropout,
                             vocab_multiple=cfg.vocab_multiple).train()
    return batches, model.to(env.device)


def load_resume_state(cfg):
    path = Path(cfg.out_dir) / 'ckpt.pt'
    if not path.exists():
        raise ConfigError(f"nothing to resume: {path} does not exist (drop --resume to start a new "
                          f"run)")
    state = checkpoint.load(path)
    saved = {**asdict(Config()), **state['config']}  # a setting added since the run: its default
    differ = [k for k, v in asdict(cfg).items() if k not in RESUMABLE_CHANGES and saved.get(k) != v]
    if differ:
        k = differ[0]
        raise ConfigError(f"{path} belongs to a different run: {k}={saved.get(k)!r} there, "
                          f"{getattr(cfg, k)!r} now ({len(differ)} setting(s) differ: "
                          f"{', '.join(differ)}); resume with the same config or use another "
                          f"out_dir")
    return state


def check_out_dir(cfg):
    out = Path(cfg.out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"out_dir {out} exists and is not a folder")
    if cfg.init_from not in ('resume', 'auto') and (out / 'ckpt.pt').exists() and not cfg.overwrite:
        raise ConfigError(f"{out} holds another run's checkpoint: pass --resume to continue it, "
                          f"--overwrite to replace it, or choose another --out_dir")


def setup_env(cfg):
    """Where cfg's run executes (step.Env.here), or a one-line ConfigError saying why not."""
    restarts = int(os.environ.get('TORCHELASTIC_MAX_RESTARTS', 0))
    if restarts and os.environ.get('TORCHELASTIC_USE_AGENT_STORE') == 'True':
        raise ConfigError("torchrun --max-restarts needs TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1 in "
                          "its environment and --rdzv-backend=c10d (or --standalone): in the "
                          "store torchrun shares, a restarted rank can read the old ranks' "
                          "addresses and hang (pytorch/pytorch#135712)")
    try:
        return Env.here(cfg.device, cfg.dtype, cfg.compile)
    except ValueError as e:
        raise ConfigError(str(e)) from None


def checked_request(cfg, plan=False):
    """Everything about cfg that can be checked before any work: the settings, the device, out_dir
    and the checkpoint to resume (not for a plan, which never depends on them) and the data (a
    dataset not yet prepared is described by its prepare.py). Returns (env, M_1's model config,
    the resume state or None)."""
    check_config(cfg)
    env = setup_env(cfg)
    if plan:
        return env, model_config_of(cfg, planned_meta(cfg.dataset), env.world)[0], None
    check_out_dir(cfg)
    # 'auto' resumes where this run's checkpoint exists: a restarted worker (torchrun
    # --max-restarts) rejoins where the run stopped
    resuming = cfg.init_from == 'resume' or (cfg.init_from == 'auto'
                                             and (Path(cfg.out_dir) / 'ckpt.pt').exists())
    resume = load_resume_state(cfg) if resuming else None
    return env, model_config_of(cfg, planned_meta(cfg.dataset), env.world)[0], resume


def run(cfg):
    """Train as cfg says. Everything is checked before any work starts; only then are out_dir and
    DDP touched. Returns the finished VCycle (its .model is M_1)."""
    env, _, resume = checked_request(cfg)
    prepare_builtin(cfg.dataset)
    batches, model = build_data_and_model(cfg, env)
    if env.ddp:
        torch.distributed.init_process_group('nccl' if env.device.startswith('cuda') else 'gloo')
        if env.device.startswith('cuda'):
            torch.cuda.set_device(env.device)
    out = Path(cfg.out_dir)
    if env.master and resume is None:  # a new run: no other run's checkpoint or orphaned log
        for name in ('ckpt.pt', 'log.jsonl'):
            (out / name).unlink(missing_ok=True)
        out.mkdir(parents=True, exist_ok=True)
        (out / 'config.json').write_text(json.dumps(asdict(cfg), indent=2) + '\n')
    if env.ddp:
        torch.distributed.barrier()
    torch.set_float32_matmul_precision('high')
    for warning in warmup_warnings(cfg) if env.master else ():
        print(warning)
    cycle = VCycle(cfg, model, batches, env, resume=resume)
    if resume is not None and env.master:
        p, stage = cycle.progress, cycle.stages[cycle.progress.stage]
        print(f"{out} is finished: nothing to train" if cycle.finished else
              f"resuming {out} at level {stage.level} {stage.phase} step {p.step} (iteration "
              f"{p.iter} of {total_steps(cfg)})")
    together = False  # whether every rank ended the run at the same point
    try:
        cycle.run()
        together = True
    except Interrupted:
        together = True
        raise
    except checkpoint.CheckpointError as e:
        raise commandline.RunStopped(str(e)) from e
    finally:
        if env.ddp:
            if together:  # no rank leaves while another still reads its last message
                torch.distributed.barrier()
            torch.distributed.destroy_process_group()
    return cycle


FLAGS = {'--resume': 'continue the run in out_dir exactly where it stopped (--init_from=resume)',
         '--baseline': "train what the recipe is judged against instead (baseline.py): M_1 "
                       "alone on as many tokens at the recipe's baseline_lr, with its own warmup, "
                       "decaying over the last baseline_decay of its steps, in <out_dir>-baseline",
         '--plan': "print each stage's level, shape, steps, tokens, lr and FLOPs, and the total "
                   "against plain training of M_1; checks the request, trains nothing, writes "
                   "nothing",
         '--help, -h': 'this text'}


def main(argv):
    """Train as argv asks (with --baseline, the recipe's baseline), or with --plan print what a run
    would train; a finished run ends with a summary and the commands to run next."""
    flags = {a for a in argv if a in ('--plan', '--baseline')}
    cfg = parse_args([a for a in argv if a not in flags])
    if '--baseline' in flags:
        cfg = baseline_of(cfg, total_steps(cfg), f'{cfg.out_dir}-baseline')
    if '--plan' in flags:
        print('\n'.join([plan_table(cfg, checked_request(cfg, plan=True)[1])]
                        + warmup_warnings(cfg)))
        return None
    cycle = run(cfg)
    if cycle.env.master:
        print(summary(cycle, [a for a in argv if a != '--baseline'], '--baseline' in flags))
    return cycle


def summary(cycle, argv, baseline):
    """What the finished run reached and cost, the files it wrote, and what to run next."""
    cfg, p, out = cycle.cfg, cycle.progress, Path(cycle.cfg.out_dir)
    last = json.loads((out / 'log.jsonl').read_text().splitlines()[-1])
    costs, plain = stage_costs(cfg, cycle.model.config)
    share = sum(flops for *_, flops in costs) / plain
    what = f"a {cfg.levels}-level V-cycle" if cfg.levels > 1 else 'plain training'
    c = cycle.model.config
    if baseline:
        v_cycle, plain_run = Path(str(out)[:-len('-baseline')]), out
    else:
        v_cycle, plain_run = out, Path(f'{out}-baseline')
    files = ', '.join(str(f) for f in sorted(out.iterdir()) if not f.name.startswith('.'))
    lines = [f"finished: {what} of a {cfg.model.upper()} {c.n_layer} x {c.n_embd}; final "
             f"validation loss {last['val_loss']:.4f} (train {last['train_loss']:.4f})",
             f"cost: {p.flops:.3e} FLOPs, {share:.3f} of plain training on the same "
             f"{p.iter * cfg.batch_tokens:,} tokens; {p.time_s:.0f} s of training",
             f"wrote: {files}",
             "next:"]
    if not baseline and cfg.levels > 1:
        # a resumed run may have been given only its out_dir: its config.json holds the settings
        given = [str(out / 'config.json')] if cfg.init_from == 'resume' else argv
        command = shlex.join(['python', 'train.py', *given, '--baseline'])
        lines.append(f"  {command}   # M_1 alone on the same tokens at {baseline_name(cfg)}, in "
                     f"{plain_run}")
    lines.append(f"  python plot.py {v_cycle} {plain_run}   # validation loss against FLOPs and "
                 f"wall time")
    if cfg.model == 'gpt':
        lines.append(f"  python sample.py --out_dir={out}   # text from the trained model")
    return '\n'.join(lines)


def cli(argv):
    help = commandline.help_text(__doc__, FLAGS, commandline.settings_help(Config))
    return commandline.command(argv, main, help)


def exit_process(status):
    """End the process with `status`. A DDP rank ends at once, without Python's shutdown: DDP
    keeps a reference to its process group that it never gives back (torch 2.13), so gloo's
    threads outlive destroy_process_group, and one that lets go of a collective's tensor while
    the interpreter shuts down aborts the process (once in about 50 two-rank runs on a busy CPU)."""
    if int(os.environ.get('WORLD_SIZE', 1)) > 1:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    sys.exit(status)


if __name__ == '__main__':
    exit_process(cli(sys.argv[1:]))
