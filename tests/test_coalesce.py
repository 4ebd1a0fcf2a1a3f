"""Exact invariants of the three operators, for GPT, BERT and ViT."""
import pytest
import torch

from coalesce import (coalesce, decoalesce, depth_matrices, interpolate, merge_matrices,
                      split_unevenly, width_matrices)
from conftest import ARCHS, MODES, PAIRINGS, RESIZES, inputs, make, max_abs_diff
from model import GPT, GPTConfig


def max_diff(a, b):
    return max_abs_diff(a.state_dict(), b.state_dict())


@pytest.mark.parametrize('arch', ARCHS)
@pytest.mark.parametrize('mode, pairing, copies', RESIZES)
def test_coalesce_inverts_decoalesce(arch, mode, pairing, copies):
    width, depth = MODES[mode]
    resize = dict(width=width, depth=depth, depth_pairing=pairing, depth_copies=copies)
    m = make(arch, n_layer=2, n_head=2, n_embd=16)
    big = decoalesce(m, **resize)
    assert big.config.n_embd == 16 * (2 if width else 1)
    assert big.config.n_layer == 2 * (2 if depth else 1)
    back = coalesce(big, **resize)
    assert type(back) is type(m) and back.config == m.config
    assert max_diff(back, m) <= 1e-6
    # The other order loses information: a mapping that merely reshapes would pass both ways.
    assert max_diff(decoalesce(coalesce(make(arch), **resize), **resize), make(arch)) > 1e-2


@pytest.mark.parametrize('pairing', PAIRINGS)
def test_depth_copies_share_the_residual_writes(pairing):
    """'half': both copies of a layer write half of its output projections, coalescing sums a
    pair's; 'full': copies write all of it, coalescing averages. Every other parameter is copied
    and averaged."""
    small, big = make('gpt', n_layer=2), make('gpt', n_layer=4)
    first, second = (0, 2) if pairing == 'stack' else (0, 1)
    for copies, write_share in (('half', 0.5), ('full', 1.0)):
        grown = decoalesce(small, width=False, depth_pairing=pairing, depth_copies=copies)
        for i in (first, second):
            layer, written = grown.blocks[i], small.blocks[0]
            torch.testing.assert_close(layer.mlp.c_proj.weight,
                                       write_share * written.mlp.c_proj.weight, rtol=0, atol=0)
            torch.testing.assert_close(layer.attn.c_proj.bias,
                                       write_share * written.attn.c_proj.bias, rtol=0, atol=0)
            assert torch.equal(grown.blocks[i].mlp.c_fc.weight, small.blocks[0].mlp.c_fc.weight)
        merged = coalesce(big, width=False, depth_pairing=pairing, depth_copies=copies).blocks[0]
        A, B = big.blocks[first], big.blocks[second]
        pair_mean = (A.attn.c_proj.weight + B.attn.c_proj.weight) / 2
        torch.testing.assert_close(merged.attn.c_proj.weight, pair_mean / write_share, rtol=0,
                                   atol=1e-6)
        torch.testing.assert_close(merged.ln_2.bias, (A.ln_2.bias + B.ln_2.bias) / 2, rtol=0,
                                   atol=1e-6)


@pytest.mark.parametrize('arch', ARCHS)
@pytest.mark.parametrize('pairing', PAIRINGS)
def test_half_copies_preserve_the_function_to_first_order(arch, pairing):
    """Two copies that each write half of a layer's residual update f add f to first order, as the
    layer did; full copies add 2f. So when the updates shrink 10x, the grown model's distance to the
    small one shrinks 100x with 'half' copies (O(eps^2)) and only 10x with 'full' ones (O(eps))."""
    def distance(eps, copies):
        m, x = make(arch, n_layer=2).double(), inputs(arch)
        with torch.no_grad():
            for block in m.blocks:
                for layer in (block.attn.c_proj, block.mlp.c_proj):
                    layer.weight.mul_(eps), layer.bias.mul_(eps)
            x = x.double() if arch == 'vit' else x
            grown = decoalesce(m, width=False, depth_pairing=pairing, depth_copies=copies)
            return (grown(x)[0] - m(x)[0]).abs().max().item()
    half = distance(1e-2, 'half') / distance(1e-3, 'half')
    full = distance(1e-2, 'full') / distance(1e-3, 'full')
    assert 70 < half < 130 and 7 < full < 13


@pytest.mark.parametrize('arch', ARCHS)
@pytest.mark.parametrize('pairing', PAIRINGS)
def test_width_decoalescing_preserves_the_function(arch, pairing):
    m = make(arch)
    big = decoalesce(m, width=True, depth=False, depth_pairing=pairing)
    x = inputs(arch)
    with torch.no_grad():
        small_logits, big_logits = m(x)[0], big(x)[0]
    assert small_logits.abs().max() > 0.1  # a real output, not a vanishing one
    assert (small_logits - big_logits).abs().max().item() <= 1e-5


@pytest.mark.parametrize('arch', ARCHS)
def test_depth_decoalescing_changes_the_function(arch):
    m, x = make(arch), inputs(arch)
    with torch.no_grad():
        assert (m(x)[0] - decoalesce(m, width=False)(x)[0]).abs().max() > 1e-3


@pytest.mark.parametrize('arch', ARCHS)
@pytest.mark.parametrize('mode', MODES)
def test_interpolate_endpoints_are_exact(arch, mode):
    width, depth = MODES[mode]
    a = make(arch, seed=0)
    b = decoalesce(coalesce(make(arch, seed=1), width=width, depth=depth), width=width, depth=depth)
    for alpha, expected in ((0, a), (0.0, a), (1, b), (1.0, b)):
        mixed = interpolate(a, b, alpha)
        assert max_diff(mixed, expected) == 0
    half = interpolate(a, b, 0.25)
    for name, p in half.state_dict().items():
        torch.testing.assert_close(p, 0.75 * a.state_dict()[name] + 0.25 * b.state_dict()[name])


@pytest.mark.parametrize('pairing', PAIRINGS)
def test_coalesced_values_are_pair_averages_and_sums(pairing):
    """Check entries by hand: outputs of a pair averaged, inputs of a pair summed, heads h and
    h + H/2 merged within each of q, k, v, layers merged by the chosen pairing."""
    big = make('gpt', n_layer=4, n_head=4, n_embd=32)
    small = coalesce(big, depth_pairing=pairing)
    d, h = 32, 16
    layer_pairs = [(0, 2), (1, 3)] if pairing == 'stack' else [(0, 1), (2, 3)]
    for i, (a, b) in enumerate(layer_pairs):
        A, B = big.blocks[a], big.blocks[b]

        def width_merged(W):  # (out, in) with both axes of the residual/MLP kind
            o, n = W.shape[0] // 2, W.shape[1] // 2
            return ((W[:o] + W[o:]) / 2)[:, :n] + ((W[:o] + W[o:]) / 2)[:, n:]

        expected_fc = (width_merged(A.mlp.c_fc.weight) + width_merged(B.mlp.c_fc.weight)) / 2
        torch.testing.assert_close(small.blocks[i].mlp.c_fc.weight, expected_fc, rtol=0, atol=1e-6)
        Wq = (A.attn.c_attn.weight[:d] + B.attn.c_attn.weight[:d]) / 2  # query rows of the pair
        Wv = (A.attn.c_attn.weight[2 * d:] + B.attn.c_attn.weight[2 * d:]) / 2
        small_qkv = small.blocks[i].attn.c_attn.weight
        torch.testing.assert_close(small_qkv[:h], width_merged(Wq), rtol=0, atol=1e-6)
        torch.testing.assert_close(small_qkv[2 * h:], width_merged(Wv), rtol=0, atol=1e-6)
        ln = (A.ln_1.weight + B.ln_1.weight) / 2
        torch.testing.assert_close(small.blocks[i].ln_1.weight, (ln[:h] + ln[h:]) / 2, rtol=0,
                                   atol=1e-6)
    E = big.wte.weight
    torch.testing.assert_close(small.wte.weight, (E[:, :h] + E[:, h:]) / 2, rtol=0, atol=1e-6)
    torch.testing.assert_close(small.ln_f.weight, big.ln_f.weight[:h] + big.ln_f.weight[h:],
                               rtol=0, atol=1e-6)


@pytest.mark.parametrize('n', [2, 4, 10])
@pytest.mark.parametrize('pairing', PAIRINGS)
def test_matrices(n, pairing):
    m = width_matrices(n)
    assert m['F_out'].shape == (n // 2, n) and m['F_in'].shape == (n, n // 2)
    assert m['T_out'].shape == (n, n // 2) and m['T_in'].shape == (n // 2, n)
    eye = torch.eye(n // 2, dtype=torch.float64)
    assert torch.equal(m['F_out'] @ m['T_out'], eye) and torch.equal(m['T_in'] @ m['F_in'], eye)
    assert set(m['F_out'].unique().tolist()) <= {0.0, 0.5}
    assert set(m['F_in'].unique().tolist()) <= {0.0, 1.0}
    # an average of two
    assert torch.equal(m['F_out'].sum(1), torch.ones(n // 2, dtype=torch.float64))
    assert m['F_out'][0, 0] == 0.5 and m['F_out'][0, n // 2] == 0.5  # feature 0 pairs with n/2
    d = depth_matrices(n, pairing)
    assert d['R'].shape == (n // 2, n) and d['G'].shape == (n, n // 2)
    assert torch.equal(d['R'] @ d['G'], eye)
    partner = n // 2 if pairing == 'stack' else 1
    assert d['R'][0, 0] == 0.5 and d['R'][0, partner] == 0.5 and d['G'][partner, 0] == 1
    F, S = merge_matrices(12, groups=3)  # q, k, v blocks of 4 each paired within themselves
    assert F.shape == (6, 12) and torch.equal(F @ S, torch.eye(6, dtype=torch.float64))
    assert F[0, 0] == F[0, 2] == 0.5 and F[2, 4] == F[2, 6] == 0.5


def analytic_params(arch, L, d, V=37, T=16):
    block = 12 * d * d + 13 * d
    if arch == 'gpt':
        return V * d + T * d + L * block + 2 * d, T * d
    if arch == 'bert':
        return V * d + T * d + L * block + 2 * d + (d * d + d) + 2 * d + V, T * d
    n_tokens = (8 // 4) ** 2 + 1
    return (d * 3 * 4 * 4 + d) + d + n_tokens * d + L * block + 2 * d + (5 * d + 5), n_tokens * d


@pytest.mark.parametrize('arch', ARCHS)
@pytest.mark.parametrize('mode', MODES)
def test_counts_of_a_coalesced_model(arch, mode):
    width, depth = MODES[mode]
    small = coalesce(make(arch, n_layer=4, n_embd=32), width=width, depth=depth)
    L, d = 2 if depth else 4, 16 if width else 32
    total, positions = analytic_params(arch, L, d)
    assert small.num_params() == total
    T = 16 if arch != 'vit' else 5
    assert small.flops_per_token() == 6 * (total - positions) + 12 * L * d * T


def test_inputs_are_not_modified():
    a, b = make('gpt'), make('gpt', seed=1)
    before = {k: v.clone() for k, v in a.state_dict().items()}
    decoalesce(coalesce(a))
    interpolate(a, b, 0.5)
    assert all(torch.equal(before[k], v) for k, v in a.state_dict().items())


@pytest.mark.parametrize('kwargs, call, message', [
    (dict(n_head=3, n_embd=24), lambda m: coalesce(m), 'n_head=3 is odd'),
    (dict(n_head=3, n_embd=24), lambda m: coalesce(m, depth=False), 'head size'),
    (dict(n_layer=3), lambda m: coalesce(m), 'n_layer=3 is odd'),
    (dict(n_layer=3), lambda m: coalesce(m, width=False), 'n_layer=3'),
    (dict(n_head=4, n_embd=30), lambda m: coalesce(m, depth=False), 'n_embd=30 is not a multiple'),
    (dict(), lambda m: coalesce(m, depth_pairing='zigzag'), 'depth_pairing'),
    (dict(), lambda m: decoalesce(m, depth_copies='twice'), 'depth_copies must be one of'),
    (dict(), lambda m: interpolate(m, coalesce(m), 0.5), 'different shapes'),
    (dict(), lambda m: interpolate(m, m, 1.5), 'alpha'),
    (dict(), lambda m: interpolate(m, m, -0.1), 'alpha'),
    (dict(), lambda m: interpolate(m, m, float('nan')), 'alpha'),
    (dict(), lambda m: interpolate(m, make('bert'), 0.5), 'cannot interpolate a GPT with a BERT'),
])
def test_bad_requests_raise_value_error(kwargs, call, message):
    cfg = dict(n_layer=4, n_head=4, n_embd=32)
    cfg.update(kwargs)
    m = GPT(GPTConfig(block_size=16, vocab_size=37, **cfg))
    with pytest.raises(ValueError, match=message):
        call(m)



@pytest.mark.parametrize('arch', ARCHS)
@pytest.mark.parametrize('mode', MODES)
@pytest.mark.parametrize('pairing', PAIRINGS)
def test_identity_copies_preserve_the_function_with_depth(arch, mode, pairing):
    width, depth = MODES[mode]
    m, x = make(arch, n_layer=2), inputs(arch)
    big = decoalesce(m, width=width, depth=depth, depth_pairing=pairing, depth_copies='identity')
    with torch.no_grad():
        assert (m(x)[0] - big(x)[0]).abs().max().item() <= 1e-5
    if depth:  # the second layer of each pair writes nothing; the first is the small layer itself
        second = 2 if pairing == 'stack' else 1
        assert big.blocks[second].mlp.c_proj.weight.abs().max() == 0
        # a copy
        assert torch.equal(big.blocks[second].attn.c_attn.weight, big.blocks[0].attn.c_attn.weight)
        assert big.blocks[0].mlp.c_proj.weight.abs().max() > 0


@pytest.mark.parametrize('arch', ARCHS)
@pytest.mark.parametrize('skew, noise', [(0.3, 0.0), (0.0, 0.5), (0.2, 0.2)])
def test_uneven_splits_keep_the_function_and_the_round_trip(arch, skew, noise):
    """split_unevenly breaks the grown model's symmetry (its input weights change) while its outputs
    and coalesce() of it stay those of the small model."""
    small = make(arch, n_layer=2, n_head=2, n_embd=16)
    grown = decoalesce(small, width=True, depth=False)
    split = split_unevenly(grown, skew, noise, generator=torch.Generator().manual_seed(0))
    x = inputs(arch)
    with torch.no_grad():
        assert (split(x)[0] - small(x)[0]).abs().max().item() <= 1e-5
    assert max_diff(coalesce(split, width=True, depth=False), small) <= 1e-6
    changed = {k for k, v in split.state_dict().items()
               if not torch.equal(v, grown.state_dict()[k])}
    # 'in' axes
    assert 'blocks.0.mlp.c_proj.weight' in changed and 'blocks.1.attn.c_attn.weight' in changed
    assert not any(k.endswith('bias') for k in changed)  # biases have no input axis
    if noise == 0:  # a pure skew: the first copy of every split weight holds (1 + skew) / 2 of it
        w, w_small = split.blocks[0].mlp.c_proj.weight, small.blocks[0].mlp.c_proj.weight
        # rows duplicated (outputs), columns split
        expected = torch.cat([w_small, w_small]) * (1 + skew) / 2
        assert torch.allclose(w[:, :w.shape[1] // 2], expected, atol=1e-7)
        assert torch.allclose(w[:, w.shape[1] // 2:], expected * (1 - skew) / (1 + skew), atol=1e-7)
