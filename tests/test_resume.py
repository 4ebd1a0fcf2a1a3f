"""Never lose a run: killed anywhere and resumed, a run ends bitwise where an uninterrupted one
ends."""
import json
import signal

import pytest

import checkpoint
import train
from conftest import assert_same_run, read_log, run_until, tiny_args

# stages: level 1 down iterations 0-5, level 2 bottom 6-15, level 1 up 16-23; checkpoints every 5
SCHEDULE = dict(down_steps=6, up_steps='8,10', checkpoint_interval=5)


@pytest.fixture(scope='module')
def reference(tiny_corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp('uninterrupted')
    assert train.cli(tiny_args(tiny_corpus, out, **SCHEDULE)) == 0
    return out


@pytest.fixture(scope='module')
def reference_unfused(tiny_corpus, tmp_path_factory):
    """The reference run with AdamW's plain (not fused) kernel, as on MPS or XPU."""
    out = tmp_path_factory.mktemp('uninterrupted_unfused')
    assert train.cli(tiny_args(tiny_corpus, out, **SCHEDULE, fused_adamw='off')) == 0
    return out


def resume_counting_steps(args, monkeypatch):
    """Resume; returns how many optimizer steps the resumed process took."""
    import step
    calls, original = [], step.train_step
    monkeypatch.setattr(step, 'train_step', lambda *a, **k: calls.append(1) or original(*a, **k))
    assert train.cli(args + ['--resume']) == 0
    return len(calls)


@pytest.mark.parametrize('where, at', [
    ('step', 3),          # the down phase, between checkpoints
    ('step', 12),         # the bottom
    ('step', 21),         # the up phase
    ('transition', 6),    # right after coalescing, before the new stage saved anything
    ('transition', 16),   # right after interpolating
    ('checkpoint', 10),   # in the middle of writing a checkpoint
])
def test_sigkill_anywhere_then_resume_is_bitwise_identical(tiny_corpus, tmp_path, reference, where,
                                                          at, monkeypatch):
    args = tiny_args(tiny_corpus, tmp_path, **SCHEDULE)
    killed = run_until(where, at, 'SIGKILL', args)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    saved_iter = checkpoint.load(tmp_path / 'ckpt.pt')['progress']['iter']
    # the last checkpoint before the kill
    assert saved_iter == {3: 0, 12: 10, 21: 20, 6: 6, 16: 16, 10: 6}[at]
    if where == 'checkpoint':
        assert list(tmp_path.glob('.ckpt.pt.*.tmp'))  # the interrupted write's temporary file
    # continues, does not restart
    assert resume_counting_steps(args, monkeypatch) == 24 - saved_iter
    assert_same_run(tmp_path, reference)
    assert not list(tmp_path.glob('.*.tmp'))  # swept away by the next complete write


def test_killed_twice(tiny_corpus, tmp_path, reference):
    args = tiny_args(tiny_corpus, tmp_path, **SCHEDULE)
    assert run_until('step', 8, 'SIGKILL', args).returncode == -signal.SIGKILL
    assert run_until('step', 19, 'SIGKILL', args + ['--resume']).returncode == -signal.SIGKILL
    # the baseline's, not this run's
    assert train.cli(args + ['--resume', '--baseline_decay=0', '--baseline_lr=1e-3']) == 0
    assert_same_run(tmp_path, reference)


@pytest.mark.parametrize('signame', ['SIGTERM', 'SIGINT'])
def test_sigterm_and_sigint_checkpoint_and_exit_cleanly(tiny_corpus, tmp_path, reference, signame):
    args = tiny_args(tiny_corpus, tmp_path, **SCHEDULE)
    stopped = run_until('step', 13, signame, args)
    assert stopped.returncode == 0, stopped.stderr[-2000:]
    assert 'Traceback' not in stopped.stderr
    command = f'python train.py --out_dir={tmp_path} --resume'
    assert (f'stopped: {signame} at level 2 bottom step 8: checkpoint written; continue with: '
            f'{command}') in stopped.stderr
    progress = checkpoint.load(tmp_path / 'ckpt.pt')['progress']
    # the step after the signal
    assert (progress['stage'], progress['step'], progress['iter']) == (1, 8, 14)
    assert train.cli(command.split()[2:]) == 0  # the command as printed: the settings are the run's
    assert_same_run(tmp_path, reference)


def test_a_resume_takes_the_runs_settings_and_a_finished_run_stays_as_it_was(
        tiny_corpus, tmp_path, reference, capsys):
    """--out_dir and --resume alone continue a run with the settings it started with, and say
    where; settings given must agree; the follow-up baseline command works as printed; resuming
    a finished run, or planning into its out_dir, changes none of its files."""
    args = tiny_args(tiny_corpus, tmp_path, **SCHEDULE)
    assert run_until('step', 12, 'SIGKILL', args).returncode == -signal.SIGKILL
    capsys.readouterr()
    assert train.cli(['--out_dir=' + str(tmp_path), '--n_embd=64', '--resume']) == 2
    assert 'belongs to a different run: n_embd=32 there, 64 now' in capsys.readouterr().err
    # a different number of levels is named as such, not as tuples of the wrong length
    assert train.cli(['--out_dir=' + str(tmp_path), '--levels=3', '--resume']) == 2
    assert 'belongs to a different run: levels=2 there, 3 now' in capsys.readouterr().err
    assert train.cli([f'--out_dir={tmp_path}', '--resume']) == 0
    out = capsys.readouterr().out
    assert f'resuming {tmp_path} at level 2 bottom step 4 (iteration 10 of 24)' in out
    assert_same_run(tmp_path, reference)
    follow_up = next(line for line in out.splitlines() if '--baseline' in line).split('#')[0]
    assert follow_up.split() == ['python', 'train.py', str(tmp_path / 'config.json'), '--baseline']
    files = {f.name: f.read_bytes() for f in tmp_path.iterdir()}
    assert train.cli([f'--out_dir={tmp_path}', '--resume']) == 0
    assert f'{tmp_path} is finished: nothing to train' in capsys.readouterr().out
    assert train.cli(args + ['--plan']) == 0  # a plan does not depend on what out_dir holds
    assert {f.name: f.read_bytes() for f in tmp_path.iterdir()} == files
    assert train.cli(follow_up.split()[2:]) == 0
    assert read_log(f'{tmp_path}-baseline')[-1]['iter'] == 24


@pytest.mark.parametrize('where, at, signame', [('step', 12, 'SIGKILL'),
                                                ('transition', 16, 'SIGKILL'),
                                                ('step', 13, 'SIGTERM')])
def test_resume_without_the_fused_adamw_is_bitwise_identical(tiny_corpus, tmp_path,
                                                             reference_unfused, where, at,
                                                             signame):
    """Where PyTorch has no fused AdamW (MPS, XPU; forced off here), a run killed or stopped and
    resumed also ends bitwise as the uninterrupted one, and stays unfused."""
    args = tiny_args(tiny_corpus, tmp_path, **SCHEDULE, fused_adamw='off')
    run_until(where, at, signame, args)
    state = checkpoint.load(tmp_path / 'ckpt.pt')
    assert not state['optimizer']['param_groups'][0]['fused']
    assert train.cli(args + ['--resume']) == 0
    assert_same_run(tmp_path, reference_unfused)


@pytest.mark.parametrize('written, resumed', [('on', 'off'), ('off', 'on')])
def test_a_checkpoint_resumes_with_the_other_adamw_kernel(tiny_corpus, tmp_path, reference,
                                                          written, resumed):
    """A checkpoint written where AdamW is fused (CUDA, CPU) resumes where it is not (MPS, XPU),
    and back: the resumed AdamW keeps its own kernel, and the run ends where the uninterrupted
    one does, to the two kernels' rounding."""
    args = tiny_args(tiny_corpus, tmp_path, **SCHEDULE)
    # stopped in the last stage, whose AdamW is then the checkpoint's
    assert run_until('step', 19, 'SIGTERM', args + [f'--fused_adamw={written}']).returncode == 0
    assert train.cli(args + ['--resume', f'--fused_adamw={resumed}']) == 0
    groups = checkpoint.load(tmp_path / 'ckpt.pt')['optimizer']['param_groups']
    assert all(group['fused'] is (resumed == 'on') for group in groups)
    final, expected = read_log(tmp_path)[-1], read_log(reference)[-1]
    assert final['iter'] == expected['iter']
    assert abs(final['val_loss'] - expected['val_loss']) < 1e-3


def test_a_run_started_before_a_new_setting_resumes(tiny_corpus, tmp_path, reference):
    """A run whose checkpoint and config.json lack a setting added to Config since (budget) ran
    with its default: it resumes, bitwise as the uninterrupted run."""
    args = tiny_args(tiny_corpus, tmp_path, **SCHEDULE)
    assert run_until('step', 12, 'SIGKILL', args).returncode == -signal.SIGKILL
    state = checkpoint.load(tmp_path / 'ckpt.pt')
    del state['config']['budget']
    checkpoint.save(state, tmp_path / 'ckpt.pt')
    saved = json.loads((tmp_path / 'config.json').read_text())
    del saved['budget']
    (tmp_path / 'config.json').write_text(json.dumps(saved))
    assert train.cli([f'--out_dir={tmp_path}', '--resume']) == 0
    assert_same_run(tmp_path, reference)
