"""CUDA paths (bf16 autocast, torch.compile, resume); skipped where no GPU is present."""
import signal
import subprocess
import sys

import pytest
import torch

import train
from coalesce import decoalesce
from conftest import ROOT, read_log, tiny_args
from test_coalesce import inputs, make
from test_errors import check_a_non_finite_step_changes_nothing

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA GPU')


@pytest.mark.parametrize('arch', ['gpt', 'bert', 'vit'])
def test_width_decoalescing_preserves_the_function_on_cuda(arch):
    torch.set_float32_matmul_precision('highest')  # plain float32, no TF32
    m = make(arch).cuda()
    with torch.no_grad():
        x = inputs(arch).cuda()
        assert (m(x)[0] - decoalesce(m, depth=False)(x)[0]).abs().max().item() <= 1e-5


def test_bf16_compiled_vcycle_trains_and_resumes(tiny_corpus, tmp_path):
    def args(out):
        return tiny_args(tiny_corpus, out, device='cuda', dtype='auto', compile='auto',
                         down_steps=10, up_steps='20,30', checkpoint_interval=5)
    cycle = train.main(args(tmp_path / 'whole'))
    assert cycle.env.autocast_dtype == torch.bfloat16 and cycle.env.compile
    log = read_log(tmp_path / 'whole')
    assert log[-1]['val_loss'] < log[0]['val_loss'] - 0.5
    killed = subprocess.run([sys.executable, str(ROOT / 'tests/killable_run.py'), 'step', '27',
                             'SIGKILL', *args(tmp_path / 'killed')], capture_output=True, text=True,
                            timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    train.main(args(tmp_path / 'killed') + ['--resume'])
    resumed = read_log(tmp_path / 'killed')
    assert [r['iter'] for r in resumed] == [r['iter'] for r in log]
    gap = abs(resumed[-1]['val_loss'] - log[-1]['val_loss'])
    print(f'final validation loss, uninterrupted vs killed and resumed on CUDA: gap {gap:.2e}')
    assert gap < 0.02  # bf16 and compiled kernels: not asserted bitwise on GPU




@pytest.mark.parametrize('fused_adamw', ['on', 'off'])
@pytest.mark.parametrize('poison', ['loss', 'gradient'])
def test_a_non_finite_step_changes_nothing_on_cuda(tiny_corpus, tmp_path, monkeypatch, poison,
                                                   fused_adamw):
    """A non-finite step leaves M_1 and AdamW's state bitwise as they were on CUDA too, with the
    fused kernel (skipped on the device) and without it (the host reads the verdict, as on MPS or
    XPU), and the watch names its iteration (tests/test_errors.py's test, on 'cuda')."""
    check_a_non_finite_step_changes_nothing(tiny_corpus, tmp_path, monkeypatch, poison,
                                            fused_adamw, 'cuda')
