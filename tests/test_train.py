"""End-to-end runs of train.py: k = 1, 2, 3 levels, gradient accumulation, DDP, config parsing."""
import itertools
import os
import subprocess
import sys
from dataclasses import asdict, replace

import numpy as np
import pytest
import torch

import train
from conftest import ROOT, max_abs_diff, read_log, share_differing, tiny_args, weights
from data import write_meta
from model import GPT, GPTConfig
from schedule import plan_stages
from step import accumulate_gradients
from vcycle import LOG_FIELDS, PAIR_FIELD


@pytest.mark.parametrize('levels', [1, 2, 3])
def test_end_to_end(tiny_corpus, tmp_path, levels):
    per_level = {1: dict(up_steps=16, lr=3e-3), 2: dict(up_steps='10,12', lr='3e-3,6e-3'),
                 3: dict(up_steps='6,6,12', lr='3e-3,5e-3,8e-3', alpha='0.5,0.25')}[levels]
    train.main(tiny_args(tiny_corpus, tmp_path, levels=levels, **per_level))
    log = read_log(tmp_path)
    assert all(set(r) == set(LOG_FIELDS) | ({PAIR_FIELD} if r['phase'] == 'up' else set())
               for r in log)
    assert all(torch.isfinite(torch.tensor([r['train_loss'], r['val_loss']])).all() for r in log)
    assert log[-1]['val_loss'] < log[0]['val_loss'] - 0.5
    phases = [(r['level'], r['phase']) for r in log]
    expected = [(l, 'down') for l in range(1, levels)] + [(levels, 'bottom')] + \
               [(l, 'up') for l in range(levels - 1, 0, -1)]
    assert list(dict.fromkeys(phases)) == expected
    # FLOPs add up to the analytic total: steps x FLOPs per token of that level x tokens per step
    cfg = train.parse_args(tiny_args(tiny_corpus, tmp_path, levels=levels, **per_level))
    total = 0
    for stage in plan_stages(cfg):
        shrink = 2 ** (stage.level - 1)
        m = GPT(GPTConfig(block_size=32, vocab_size=256, n_layer=4 // shrink, n_head=4 // shrink,
                          n_embd=32 // shrink))
        total += stage.steps * m.flops_per_token() * cfg.batch_tokens
    assert log[-1]['flops'] == total
    assert log[-1]['tokens'] == sum(s.steps for s in plan_stages(cfg)) * 256
    for level in range(1, levels + 1):
        assert (tmp_path / f'model_level{level}.pt').exists()


def brightest_quadrant_images(folder, n_train=2000, n_val=256):
    """An image dataset a tiny ViT learns in a few dozen steps (the built-in one takes hundreds at
    4 x 128): the class, of 4, is the quadrant made brighter."""
    rng = np.random.default_rng(0)
    for split, n in (('train', n_train), ('val', n_val)):
        y = rng.integers(4, size=n)
        x = rng.normal(128, 30, (n, 3, 16, 16))
        for q in range(4):
            x[y == q, :, 8 * (q // 2):8 * (q // 2) + 8, 8 * (q % 2):8 * (q % 2) + 8] += 40
        np.savez(folder / f'{split}.npz', x=np.clip(x, 0, 255).astype(np.uint8), y=y)
    write_meta(folder, n_classes=4, image_size=16, in_channels=3)
    return folder


def test_bert_and_vit_train(tiny_corpus, tmp_path):
    train.main(tiny_args(tiny_corpus, tmp_path / 'bert', model='bert', up_steps='10,10'))
    log = read_log(tmp_path / 'bert')
    assert log[-1]['val_loss'] < log[0]['val_loss'] - 0.5
    images = brightest_quadrant_images(tmp_path)
    train.main(tiny_args(images, tmp_path / 'vit', model='vit', n_layer=2, n_head=2, n_embd=64,
                         batch_tokens=17 * 64, micro_batch=32, down_steps=10, up_steps='40,40',
                         lr='2e-3,4e-3'))
    log = read_log(tmp_path / 'vit')
    # from ln(4) and chance, 0.25
    assert log[-1]['val_loss'] < log[0]['val_loss'] - 0.5 and log[-1]['val_acc'] > 0.8


def test_gradient_accumulation_matches_one_big_batch(tiny_corpus, tmp_path):
    """The gradient of 4 accumulated micro-batches of 2 rows equals that of one batch of 8 rows."""
    grads, losses = [], []
    for micro_batch in (8, 2):
        cfg = train.parse_args(tiny_args(tiny_corpus, tmp_path / str(micro_batch),
                                         micro_batch=micro_batch))
        env = train.setup_env(cfg)
        batches, model = train.build_data_and_model(cfg, env)
        assert batches.batch_rows // micro_batch == 8 // micro_batch
        # any iteration: its global batch is fixed
        losses.append(accumulate_gradients(model, batches, 3, micro_batch, env).item())
        grads.append({k: p.grad for k, p in model.named_parameters()})
    assert abs(losses[0] - losses[1]) <= 1e-6
    assert max_abs_diff(*grads) <= 1e-6
    assert max(g.abs().max().item() for g in grads[0].values()) > 1e-2  # real gradients, not zeros
    # and whole runs through both level changes agree. Micro-batches of other shapes round
    # differently (about 1e-7 of a gradient), and where a gradient element is itself about that
    # small, Adam's g / sqrt(v) turns the rounding into a difference of a good part of a step (one
    # element of 60,096 moved 3.6e-6, the next 7e-9, at lr 1e-4). A wrong accumulation moves
    # nearly every element by about a step, so: all but 1 in 1,000 elements agree to 1e-6.
    for micro_batch in ('8', '2', '8,2'):  # the last: each level its own micro-batch
        train.main(tiny_args(tiny_corpus, tmp_path / f'run{micro_batch}', micro_batch=micro_batch,
                             down_steps=2, up_steps='2,2', lr='1e-4,2e-4'))
    for level, other in itertools.product((1, 2), ('2', '8,2')):
        one_batch, accumulated = (weights(tmp_path / f'run{micro_batch}/model_level{level}.pt')
                                  for micro_batch in ('8', other))
        assert share_differing(one_batch, accumulated, 1e-6) <= 1e-3


def test_ddp_two_processes_match_one(tiny_corpus, tmp_path):
    # One process: 2 micro-batches of 4, single-threaded like each rank, so that every micro-batch
    # gradient is computed by the same kernels; halving is exact, so (g0 + g1) / 2 == g0/2 + g1/2.
    short = dict(micro_batch=4, down_steps=2, up_steps='2,2', lr='3e-4,6e-4')
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train.main(tiny_args(tiny_corpus, tmp_path / 'single', **short))
    finally:
        torch.set_num_threads(threads)
    ddp_args = tiny_args(tiny_corpus, tmp_path / 'ddp', **short)  # each rank: 1 micro-batch of 4
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    result = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--standalone',
                             '--nproc_per_node=2', str(ROOT / 'train.py'), *ddp_args], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    for level in (1, 2):
        a = weights(tmp_path / f'single/model_level{level}.pt')
        b = weights(tmp_path / f'ddp/model_level{level}.pt')
        print(f'level {level}: max |DDP - single| = {max_abs_diff(a, b):.1e}')
        assert max_abs_diff(a, b) <= 1e-6
    single, ddp = read_log(tmp_path / 'single'), read_log(tmp_path / 'ddp')
    assert [r['iter'] for r in single] == [r['iter'] for r in ddp]
    assert max(abs(a['val_loss'] - b['val_loss']) for a, b in zip(single, ddp)) < 1e-5


def test_the_default_run_is_the_cpu_benchs_cycle():
    """The README quotes the CPU bench's savings for the default run: the two train the same cycle
    and differ only in where they write, how often they evaluate and checkpoint. The bench's
    baseline has its own swept lr (3.9e-3 under warmup-stable-decay; --baseline takes M_1's 5.6e-3,
    a close second), and the same schedule."""
    bench_cpu, default = train.parse_args([str(ROOT / 'config/bench_cpu.py')]), train.parse_args([])
    assert (default.baseline_lr, bench_cpu.baseline_lr) == (0.0, 3.9e-3)
    assert default.baseline_decay == bench_cpu.baseline_decay
    logistics = dict(out_dir='out', eval_interval=100, checkpoint_interval=250,
                     baseline_lr=default.baseline_lr)
    assert asdict(replace(bench_cpu, **logistics)) == asdict(default)


@pytest.mark.parametrize('name', [p.stem for p in sorted((ROOT / 'config').glob('*.py'))])
def test_every_recipe_parses_and_checks(name):
    cfg = train.parse_args([str(ROOT / f'config/{name}.py')])
    train.check_config(cfg)
    assert len(cfg.lr) == cfg.levels and len(cfg.alpha) == cfg.levels - 1


def test_parsing(tmp_path):
    cfg = train.parse_args(['--levels=3', '--lr=1e-3', '--up_steps=(10,20,30)', '--alpha=1',
                            '--dropout=0', '--depth_pairing=adjacent', '--coalesce_depth=False',
                            '--resume', f'--out_dir={tmp_path}'])  # not ./out, which may hold a run
    assert cfg.lr == (1e-3,) * 3 and cfg.up_steps == (10, 20, 30) and cfg.alpha == (1.0, 1.0)
    assert cfg.down_steps == (100, 100) and cfg.dropout == 0.0 and isinstance(cfg.dropout, float)
    assert cfg.depth_pairing == ('adjacent',) * 2 and cfg.coalesce_depth == (False,) * 2
    assert cfg.init_from == 'resume'
    assert train.parse_args(['--levels=1', '--up_steps=10']).alpha == ()
    assert train.parse_args(['--overwrite']).overwrite


@pytest.mark.parametrize('argv, message', [
    (['--n_layers=4'], "unknown key 'n_layers'"),
    (['--n_layer=4.5'], 'n_layer must be int'),
    (['--lr=fast'], 'lr must be float'),
    (['--coalesce_width=1'], 'coalesce_width must be bool'),
    (['--coalesce_width=True,1'], 'coalesce_width must be bool'),
    (['--levels=3', '--up_steps=1,2,3', '--lr=1e-3,2e-3'], 'lr has 2 values for 3 levels'),
    (['no_such_config.py'], 'config file no_such_config.py not found'),
])
def test_parse_errors(argv, message):
    with pytest.raises(train.ConfigError, match=message):
        train.parse_args(argv)


def test_learning_rate_schedule():
    cfg = train.parse_args(['--levels=2', '--down_steps=10', '--up_steps=20,30', '--warmup=5',
                            '--transition_warmup=4', '--lr=1e-3,2e-3', '--min_lr_frac=0.1'])
    down, bottom, up = plan_stages(cfg)
    assert (down.level, down.phase, down.steps, down.warmup) == (1, 'down', 10, 5)
    assert (bottom.level, bottom.phase, bottom.steps, bottom.warmup) == (2, 'bottom', 30, 4)
    assert bottom.peak_lr == 2e-3
    assert (up.level, up.phase, up.steps, up.warmup) == (1, 'up', 20, 4)
    assert down.lr_at(0) == pytest.approx(2e-4) and down.lr_at(9) == 1e-3  # no decay going down
    assert up.lr_at(3) == pytest.approx(1e-3) and up.lr_at(4) == pytest.approx(1e-3)
    assert up.lr_at(20) == pytest.approx(1e-4)  # decayed to min_lr_frac at the end
    assert bottom.lr_at(29) == 2e-3  # only the last stage decays
    every = plan_stages(train.parse_args(['--levels=3', '--decay_every_stage', '--lr=1e-3']))
    assert [s.decay for s in every] == [False, False, True, True, True]
    def decays(*argv):
        return [s.decay for s in plan_stages(train.parse_args(list(argv)))]
    assert decays('--levels=3', '--lr=1e-3') == [False] * 4 + [True]
    assert decays('--levels=1', '--up_steps=5') == [True]


def test_uneven_splits_in_a_run(tiny_corpus, tmp_path):
    """With width-only growth and alpha = 1, the grown model computes what M_2 did, split evenly or
    not; the uneven split then trains differently."""
    finals = {}
    for name, split in (('even', {}), ('uneven', dict(split_skew=0.2, split_noise=0.3))):
        train.main(tiny_args(tiny_corpus, tmp_path / name, coalesce_depth=False, alpha=1.0,
                             **split))
        log = read_log(tmp_path / name)
        last_bottom = [r for r in log if r['phase'] == 'bottom'][-1]
        first_up = next(r for r in log if r['phase'] == 'up')
        assert first_up['val_loss'] == pytest.approx(last_bottom['val_loss'], abs=1e-5)
        finals[name] = weights(tmp_path / name / 'model_level1.pt')
    assert max_abs_diff(finals['even'], finals['uneven']) > 1e-3
