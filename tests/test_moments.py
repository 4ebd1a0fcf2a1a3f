"""Adam's state through the operators (moments.py): the gradient maps are the exact adjoints, the
moments make exact round trips, and a carried run resumes bitwise."""
import signal

import pytest
import torch

import checkpoint
import train
from coalesce import decoalesce, resize_state
from conftest import (ARCHS, MODES, RESIZES, assert_same_run, inputs, make, max_abs_diff, read_log,
                      run_until, tiny_args, weights)
from moments import adam_moments, gradient_map, interpolate_moments, resize_moments


def loss_of(model, arch, x):
    """A loss that touches every output (targets from a fixed generator)."""
    g = torch.Generator().manual_seed(2)
    logits, _ = model(x)
    targets = torch.randint(logits.shape[-1], logits.shape[:-1], generator=g)
    return torch.nn.functional.cross_entropy(logits.flatten(0, -2), targets.flatten())


def gradients(model, arch, x):
    model.zero_grad()
    loss_of(model, arch, x).backward()
    return {name: p.grad.clone() for name, p in model.named_parameters()}


def width_only(model, shrink, tensors):
    return gradient_map(model, tensors, width=True, depth=False, depth_pairing='stack',
                        shrink=shrink)


@pytest.mark.parametrize('arch', ARCHS)
def test_gradient_maps_are_exact_for_width_decoalescing(arch):
    """Width de-coalescing preserves the function, so with g the small model's gradient and g_big
    the grown model's, at the same inputs: g = D^T g_big (the chain rule) and g_big = C^T g (the
    grown model's copies get equal gradients), float64 to rounding."""
    small = make(arch, n_layer=2, n_head=2, n_embd=16).double().train()
    big = decoalesce(small, width=True, depth=False)
    x = inputs(arch).double() if arch == 'vit' else inputs(arch)
    g, g_big = gradients(small, arch, x), gradients(big, arch, x)
    down, up = width_only(big, True, g_big), width_only(small, False, g)
    assert max_abs_diff(down, g) <= 1e-12 and max_abs_diff(up, g_big) <= 1e-12
    assert max(t.abs().max().item() for t in g.values()) > 1e-2  # real gradients
    # a wrong map fails: the weights' own map (not its adjoint) does not carry gradients
    weight_map = resize_state(small, g, width=True, depth=False, depth_pairing='stack',
                              shrink=False)
    assert max_abs_diff(weight_map, g_big) > 1e-3


def random_moments(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {name: {'exp_avg': torch.randn(p.shape, generator=g, dtype=torch.float64),
                   'exp_avg_sq': torch.rand(p.shape, generator=g, dtype=torch.float64) + 0.1,
                   'step': torch.tensor(7.0)}
            for name, p in model.named_parameters()}


@pytest.mark.parametrize('arch', ARCHS)
@pytest.mark.parametrize('mode, pairing, copies', RESIZES)
def test_moments_round_trip(arch, mode, pairing, copies):
    """Growing then shrinking gives Adam's moments back exactly (D^T C^T = (C D)^T = I)."""
    width, depth = MODES[mode]
    resize = dict(width=width, depth=depth, depth_pairing=pairing, depth_copies=copies)
    small = make(arch, n_layer=2, n_head=2, n_embd=16)
    moments = random_moments(small)
    grown = resize_moments(small, moments, shrink=False, **resize)
    big = decoalesce(small, **resize)
    assert ({n: p.shape for n, p in big.named_parameters()}
            == {n: s['exp_avg'].shape for n, s in grown.items()})
    back = resize_moments(big, grown, shrink=True, **resize)
    for name, s in moments.items():
        for key in ('exp_avg', 'exp_avg_sq'):
            assert (back[name][key] - s[key]).abs().max().item() <= 1e-12, (name, key)
        assert back[name]['step'] == 7
    assert min(s['exp_avg_sq'].min().item() for s in grown.values()) > 0


@pytest.mark.parametrize('arch', ARCHS)
def test_mapped_moments_are_what_the_grown_model_accumulates(arch):
    """Adam's moments accumulated by the small model over some batches, mapped up, equal those the
    width-grown model accumulates over the same batches (lr 0 keeps both models where they are)."""
    small = make(arch, n_layer=2, n_head=2, n_embd=16).double().train()
    big = decoalesce(small, width=True, depth=False)
    optimizers = [torch.optim.AdamW(m.parameters(), lr=0.0, betas=(0.9, 0.95))
                  for m in (small, big)]
    for step in range(4):
        x = inputs(arch, batch=2 + step)
        x = x.double() if arch == 'vit' else x
        for model, optimizer in zip((small, big), optimizers):
            optimizer.zero_grad()
            loss_of(model, arch, x).backward()
            optimizer.step()
    mapped = resize_moments(small, adam_moments(small, optimizers[0]), width=True, depth=False,
                            depth_pairing='stack', shrink=False)
    accumulated = adam_moments(big, optimizers[1])
    for name, s in accumulated.items():
        for key in ('exp_avg', 'exp_avg_sq'):
            scale = s[key].abs().max().item()
            gap = (mapped[name][key] - s[key]).abs().max().item()
            assert gap <= 1e-12 * max(1.0, scale), (name, key)
        assert mapped[name]['step'] == s['step'] == 4


def test_interpolated_moments():
    small = make('gpt', n_layer=2, n_head=2, n_embd=16)
    a, b = random_moments(small, seed=0), random_moments(small, seed=1)
    for alpha, same in ((0.0, a), (1.0, b)):
        mixed = interpolate_moments(a, b, alpha)
        assert all(torch.allclose(mixed[n][k], same[n][k], atol=1e-15)
                   for n in a for k in ('exp_avg', 'exp_avg_sq'))
    mixed = interpolate_moments(a, b, 0.25)
    name = 'blocks.0.attn.c_attn.weight'
    mean = 0.75 * a[name]['exp_avg'] + 0.25 * b[name]['exp_avg']
    assert torch.allclose(mixed[name]['exp_avg'], mean)
    rms = 0.75 * a[name]['exp_avg_sq'].sqrt() + 0.25 * b[name]['exp_avg_sq'].sqrt()
    assert torch.allclose(mixed[name]['exp_avg_sq'], rms.square())


CARRY = dict(down_steps=6, up_steps='8,10', checkpoint_interval=5, carry_optimizer=True)


def test_carried_run_differs_from_a_fresh_optimizer_and_resumes_bitwise(tiny_corpus, tmp_path):
    """The carried state is used (the run differs from one with a fresh AdamW at each change), and
    a run killed right after each level change resumes to bitwise the same weights and log."""
    reference = tmp_path / 'reference'
    assert train.cli(tiny_args(tiny_corpus, reference, **CARRY)) == 0
    fresh = tmp_path / 'fresh'
    assert train.cli(tiny_args(tiny_corpus, fresh, **dict(CARRY, carry_optimizer=False))) == 0
    for level in (1, 2):
        a = weights(reference / f'model_level{level}.pt')
        b = weights(fresh / f'model_level{level}.pt')
        assert max_abs_diff(a, b) > 1e-4
    for at, stage in ((6, 0), (16, 1)):  # right after coalescing, right after interpolating
        out = tmp_path / f'killed{at}'
        args = tiny_args(tiny_corpus, out, **CARRY)
        killed = run_until('transition', at, 'SIGKILL', args)
        assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
        progress = checkpoint.load(out / 'ckpt.pt')['progress']
        # the end of the stage before the change
        assert (progress['stage'], progress['iter']) == (stage, at)
        assert train.cli(args + ['--resume']) == 0
        assert_same_run(out, reference)


def test_carry_after_no_steps_down_starts_like_a_fresh_optimizer(tiny_corpus, tmp_path):
    """Plain growth (0 steps down) has no Adam state to carry: the small model's stage trains
    exactly
    as with a fresh AdamW, and the grown model then starts from its moments (alpha 1)."""
    growth = dict(CARRY, down_steps=0, up_steps='8,10', alpha=1.0, small_init='own')
    for name, carry in (('carried', True), ('fresh', False)):
        args = tiny_args(tiny_corpus, tmp_path / name, **dict(growth, carry_optimizer=carry))
        assert train.cli(args) == 0
    carried, fresh = read_log(tmp_path / 'carried'), read_log(tmp_path / 'fresh')
    def small_model(log):
        return [(r['iter'], r['train_loss'], r['val_loss']) for r in log if r['level'] == 2]
    assert len(small_model(carried)) > 2 and small_model(carried) == small_model(fresh)
    assert carried[-1]['val_loss'] != fresh[-1]['val_loss']


def test_carry_refuses_identity_copies(tiny_corpus, tmp_path, capsys):
    args = tiny_args(tiny_corpus, tmp_path / 'out', carry_optimizer=True, depth_copies='identity')
    assert train.cli(args) == 2
    assert 'carry_optimizer needs depth_copies' in capsys.readouterr().err
