"""Bad input: a one-line message, exit status 2, no traceback, and nothing in out_dir touched.
A non-finite loss or a failing write stops the run and keeps the last good checkpoint."""
import errno
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

import checkpoint
import step
import train
import vcycle
from conftest import ROOT, tiny_args
from data import write_meta, write_tokens


def snapshot(folder):
    """Every file under folder with its size, modification time and bytes (None if absent)."""
    folder = Path(folder)
    if not folder.exists():
        return None
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns, p.read_bytes())
            for p in sorted(folder.rglob('*')) if p.is_file()}


@pytest.fixture(scope='module')
def finished_run(tiny_corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp('finished')
    assert train.cli(tiny_args(tiny_corpus, out, down_steps=2, up_steps='2,2')) == 0
    return out


def make_dataset(folder, train_ids, val_ids, vocab_size=256, raw_train=None):
    folder.mkdir()
    write_tokens(folder / 'val.bin', val_ids)
    if raw_train is None:
        write_tokens(folder / 'train.bin', train_ids)
    else:
        (folder / 'train.bin').write_bytes(raw_train)
    write_meta(folder, vocab_size=vocab_size)
    return folder


def bad_dataset(kind, root):
    ok = np.arange(5000) % 200
    if kind == 'short':
        return make_dataset(root / kind, ok, ok[:20])
    if kind == 'odd_bytes':
        odd = np.asarray(ok, np.uint16).tobytes() + b'\x07'
        return make_dataset(root / kind, None, ok, raw_train=odd)
    if kind == 'big_ids':
        return make_dataset(root / kind, ok, ok, vocab_size=150)
    if kind == 'images_for_gpt':
        from data.synthetic_images.prepare import prepare
        (root / kind).mkdir()
        prepare(root / kind, n_train=50, n_val=10)
        return root / kind


CASES = {
    'odd n_layer for the levels': (dict(n_layer=3), 'levels=2 needs level 2 = level 1 halved'),
    'odd n_head for the levels': (dict(n_head=3, n_embd=24), 'n_head=3 is odd'),
    'too many levels for the depth': (
        dict(levels=3, up_steps='2,2,2', lr=1e-3, n_layer=2, n_head=8),
        'level 3 = level 2 halved (1 layer, 4 heads, n_embd 16): depth coalescing needs at least 2 '
        'layers: pass coalesce_depth=False'),
    'a setting without its value': (dict(levels=None),
                                    '--levels needs a value: write --levels=VALUE'),
    'n_embd not a multiple of n_head': (dict(n_embd=30),
                                        'n_embd=30 must be a multiple of n_head=4'),
    'batch not a multiple of block_size': (dict(batch_tokens=250),
                                           'batch_tokens=250 is not a multiple'),
    'batch not split by micro_batch': (dict(micro_batch=3),
                                       'does not split into micro-batches of 3'),
    'block_size longer than the data': (dict(block_size=100_000, batch_tokens=100_000,
                                             micro_batch=1),
                                        'too few for block_size 100000'),
    'unknown key': (dict(n_layers=4), "unknown key 'n_layers'"),
    'wrong type': (dict(n_layer=2.5), 'n_layer must be int'),
    'wrong type in a tuple': (dict(up_steps='4,x'), 'up_steps must be int'),
    'tuple of the wrong length': (dict(alpha='0.5,0.5'), 'alpha has 2 values for 2 levels'),
    'alpha outside [0, 1]': (dict(alpha=1.5), 'alpha must lie in [0, 1]'),
    "the baseline's decay over all its steps": (dict(baseline_decay=1.0),
                                                'baseline_decay must lie in [0, 1)'),
    'unknown model': (dict(model='resnet'), 'model must be one of gpt, bert, vit'),
    'unknown depth pairing': (dict(depth_pairing='zigzag'), 'depth_pairing must be one of'),
    'not a device': (dict(device='warp9'), "device 'warp9' is not a device name"),
    'a device not here': (dict(device='cuda:7' if torch.cuda.is_available() else 'mps'),
                          'is not available on this machine or in this PyTorch build'),
    'missing dataset': (dict(dataset='/no/such/dataset'), "dataset '/no/such/dataset' not found"),
    'no steps': (dict(up_steps='0,3'), 'every entry of up_steps must be >= 1'),
    'negative steps': (dict(down_steps=-1), 'every entry of down_steps must be >= 0'),
    'unknown small init': (dict(small_init='random'),
                           "small_init must be one of ('coalesce', 'own')"),
    'unknown compile mode': (dict(compile_mode='fastest'), 'compile_mode must be one of'),
    'micro-batch of a level': (dict(micro_batch='4,3'), 'does not split into micro-batches of 3'),
}


@pytest.mark.parametrize('case', CASES)
def test_bad_config(case, tiny_corpus, tmp_path, capsys):
    overrides, message = CASES[case]
    out = tmp_path / 'out'
    assert train.cli(tiny_args(tiny_corpus, out, **overrides)) == 2
    err = capsys.readouterr().err
    assert err.startswith('error: ') and err.count('\n') == 1 and message in err, err
    assert snapshot(out) is None  # out_dir not even created


@pytest.mark.parametrize('extra, message', [
    (['--levels', '3'], '--levels needs a value: write --levels=3 (settings are --key=value)'),
    (['levels=3'], "unexpected argument 'levels=3': did you mean --levels=3?"),
    (['--n_layers=4'], "unknown key 'n_layers' in --n_layers=4; did you mean n_layer?"),
    (['--lrr=1e-3'], "unknown key 'lrr' in --lrr=1e-3; did you mean lr?"),
    (['--LR=1e-3'], "unknown key 'LR' in --LR=1e-3; did you mean lr?"),
    (['--n-layer=2'], "unknown key 'n-layer' in --n-layer=2; did you mean n_layer?"),
    ([str(ROOT / 'config/bert')], "config file {root}/config/bert not found (did you mean "
                                  "{root}/config/bert.py?)"),
])
def test_mistyped_settings_get_a_hint(extra, message, tiny_corpus, tmp_path, capsys):
    assert train.cli(extra + tiny_args(tiny_corpus, tmp_path / 'out')) == 2
    message = message.format(root=ROOT)
    err = capsys.readouterr().err
    assert err.startswith('error: ') and err.count('\n') == 1 and message in err, err
    assert snapshot(tmp_path / 'out') is None


@pytest.mark.parametrize('args, message', [
    (['--temperature=-1'], 'temperature must be >= 0'), (['--top_k=0'], 'top_k must be at least 1'),
    (['--num_samples=0'], 'num_samples must be at least 1'),
    (['--level=0'], 'level must be at least 1'),
    (['--temprature=1'], "unknown key 'temprature' in --temprature=1; did you mean temperature?"),
    (['--start='], 'start is empty: give the text to continue'),
    (['--device=mps' if not torch.backends.mps.is_available() else '--device=cuda:9'],
     'is not available on this machine or in this PyTorch build'),
])
def test_impossible_sampling_is_refused(args, message, tmp_path, capsys):
    import sample
    assert sample.cli(args + [f'--out_dir={tmp_path}']) == 2
    err = capsys.readouterr().err
    assert err.startswith('error: ') and err.count('\n') == 1 and message in err, err


@pytest.mark.parametrize('kind, message', [
    ('short', 'holds 20 tokens, too few for block_size 32'),
    ('odd_bytes', 'not a whole number of uint16 tokens'),
    ('big_ids', 'holds token id 199, not below its vocab_size 150'),
    ('images_for_gpt', 'is not a text dataset'),
])
def test_bad_dataset(kind, message, tmp_path, capsys):
    folder = bad_dataset(kind, tmp_path)
    before = snapshot(folder)
    assert train.cli(tiny_args(folder, tmp_path / 'out')) == 2
    err = capsys.readouterr().err
    assert err.startswith('error: ') and err.count('\n') == 1 and message in err, err
    # the dataset is untouched too
    assert snapshot(tmp_path / 'out') is None and snapshot(folder) == before


def test_batch_not_divisible_across_world_size(tiny_corpus, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv('WORLD_SIZE', '3')  # checked before any process group is created
    assert train.cli(tiny_args(tiny_corpus, tmp_path / 'out')) == 2
    assert 'micro_batch x world size = 12' in capsys.readouterr().err
    assert snapshot(tmp_path / 'out') is None


@pytest.mark.parametrize('args, message', [
    (['--n_embd=64'], 'belongs to a different run: n_embd=32 there, 64 now'),
    (['--model=bert'], "belongs to a different run: model='gpt' there, 'bert' now"),
    (['--lr=1e-3'], 'belongs to a different run: lr='),
])
def test_resume_from_a_different_run(finished_run, tiny_corpus, args, message, capsys):
    before = snapshot(finished_run)
    same = tiny_args(tiny_corpus, finished_run, down_steps=2, up_steps='2,2')
    assert train.cli(same + args + ['--resume']) == 2
    assert message in capsys.readouterr().err
    assert snapshot(finished_run) == before


def test_out_dir_of_another_run_needs_overwrite(finished_run, tiny_corpus, tmp_path, capsys):
    before = snapshot(finished_run)
    assert train.cli(tiny_args(tiny_corpus, finished_run, n_layer=2)) == 2
    err = capsys.readouterr().err
    assert "holds another run's checkpoint: pass --resume to continue it, --overwrite" in err
    assert snapshot(finished_run) == before
    copy = tmp_path / 'copy'
    copy.mkdir()
    for name, (_, _, data) in before.items():
        (copy / name).write_bytes(data)
    other = tiny_args(tiny_corpus, copy, n_layer=2, down_steps=2, up_steps='2,2')
    assert train.cli(other + ['--overwrite']) == 0
    assert checkpoint.load(copy / 'ckpt.pt')['config']['n_layer'] == 2


def test_resume_without_a_checkpoint(tiny_corpus, tmp_path, capsys):
    assert train.cli(tiny_args(tiny_corpus, tmp_path / 'out') + ['--resume']) == 2
    assert 'nothing to resume' in capsys.readouterr().err


class CreatesAFileWhenUnpickled:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, 'w'))


def test_checkpoint_with_pickled_code_is_refused_unexecuted(tiny_corpus, tmp_path, capsys):
    out, marker = tmp_path / 'out', tmp_path / 'pwned'
    out.mkdir()
    torch.save({'config': {}, 'payload': CreatesAFileWhenUnpickled(str(marker))}, out / 'ckpt.pt')
    before = snapshot(out)
    assert train.cli(tiny_args(tiny_corpus, out) + ['--resume']) == 2
    err = capsys.readouterr().err
    assert 'holds objects other than tensors and plain data, refused unexecuted' in err
    assert err.count('\n') == 1
    assert not marker.exists() and snapshot(out) == before


def test_corrupt_checkpoint_is_refused(finished_run, tiny_corpus, tmp_path, capsys):
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'ckpt.pt').write_bytes((finished_run / 'ckpt.pt').read_bytes()[:5000])  # truncated
    assert train.cli(tiny_args(tiny_corpus, out, down_steps=2, up_steps='2,2') + ['--resume']) == 2
    assert 'is not a readable checkpoint' in capsys.readouterr().err


def test_command_line_exit_status_and_no_traceback(tiny_corpus, tmp_path):
    args = tiny_args(tiny_corpus, tmp_path / 'o', n_layer=3)
    result = subprocess.run([sys.executable, str(ROOT / 'train.py'), *args],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and 'Traceback' not in result.stderr
    assert result.stderr.startswith('error: levels=2 needs level 2')
    assert result.stderr.count('\n') == 1


@pytest.mark.parametrize('fused_adamw', ['on', 'off'])
def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tiny_corpus, tmp_path,
                                                                  monkeypatch, capsys, fused_adamw):
    original = step.accumulate_gradients

    def nan_at_iteration_12(runner, batches, iteration, *args):
        loss = original(runner, batches, iteration, *args)
        return torch.full_like(loss, float('nan')) if iteration == 12 else loss
    monkeypatch.setattr(step, 'accumulate_gradients', nan_at_iteration_12)
    out = tmp_path / 'out'
    assert train.cli(tiny_args(tiny_corpus, out, checkpoint_interval=5,
                               fused_adamw=fused_adamw)) == 1
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert last.startswith('stopped: loss is nan at level 2 (bottom) step 6 (iteration 12)')
    state = checkpoint.load(out / 'ckpt.pt')
    assert state['progress']['iter'] == 10  # the checkpoint before the bad step, untouched
    assert all(torch.isfinite(v).all() for v in state['model']['state'].values())


@pytest.mark.parametrize('fused_adamw', ['on', 'off'])
@pytest.mark.parametrize('poison', ['loss', 'gradient'])
def test_a_non_finite_step_changes_nothing(tiny_corpus, tmp_path, monkeypatch, poison,
                                           fused_adamw):
    """The weights and the optimizer's state stay bitwise as they were, and the next check stops
    the run naming the first bad iteration: the fused AdamW skips the step on the device
    (found_inf), so it is queued without waiting; without the fused kernel (MPS, XPU: forced off
    here) the host reads the verdict and skips it. A finite loss with an infinite gradient (caught
    by the clipping norm) is skipped the same way."""
    check_a_non_finite_step_changes_nothing(tiny_corpus, tmp_path, monkeypatch, poison,
                                            fused_adamw, 'cpu')


def check_a_non_finite_step_changes_nothing(tiny_corpus, tmp_path, monkeypatch, poison,
                                            fused_adamw, device):
    """The test above on `device` (tests/test_gpu.py runs it on CUDA)."""
    cfg = train.parse_args(tiny_args(tiny_corpus, tmp_path, levels=1, up_steps=8, lr=3e-3,
                                     fused_adamw=fused_adamw, device=device))
    env = train.setup_env(cfg)
    batches, model = train.build_data_and_model(cfg, env)
    cycle = vcycle.VCycle(cfg, model, batches, env)
    optimizer, watch = step.build_optimizer(model, cfg, device=env.device), cycle.watch
    assert optimizer.defaults['fused'] is (fused_adamw == 'on')

    def train_step(iteration):
        step.train_step(model, optimizer, batches, iteration, 3e-3, micro_batch=4, env=env,
                        grad_clip=1.0, watch=watch)
    for i in range(3):
        train_step(i)
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    moments = {k: {s: t.clone() for s, t in state.items()} for k, state in optimizer.state.items()}
    original = step.accumulate_gradients

    def poisoned(runner, *args):
        loss = original(runner, *args)
        if poison == 'loss':
            return torch.full_like(loss, float('inf'))
        model.wte.weight.grad[0, 0] = float('inf')
        return loss
    monkeypatch.setattr(step, 'accumulate_gradients', poisoned)
    train_step(3)
    assert all(torch.equal(weights[k], v) for k, v in model.state_dict().items())
    assert all(torch.equal(moments[p][s], t)
               for p, state in optimizer.state.items() for s, t in state.items())
    monkeypatch.undo()
    train_step(4)  # a good step after the bad one moves the weights again
    assert not all(torch.equal(weights[k], v) for k, v in model.state_dict().items())
    assert watch.first()[0] == 3  # the first bad iteration, kept on the device
    with pytest.raises(step.NonFiniteLoss, match=r'at level 1 \(bottom\) step 3 \(iteration 3\)'):
        cycle.check_finite()


def test_adamw_is_fused_where_pytorch_has_the_kernel(tiny_corpus, tmp_path):
    """fused_adamw='auto' fuses on CUDA and the CPU, not on MPS or XPU (where PyTorch's fused
    AdamW would raise), and 'on' or 'off' decide alone."""
    cfg = train.parse_args(tiny_args(tiny_corpus, tmp_path))
    model = torch.nn.Linear(2, 2)
    fused = {device: step.build_optimizer(model, cfg, device=device).defaults['fused']
             for device in ('cuda', 'cuda:1', 'cpu', 'mps', 'xpu')}
    assert fused == {'cuda': True, 'cuda:1': True, 'cpu': True, 'mps': False, 'xpu': False}
    for setting in ('on', 'off'):
        optimizer = step.build_optimizer(model, replace(cfg, fused_adamw=setting), device='mps')
        assert optimizer.defaults['fused'] is (setting == 'on')


def test_failing_write_keeps_the_previous_checkpoint(tiny_corpus, tmp_path, monkeypatch, capsys):
    out = tmp_path / 'out'
    real_save, saves = torch.save, []

    def disk_fills_on_the_fourth_checkpoint(obj, f):
        if 'progress' in obj:
            saves.append(obj['progress']['iter'])
        if len(saves) == 4:
            f.write(b'partial')
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_save(obj, f)
    monkeypatch.setattr(checkpoint.torch, 'save', disk_fills_on_the_fourth_checkpoint)
    assert train.cli(tiny_args(tiny_corpus, out, checkpoint_interval=5)) == 1
    err = capsys.readouterr().err
    assert 'No space left on device' in err
    assert 'the previous checkpoint there, if any, is intact' in err
    monkeypatch.undo()
    state = checkpoint.load(out / 'ckpt.pt')
    assert state['progress']['iter'] == saves[2]  # the third, complete checkpoint
    assert sorted(p.name for p in out.iterdir()) == ['ckpt.pt', 'config.json', 'log.jsonl',
                                                     'model_level1.pt']


def test_a_vcycle_run_as_init_from_says_how_to_start_from_it(finished_run, tiny_corpus, tmp_path,
                                                             capsys):
    """--init_from=<a vcycle run folder> (a Hugging Face folder is expected): one line naming the
    two ways, continuing the run or exporting its M_1; nothing touched."""
    before = snapshot(finished_run)
    assert train.cli(tiny_args(tiny_corpus, tmp_path / 'out', init_from=str(finished_run))) == 2
    err = capsys.readouterr().err
    assert err.startswith(f'error: init_from={finished_run} is a vcycle run, not a Hugging Face '
                          f'folder: continue it with --out_dir={finished_run} --resume')
    assert err.count('\n') == 1 and 'hf.export_hf' in err
    assert snapshot(finished_run) == before and snapshot(tmp_path / 'out') is None
