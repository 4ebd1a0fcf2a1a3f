"""CUDA paths (bf16 autocast, torch.compile, resume); skipped where no GPU is present."""
import signal
import subprocess
import sys

import pytest
import torch

import step
import train
from coalesce import decoalesce
from conftest import ROOT, read_log, tiny_args
from test_coalesce import inputs, make

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
def test_a_non_finite_step_changes_nothing_on_cuda(tiny_corpus, tmp_path, monkeypatch,
                                                   fused_adamw):
    """An infinite loss at iteration 3 leaves M_1 and AdamW's state bitwise as after iteration 2,
    with the fused kernel (skipped on the device) and without it (the host reads the verdict, as on
    MPS or XPU); the watch names iteration 3."""
    cfg = train.parse_args(tiny_args(tiny_corpus, tmp_path, device='cuda', levels=1, up_steps=8,
                                     lr=3e-3, fused_adamw=fused_adamw))
    env = train.setup_env(cfg)
    batches, model = train.build_data_and_model(cfg, env)
    optimizer = step.build_optimizer(model, cfg, device=env.device)
    watch = step.NonFiniteWatch(env.device)
    assert optimizer.defaults['fused'] is (fused_adamw == 'on')

    def train_step(iteration):
        step.train_step(model, optimizer, batches, iteration, 3e-3, micro_batch=4, env=env,
                        grad_clip=1.0, watch=watch)
    for i in range(3):
        train_step(i)
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    moments = {p: {s: t.clone() for s, t in state.items()} for p, state in optimizer.state.items()}
    original = step.accumulate_gradients
    monkeypatch.setattr(step, 'accumulate_gradients',
                        lambda *args: torch.full_like(original(*args), float('inf')))
    train_step(3)
    assert all(torch.equal(weights[k], v) for k, v in model.state_dict().items())
    assert all(torch.equal(moments[p][s], t)
               for p, state in optimizer.state.items() for s, t in state.items())
    assert watch.first()[0] == 3
