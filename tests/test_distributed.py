"""Two ranks with gloo on the CPU: a step waits on the host only at the loop's checks, a signal
on one rank stops both at the same iteration, and a run whose rank is killed rides through
torchrun's restart (--init_from=auto) to end bitwise where an uninterrupted run ends."""
import json
import os
import subprocess
import sys

import pytest

import checkpoint
import train
from conftest import ROOT, assert_same_run, read_log, tiny_args
from vcycle import SIGNAL_INTERVAL

# stages: level 1 down iterations 0-9, level 2 bottom 10-29, level 1 up 30-49; checkpoints every 5
LONG = dict(down_steps=10, up_steps='20,20', checkpoint_interval=5, init_from='auto')


def torchrun(args, env=None, max_restarts=0):
    """A script and its arguments run by torchrun as two ranks, each on one thread, as the README
    says to run it for elastic restarts."""
    command = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2',
               f'--max-restarts={max_restarts}', *args]
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'TORCH_DISABLE_SHARE_RDZV_TCP_STORE': '1',
           **(env or {})}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope='module')
def uninterrupted(tiny_corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp('two_ranks')
    result = torchrun([str(ROOT / 'train.py'), *tiny_args(tiny_corpus, out, **LONG)])
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def test_a_step_waits_on_the_host_only_at_the_checks(tiny_corpus, tmp_path):
    """60 steps without evaluations or checkpoints between: each rank reads a tensor on the host
    at the start, at the signal checks every SIGNAL_INTERVAL iterations and at the end, never in
    between (tests/count_host_waits.py counts .item(), bool() and .tolist())."""
    args = tiny_args(tiny_corpus, tmp_path / 'run', levels=1, up_steps=60, lr=3e-3,
                     eval_interval=1000, checkpoint_interval=1000)
    waits_file = tmp_path / 'waits'
    result = torchrun([str(ROOT / 'tests/count_host_waits.py'), *args],
                      {'HOST_WAITS_FILE': str(waits_file)})
    assert result.returncode == 0, result.stderr[-3000:]
    for rank in (0, 1):
        waits = json.loads(waits_file.with_name(f'waits.{rank}').read_text())
        assert sorted(map(int, waits)) == [0, SIGNAL_INTERVAL, 2 * SIGNAL_INTERVAL, 60], waits


def test_a_signal_on_one_rank_stops_both_at_the_next_check(tiny_corpus, tmp_path, uninterrupted):
    """SIGTERM reaches rank 1 before step 12; both ranks stop at iteration 25 (the next check)
    with one checkpoint, and the run resumed ends bitwise as the uninterrupted one."""
    args = tiny_args(tiny_corpus, tmp_path, **LONG)
    stopped = torchrun([str(ROOT / 'tests/killable_run.py'), 'step', '12', 'SIGTERM', *args],
                       {'KILL_RANK': '1'})
    assert stopped.returncode == 0, stopped.stderr[-3000:]
    assert 'stopped: SIGTERM at level 2 bottom step 15: checkpoint written' in stopped.stderr
    assert 'stopped: a signal at level 2 bottom step 15' in stopped.stderr  # rank 0, told by 1
    progress = checkpoint.load(tmp_path / 'ckpt.pt')['progress']
    assert (progress['stage'], progress['step'], progress['iter']) == (1, 15, 25)
    resumed = torchrun([str(ROOT / 'train.py'), *args])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_same_run(tmp_path, uninterrupted)


@pytest.mark.parametrize('where, at', [('step', 17),         # inside the bottom stage
                                       ('transition', 30)])  # right after interpolating
def test_a_killed_rank_rejoins_after_torchruns_restart(tiny_corpus, tmp_path, uninterrupted, where,
                                                       at):
    """Rank 1 is SIGKILLed; torchrun (--max-restarts=1) restarts both ranks with the same
    arguments, --init_from=auto resumes the last checkpoint, and the run ends bitwise as the
    uninterrupted one."""
    args = tiny_args(tiny_corpus, tmp_path, **LONG)
    result = torchrun([str(ROOT / 'tests/killable_run.py'), where, str(at), 'SIGKILL', *args],
                      {'KILL_RANK': '1'}, max_restarts=1)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'failed (exitcode: -9) local_rank: 1' in result.stderr  # it did die, and was restarted
    assert_same_run(tmp_path, uninterrupted)
    assert [r['iter'] for r in read_log(tmp_path)] == [r['iter'] for r in read_log(uninterrupted)]


def test_auto_starts_resumes_and_refuses_another_run(tiny_corpus, tmp_path, capsys):
    """--init_from=auto: an empty out_dir starts a run, this run's checkpoint continues it, another
    run's checkpoint is refused in one line, and --overwrite does not go with it."""
    args = tiny_args(tiny_corpus, tmp_path, down_steps=2, up_steps='2,2', init_from='auto')
    assert train.cli(args) == 0
    first = read_log(tmp_path)
    assert train.cli(args) == 0 and read_log(tmp_path) == first  # finished: nothing to add
    assert train.cli(args + ['--n_embd=64']) == 2
    assert 'belongs to a different run: n_embd=32 there, 64 now' in capsys.readouterr().err
    assert train.cli(args + ['--overwrite']) == 2
    assert "init_from='auto' continues this run" in capsys.readouterr().err


def test_restarts_with_torchruns_shared_store_are_refused(tiny_corpus, tmp_path):
    """torchrun shares its rendezvous store with the workers unless told not to; a restarted rank
    can then read the dead ranks' addresses and hang, so such a launch is refused in one line."""
    args = tiny_args(tiny_corpus, tmp_path, **LONG)
    result = torchrun([str(ROOT / 'train.py'), *args], {'TORCH_DISABLE_SHARE_RDZV_TCP_STORE': '0'},
                      max_restarts=1)
    assert result.returncode != 0
    assert 'error: torchrun --max-restarts needs TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1' in \
        result.stderr
    assert not (tmp_path / 'ckpt.pt').exists()
