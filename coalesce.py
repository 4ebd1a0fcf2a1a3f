"""Coalescing, de-coalescing and interpolation (Zou, Zhang, Deng, ICLR 2024), as matrix products.

A feature axis of size n is halved by merging pairs of features (i with i + n/2, so head h merges
with head h + H/2 and the head size stays). Two matrices do all the work:

    F (n/2, n) = [I/2, I/2]   averages a pair          S (n, n/2) = [I; I]   copies back
    F @ S = I

Their roles in the paper, for a Linear weight W of shape (out, in):
    coalescing     W_small = F_out @ W_big @ F_in      F_out = F (outputs of a pair averaged)
                                                       F_in  = S (inputs of a pair summed)
    de-coalescing  W_big = T_out @ W_small @ T_in      T_out = S (outputs duplicated)
                                                       T_in  = F (inputs split evenly)
Biases, LayerNorms and embedding columns are 'out' axes. Depth works the same way on the stacked
layers: R (L/2, L) averages a pair of layers, G (L, L/2) copies a layer into both of its pair,
R @ G = I; the pairing is 'stack' (i with i + L/2) or 'adjacent' (2i with 2i + 1). By default
(depth_copies='half') the residual writes, the output projections whose results are added to the
stream, use G / 2 and 2 R instead: both copies of a layer write half of what it wrote, so the grown
model starts near the small one's function (the paper's plain copies, 'full', write it twice).
Interpolation: (1 - alpha) * a + alpha * b, parameter by parameter.

The LayerNorm right before a tied output head (model.TIED_HEAD_LN) is halved on de-coalescing
and doubled on coalescing: the big model's stream is [y, y] and its head is [e, e], so without it
the logits would double. With it, width de-coalescing preserves the function exactly.
Run `python coalesce.py` for a demonstration.
"""
import copy
from dataclasses import replace

import torch

from model import BLOCK_FEATURE_AXES, BLOCK_RESIDUAL_WRITES

DEPTH_PAIRINGS = ('stack', 'adjacent')
DEPTH_COPIES = ('half', 'full', 'identity')  # how a grown layer shares its pair's residual writes


def pairs(n, pairing='stack'):
    """The pairs of indices merged when an axis of size n is halved."""
    if pairing == 'stack':
        return [(i, i + n // 2) for i in range(n // 2)]
    if pairing == 'adjacent':
        return [(2 * i, 2 * i + 1) for i in range(n // 2)]
    raise ValueError(f"unknown pairing {pairing!r}: use one of {DEPTH_PAIRINGS}")


def merge_matrices(n, pairing='stack', groups=1):
    """(F, S): F (n/2, n) averages each pair, S (n, n/2) copies each merged feature to both of its
    pair. With groups > 1 the axis is `groups` equal blocks (q, k, v), each paired within itself:
    F and S are then block-diagonal."""
    size = n // groups
    F = torch.zeros(size // 2, size, dtype=torch.float64)
    for j, (a, b) in enumerate(pairs(size, pairing)):
        F[j, a] = F[j, b] = 0.5
    F = torch.block_diag(*[F] * groups)
    return F, 2 * F.T


def width_matrices(n, groups=1):
    """The paper's width operators for an axis of size n: F_out, F_in, T_out, T_in (see above)."""
    F, S = merge_matrices(n, 'stack', groups)
    return {'F_out': F, 'F_in': S, 'T_out': S, 'T_in': F}


def depth_matrices(n_layer, pairing='stack'):
    """The paper's depth operators: R (L/2, L) averages paired layers, G (L, L/2) copies back."""
    R, G = merge_matrices(n_layer, pairing)
    return {'R': R, 'G': G}


def apply_along(M, t, axis):
    """The product M @ t taken along one axis of t: M (m, n), t.shape[axis] == n."""
    moved = t.movedim(axis, 0)
    out = M.to(t.device) @ moved.reshape(moved.shape[0], -1)
    return out.reshape(M.shape[0], *moved.shape[1:]).movedim(0, axis)


def feature_axes(model, name):
    """The FEATURE_AXES entry of a parameter; block parameters are named blocks.<i>.<rest>."""
    table = model.FEATURE_AXES
    if name.startswith('blocks.'):
        name, table = name.split('.', 2)[2], BLOCK_FEATURE_AXES
    if name not in table:
        raise KeyError(f"parameter {name} has no entry in {type(model).__name__}'s feature axes")
    return table[name]


def resize_width(model, t, name, shrink):
    """Coalesce (shrink) or de-coalesce one parameter tensor along each of its feature axes."""
    for axis, role in enumerate(feature_axes(model, name)):
        if role is None:
            continue
        n = t.shape[axis] if shrink else 2 * t.shape[axis]  # the big model's size of the axis
        m = width_matrices(n, groups=3 if role == 'qkv' else 1)
        if role in ('out', 'qkv'):   # left of W:  F_out @ W  or  T_out @ W
            M = m['F_out'] if shrink else m['T_out']
        else:                        # right of W: W @ F_in  or  W @ T_in, transposed onto the axis
            M = (m['F_in'] if shrink else m['T_in']).T
        if name.startswith(f"{model.TIED_HEAD_LN}."):  # a LayerNorm's one axis takes the factor
            M = 2 * M if shrink else M / 2
        t = apply_along(M, t, axis)
    return t


def resize_depth(state, big_n_layer, pairing, shrink, copies='half'):
    """Stack each block parameter over the layers (L, ...) and apply R (shrink) or G (grow).
    The residual writes (model.BLOCK_RESIDUAL_WRITES: the output projections, whose results are
    added to the stream) depend on `copies`, how a grown layer shares the work of its pair:
      'half'      each copy writes half (G / 2), and coalescing sums the pair's writes (2 R), so
                  R @ G = I still holds: like T_in splitting a feature's input evenly in width;
      'full'      each copy writes all of it: G and R as for every other parameter (the paper);
      'identity'  growing only: the second layer of each pair writes nothing, so it is the identity
                  and the grown model computes exactly what the small one did."""
    R, G = depth_matrices(big_n_layer, pairing).values()
    suffixes = {k.split('.', 2)[2] for k in state if k.startswith('blocks.')}
    for suffix in suffixes:
        n_layer = big_n_layer if shrink else big_n_layer // 2  # the layers stacked now
        stacked = torch.stack([state.pop(f'blocks.{i}.{suffix}') for i in range(n_layer)])
        halved = copies == 'half' and suffix in BLOCK_RESIDUAL_WRITES
        M = (2 * R if halved else R) if shrink else (G / 2 if halved else G)
        for i, layer in enumerate(apply_along(M, stacked, 0)):
            state[f'blocks.{i}.{suffix}'] = layer
    if copies == 'identity' and not shrink:
        for _, second in pairs(big_n_layer, pairing):
            for suffix in BLOCK_RESIDUAL_WRITES:
                name = f'blocks.{second}.{suffix}'
                state[name] = torch.zeros_like(state[name])
    return state


def check_halving(config, width, depth, names=('width', 'depth')):
    """A ValueError saying why config's shape cannot be halved as asked; `names` are how the
    caller calls the width and depth choices, for the advice."""
    if width and config.n_head % 2:
        raise ValueError(f"width coalescing halves n_head and n_embd together so the head size "
                         f"stays {config.n_embd // config.n_head}; n_head={config.n_head} is odd: "
                         f"choose an even n_head or pass {names[0]}=False")
    if width and config.n_embd % config.n_head:
        raise ValueError(f"n_embd={config.n_embd} is not a multiple of n_head={config.n_head}: "
                         f"the head size must be a whole number")
    if depth and config.n_layer < 2:
        raise ValueError(f"depth coalescing needs at least 2 layers: pass {names[1]}=False")
    if depth and config.n_layer % 2:
        raise ValueError(f"depth coalescing merges pairs of layers; n_layer={config.n_layer} is "
                         f"odd: choose an even n_layer or pass {names[1]}=False")


def check_resize(depth_pairing, depth_copies):
    """A ValueError unless depth_pairing and depth_copies name a pairing and a way of copying."""
    if depth_pairing not in DEPTH_PAIRINGS:
        raise ValueError(f"depth_pairing must be one of {DEPTH_PAIRINGS}, got {depth_pairing!r}")
    if depth_copies not in DEPTH_COPIES:
        raise ValueError(f"depth_copies must be one of {DEPTH_COPIES}, got {depth_copies!r}")


def resize_state(model, state, width, depth, depth_pairing, shrink, depth_copies='half'):
    """{name: tensor} of `model`'s parameters coalesced (shrink) or de-coalesced, in float64 (exact:
    the matrices hold only 0, 1/2, 1, 2). `model` gives the class and config only (it may be on
    the meta device)."""
    check_resize(depth_pairing, depth_copies)
    if shrink:
        check_halving(model.config, width, depth)
    state = {name: t.double() for name, t in state.items()}
    if width:
        state = {name: resize_width(model, t, name, shrink) for name, t in state.items()}
    if depth:
        big_n_layer = model.config.n_layer * (1 if shrink else 2)
        state = resize_depth(state, big_n_layer, depth_pairing, shrink, depth_copies)
    return state


def resized_config(config, width, depth, shrink):
    """The model config a level down (shrink) or up: n_embd and n_head (width), n_layer (depth)."""
    scale = (lambda n: n // 2) if shrink else (lambda n: n * 2)
    return replace(config, n_embd=scale(config.n_embd) if width else config.n_embd,
                   n_head=scale(config.n_head) if width else config.n_head,
                   n_layer=scale(config.n_layer) if depth else config.n_layer)


def resize(model, width, depth, depth_pairing, shrink, depth_copies='half'):
    state = resize_state(model, model.state_dict(), width, depth, depth_pairing, shrink,
                         depth_copies)
    return build(model, resized_config(model.config, width, depth, shrink), state)


def build(model, config, state):
    """A new model of model's class and config holding `state` (cast to model's dtype and device).
    Built on the meta device, so it draws no random numbers and allocates nothing twice."""
    p = next(model.parameters())
    with torch.device('meta'):
        new = type(model)(config)
    new.load_state_dict({k: v.to(p.device, p.dtype) for k, v in state.items()}, assign=True)
    return new.train(model.training)


def coalesce(model, width=True, depth=True, depth_pairing='stack', depth_copies='half'):
    """A new model of the same class with half the width and/or half the depth. depth_copies
    (see resize_depth) must match the de-coalescing that will undo it."""
    return resize(model, width, depth, depth_pairing, shrink=True, depth_copies=depth_copies)


def decoalesce(model, width=True, depth=True, depth_pairing='stack', depth_copies='half'):
    """A new model of the same class with twice the width and/or twice the depth. coalesce(
    decoalesce(m)) == m for depth_copies 'half' and 'full'; with 'identity' the grown model computes
    exactly m's function instead (the residual writes of the second layers are zero)."""
    return resize(model, width, depth, depth_pairing, shrink=False, depth_copies=depth_copies)


def split_unevenly(model, skew=0.0, noise=0.0, complementary=0.0, generator=None):
    """Break the symmetry of a width-grown model without changing its function. De-coalescing
    splits a merged input weight U evenly, U/2 and U/2, over the pair of inputs (i, i + n/2) that
    it feeds: the outgoing weights of the two copies of a feature. Here the two get
      U/2 (1 + skew) + e  and  U/2 (1 - skew) - e,  e Gaussian with noise x the weight's RMS
                          (skew: unequal splits; noise: HyperCloning's +-noise pairs), or
      U - N  and  N,      N Gaussian with complementary x U's RMS (LEMON's complementary split:
                          one copy carries the feature, the other starts small and random).
    The pair's inputs are equal in a grown model, so every output stays the same, and coalescing,
    which sums the pair, gives the same small model back. A scalar split (skew alone) keeps the two
    copies' gradients proportional, which Adam's update ignores; the random ones do not. Returns a
    new model."""
    if complementary and (skew or noise):
        raise ValueError("a complementary split replaces skew and noise: give one or the other")
    state = {}
    for name, t in model.state_dict().items():
        t = t.detach().clone()
        for axis, role in enumerate(feature_axes(model, name)):
            if role == 'in':
                first, second = t.movedim(axis, 0).chunk(2)  # views of the two halves of the axis
                rms = first.pow(2).mean().sqrt()
                gaussian = torch.randn(first.shape, generator=generator).to(t)
                if complementary:  # first + second = U = 2 first; make them U - N and N
                    delta = first - complementary * 2 * rms * gaussian
                else:
                    delta = skew * first + noise * rms * gaussian
                first += delta
                second -= delta
        state[name] = t
    return build(model, copy.deepcopy(model.config), state)


def second_copies(model, width, depth, depth_pairing='stack'):
    """{name: bool tensor} marking the entries of a grown model's parameters that de-coalescing
    made as the second copy of a pair: those on a feature in the second half of a feature axis
    (i + n/2, within each of q, k, v), and every parameter of the second layer of a layer pair."""
    second_layers = {b for _, b in pairs(model.config.n_layer, depth_pairing)} if depth else set()
    masks = {}
    for name, p in model.named_parameters():
        mask = torch.zeros(p.shape, dtype=torch.bool, device=p.device)
        for axis, role in enumerate(feature_axes(model, name) if width else ()):
            if role is not None:
                block = p.shape[axis] // (3 if role == 'qkv' else 1)
                second = torch.arange(p.shape[axis], device=p.device) % block >= block // 2
                mask |= second.view([-1 if a == axis else 1 for a in range(p.dim())])
        if name.startswith('blocks.') and int(name.split('.')[1]) in second_layers:
            mask[...] = True
        masks[name] = mask
    return masks


def pair_cosine(model):
    """The mean cosine similarity between the input weights of the two features of each pair
    (i, i + n/2), over every weight matrix that produces features: 1 right after width
    de-coalescing, lower as the copies move apart."""
    cosines = []
    for name, p in model.named_parameters():
        for axis, role in enumerate(feature_axes(model, name) if p.dim() >= 2 else ()):
            if role in ('out', 'qkv'):
                groups = 3 if role == 'qkv' else 1  # (group, copy, feature, inputs)
                half = p.shape[axis] // groups // 2
                rows = p.detach().float().movedim(axis, 0).reshape(groups, 2, half, -1)
                cosines.append(torch.cosine_similarity(rows[:, 0], rows[:, 1], dim=-1).flatten())
    return torch.cat(cosines).mean().item()


def correct(kept, grown, beta, width=True, depth=True, depth_pairing='stack', depth_copies='half'):
    """The coarse-grid correction of multigrid, an alternative to `interpolate` on the way up. With
    C = coalesce, D = decoalesce, theta_1 the kept M_1 and grown = D(theta_2):
        M_1 = D(theta_2) + beta (theta_1 - D(C(theta_1)))
    beta = 1 is theta_1 + D(theta_2 - C(theta_1)): M_1 receives exactly what M_2 learned since
    coalescing and keeps its own fine detail, the part of it that C does not see; beta = 0 is the
    grown model alone (alpha = 1). The paper's blend (1 - alpha) theta_1 + alpha D(theta_2) also
    puts back (1 - alpha) D(C(theta_1)), the coarse part as it stood before M_2 trained.
    Computed in float64; returns a new model."""
    resize = dict(width=width, depth=depth, depth_pairing=depth_pairing, depth_copies=depth_copies)
    theta_1 = kept.state_dict()
    with torch.device('meta'):  # M_2's class and config: shapes only
        small = type(kept)(resized_config(kept.config, width, depth, shrink=True))
    coarse = resize_state(small, resize_state(kept, theta_1, shrink=True, **resize), shrink=False,
                          **resize)
    state = {k: v.double() + beta * (theta_1[k].double() - coarse[k])
             for k, v in grown.state_dict().items()}
    return build(kept, copy.deepcopy(kept.config), state)


def check_alpha(alpha):
    """A ValueError unless 0 <= alpha <= 1: interpolation blends, it does not extrapolate."""
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")


def interpolate(a, b, alpha):
    """A new model with every parameter (1 - alpha) * a + alpha * b (alpha=0: a, alpha=1: b)."""
    if type(a) is not type(b):
        raise ValueError(f"cannot interpolate a {type(a).__name__} with a {type(b).__name__}")
    if a.config != b.config:
        raise ValueError(f"cannot interpolate models of different shapes: {a.config} vs {b.config}")
    check_alpha(alpha)
    sb = b.state_dict()
    state = {k: (1 - alpha) * v + alpha * sb[k] for k, v in a.state_dict().items()}
    return build(a, copy.deepcopy(a.config), state)


def demo():
    from model import GPT, GPTConfig
    torch.manual_seed(0)
    torch.set_printoptions(precision=2, linewidth=120)
    print("Width matrices for an axis of size n = 4 (pairs (0,2) and (1,3)):")
    for k, M in width_matrices(4).items():
        print(f"{k} {tuple(M.shape)}:\n{M}")
    m = width_matrices(4)
    print("F_out @ T_out = I:",
          torch.equal(m['F_out'] @ m['T_out'], torch.eye(2, dtype=torch.float64)))
    d = depth_matrices(4, 'stack')
    print(f"\nDepth matrices for 4 layers, 'stack' pairing (layer i with i + 2):\n"
          f"R {tuple(d['R'].shape)}:\n"
          f"{d['R']}\nG {tuple(d['G'].shape)}:\n{d['G']}")
    print("R @ G = I:", torch.equal(d['R'] @ d['G'], torch.eye(2, dtype=torch.float64)))
    print("'adjacent' pairing (2i with 2i + 1), R:\n", depth_matrices(4, 'adjacent')['R'], sep='')

    small = GPT(GPTConfig(block_size=16, vocab_size=50, n_layer=2, n_head=2, n_embd=16))
    big = decoalesce(small)
    idx = torch.randint(50, (3, 16))
    print(f"\nA tiny GPT {small.config.n_layer}L x {small.config.n_embd}, {small.num_params()} "
          f"parameters; de-coalesced: {big.config.n_layer}L x {big.config.n_embd}, "
          f"{big.num_params()} parameters.")
    for name, (w, dp) in {'width': (True, False), 'depth': (False, True),
                          'both': (True, True)}.items():
        m = decoalesce(small, width=w, depth=dp)
        back = coalesce(m, width=w, depth=dp)
        err = max((p - q).abs().max().item() for p, q in zip(small.parameters(), back.parameters()))
        out = (m(idx)[0] - small(idx)[0]).abs().max().item()
        print(f"  {name:5s}: coalesce(decoalesce(m)) vs m, max |diff| = {err:.1e};"
              f"  logits of decoalesce(m) vs m, max |diff| = {out:.1e}"
              + ("  (copying layers changes the function by design)" if dp else ""))
    a, b = big, decoalesce(small, depth_pairing='adjacent')
    for alpha in (0.0, 1.0):
        mix = interpolate(a, b, alpha)
        expected = a if alpha == 0 else b
        same = all(torch.equal(p, q) for p, q in zip(mix.parameters(), expected.parameters()))
        print(f"interpolate(a, b, {alpha}) equals {'a' if alpha == 0 else 'b'} exactly: {same}")


if __name__ == '__main__':
    demo()
