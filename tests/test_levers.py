"""The levers of the way up and the schedule, each exact where it claims to be: the coarse-grid
correction, the complementary split, the second copies' ramp, warmup-stable-decay, muP's per-group
lr, dropout after the return, one halving per level, and the diagnostics logged at level changes."""
import signal
from dataclasses import asdict, replace

import pytest
import torch

import levers
import step
import train
from baseline import baseline_name, baseline_of
from coalesce import (coalesce, correct, decoalesce, interpolate, pair_cosine, resize_state,
                      second_copies, split_unevenly)
from conftest import (ARCHS, MODES, RESIZES, assert_same_run, inputs, make, max_abs_diff, read_log,
                      run_until, tiny_args)
from model import set_dropout
from schedule import Change, Stage, locate, plan_stages
from step import NonFiniteWatch, build_optimizer, set_lr, train_step


def resize_of(mode, pairing='stack', copies='half'):
    width, depth = MODES[mode]
    return dict(width=width, depth=depth, depth_pairing=pairing, depth_copies=copies)


@pytest.mark.parametrize('arch', ARCHS)
@pytest.mark.parametrize('mode, pairing, copies', RESIZES)
def test_correction_returns_what_m2_learned(arch, mode, pairing, copies):
    """beta = 0 is alpha = 1 exactly; if M_2 learned nothing (theta_2 = C theta_1) the correction
    gives theta_1 back; and beta = 1 is theta_1 + D(theta_2 - C theta_1), in float64."""
    resize = resize_of(mode, pairing, copies)
    kept = make(arch, n_layer=4, n_head=4, n_embd=32).double()
    small = make(arch, n_layer=2 if resize['depth'] else 4, n_head=2 if resize['width'] else 4,
                 n_embd=16 if resize['width'] else 32, seed=1).double()
    grown = decoalesce(small, **resize)
    zero = correct(kept, grown, 0.0, **resize)
    assert max_abs_diff(zero.state_dict(), interpolate(kept, grown, 1.0).state_dict()) == 0
    unchanged = correct(kept, decoalesce(coalesce(kept, **resize), **resize), 1.0, **resize)
    assert max_abs_diff(unchanged.state_dict(), kept.state_dict()) <= 1e-12
    coarse = coalesce(kept, **resize).state_dict()
    learned = {k: small.state_dict()[k] - v for k, v in coarse.items()}
    delta = resize_state(small, learned, shrink=False, **resize)  # D(theta_2 - C theta_1)
    one = correct(kept, grown, 1.0, **resize).state_dict()
    expected = {k: v + delta[k] for k, v in kept.state_dict().items()}
    assert max_abs_diff(one, expected) <= 1e-10


@pytest.mark.parametrize('arch', ARCHS)
def test_complementary_split_keeps_the_function_and_breaks_the_symmetry(arch):
    """U - N and N keep the logits and the round trip; the two copies of a hidden neuron then get
    gradients in different directions, while a scalar split (skew) keeps them parallel, which
    Adam's update ignores."""
    small = make(arch, n_layer=2, n_head=2, n_embd=16)
    grown = decoalesce(small, width=True, depth=False)
    x = inputs(arch)

    def pair_gradient_cosine(model):  # between the input weights of hidden neurons j and j + 2d
        model.zero_grad()
        model.train()
        logits, _ = model(x)
        (logits.float() ** 2).mean().backward()
        g = model.blocks[0].mlp.c_fc.weight.grad
        return torch.cosine_similarity(g[:g.shape[0] // 2], g[g.shape[0] // 2:], dim=1).min().item()
    for skew, complementary in ((0.3, 0.0), (0.0, 0.1)):
        split = split_unevenly(grown, skew=skew, complementary=complementary,
                               generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            assert (split(x)[0] - small(x)[0]).abs().max().item() <= 1e-5
        back = coalesce(split, width=True, depth=False)
        assert max_abs_diff(back.state_dict(), small.state_dict()) <= 1e-6
        cos = pair_gradient_cosine(split)
        if skew:
            assert cos > 1 - 1e-4  # proportional: Adam moves both copies alike
        else:
            assert cos < 0.9
    with pytest.raises(ValueError, match='replaces skew and noise'):
        split_unevenly(grown, skew=0.1, complementary=0.1)


def test_second_copies_mark_the_second_half_of_each_axis_and_the_second_layers():
    big = decoalesce(make('gpt', n_layer=2, n_head=2, n_embd=16), width=True, depth=True)  # 4 x 32
    masks = second_copies(big, width=True, depth=True, depth_pairing='stack')
    # (96, 32): rows q, k, v of 32 each, paired within each
    qkv = masks['blocks.0.attn.c_attn.weight']
    rows = torch.tensor([(i % 32) >= 16 for i in range(96)])
    assert torch.equal(qkv, rows[:, None] | (torch.arange(32) >= 16)[None, :])
    # second layers
    assert masks['blocks.2.ln_1.weight'].all() and masks['blocks.3.mlp.c_fc.bias'].all()
    assert torch.equal(masks['wte.weight'][0], torch.arange(32) >= 16)
    assert not masks['wte.weight'][:, :16].any()
    assert not second_copies(big, width=False, depth=True)['blocks.1.attn.c_attn.weight'].any()


def test_ramp_moves_the_second_copies_a_fraction_of_their_update(tiny_corpus, tmp_path):
    """new_copy_ramp's first step moves the second copies 1/ramp of the update they would make,
    every other entry all of it; carried moments of the second copies start from zero; out of the
    stage, the step is the plain one again."""
    cfg = train.parse_args(tiny_args(tiny_corpus, tmp_path, levels=1, up_steps=4, lr=3e-3))
    env = train.setup_env(cfg)
    # 4 x 32, as a width and depth grown model
    batches, model = train.build_data_and_model(cfg, env)
    change = Change(upper=1, down=False, width=True, depth=True, new_copy_ramp=4)
    stage = Stage(level=1, phase='up', steps=4, micro_batch=4, change=change)
    masks = second_copies(model, width=True, depth=True)
    start = {k: v.clone() for k, v in model.state_dict().items()}

    def one_step(stage, optimizer=None, step=0):
        optimizer = optimizer or build_optimizer(model, cfg)
        with levers.around_steps(stage, model, optimizer, step):
            train_step(model, optimizer, batches, 0, 1e-3, micro_batch=4, env=env,
                       grad_clip=cfg.grad_clip, watch=NonFiniteWatch('cpu'))
        return optimizer, {k: v.clone() for k, v in model.state_dict().items()}
    _, full = one_step(Stage(micro_batch=4))
    model.load_state_dict(start)
    optimizer, ramped = one_step(stage)
    for name in start:
        update = full[name] - start[name]
        expected = torch.where(masks[name], update / 4, update)
        torch.testing.assert_close(ramped[name] - start[name], expected, rtol=0, atol=1e-7)
    assert 0 < sum(m.sum().item() for m in masks.values()) < sum(m.numel() for m in masks.values())
    assert not optimizer._optimizer_step_pre_hooks and not optimizer._optimizer_step_post_hooks
    moments = {p: optimizer.state[p]['exp_avg'].clone() for p in model.parameters()}
    # resumed inside the ramp: moments as they are
    with levers.around_steps(stage, model, optimizer, 2):
        assert all(torch.equal(optimizer.state[p]['exp_avg'], m) for p, m in moments.items())
    # carried into the stage: second copies zeroed
    with levers.around_steps(stage, model, optimizer, 0):
        for name, p in model.named_parameters():
            zeroed = moments[p].masked_fill(masks[name], 0)
            assert torch.equal(optimizer.state[p]['exp_avg'], zeroed)
            assert optimizer.state[p]['exp_avg_sq'][masks[name]].eq(0).all()


RAMP = dict(down_steps=6, up_steps='8,10', checkpoint_interval=5, coalesce_depth=False,
            carry_optimizer=True, new_copy_ramp=6, split_complementary=0.05, return_dropout=0.2,
            transition_warmup=4, decay_steps=5)


def test_levers_in_a_run_are_used_and_resume_bitwise(tiny_corpus, tmp_path):
    """A run with the ramp, carried state, a complementary split, dropout after the return and
    warmup-stable-decay differs from one without them, and a kill inside the ramp resumes
    bitwise."""
    reference, plain = tmp_path / 'reference', tmp_path / 'plain'
    assert train.cli(tiny_args(tiny_corpus, reference, **RAMP)) == 0
    without = dict(RAMP, new_copy_ramp=0, return_dropout=0.0)
    assert train.cli(tiny_args(tiny_corpus, plain, **without)) == 0
    assert read_log(reference)[-1]['val_loss'] != read_log(plain)[-1]['val_loss']
    killed = tmp_path / 'killed'
    args = tiny_args(tiny_corpus, killed, **RAMP)
    # the way up's second step
    assert run_until('step', 17, 'SIGKILL', args).returncode == -signal.SIGKILL
    assert train.cli(args + ['--resume']) == 0
    assert_same_run(killed, reference)


def test_return_dropout_lasts_the_warmup(tiny_corpus, tmp_path, monkeypatch):
    seen = []
    original = step.train_step
    args = tiny_args(tiny_corpus, tmp_path, return_dropout=0.3, transition_warmup=3)
    stages = plan_stages(train.parse_args(args))

    def spy(model, optimizer, batches, iteration, *rest, **kwargs):
        stage, step = locate(stages, iteration)
        block = model.blocks[0]
        seen.append((stages.index(stage), step, block.drop.p, block.attn.dropout))
        return original(model, optimizer, batches, iteration, *rest, **kwargs)
    monkeypatch.setattr(step, 'train_step', spy)
    cycle = train.main(args)
    up = [(step, p, q) for stage, step, p, q in seen if stage == 2]
    assert all(p == q == (0.3 if step < 3 else 0.0) for step, p, q in up) and len(up) == 8
    assert all(p == q == 0.0 for stage, _, p, q in seen if stage < 2)
    assert cycle.model.blocks[0].drop.p == 0.0
    set_dropout(cycle.model, 0.5)
    assert all(m.p == 0.5 for m in cycle.model.modules() if isinstance(m, torch.nn.Dropout))


def test_warmup_stable_decay_holds_the_peak_until_the_last_steps():
    cfg = train.parse_args(['--levels=2', '--down_steps=10', '--up_steps=100,30', '--warmup=5',
                            '--transition_warmup=4', '--lr=1e-3,2e-3', '--decay_steps=20'])
    up = plan_stages(cfg)[-1]
    assert [up.lr_at(s) for s in (4, 50, 79, 80)] == [1e-3] * 4
    halfway = 0.5 * (1 + torch.cos(torch.tensor(torch.pi / 2)).item())  # the cosine's midpoint
    assert up.lr_at(90) == pytest.approx(1e-4 + 0.9e-3 * halfway)
    assert up.lr_at(100) == pytest.approx(1e-4)
    # 0: the whole stage after the warmup, as before
    full = plan_stages(replace(cfg, decay_steps=0))[-1]
    assert full.lr_at(4) == 1e-3 and full.lr_at(52) == pytest.approx(5.5e-4)
    baseline = baseline_of(replace(cfg, baseline_decay=0.0), 140, 'out')
    assert baseline.decay_steps == 0 and not baseline.mup_lr and baseline.return_rule == ()
    # as bench --jobs passes it
    assert train.parse_args([f'--{k}={v!r}' for k, v in asdict(baseline).items()]) == baseline


def test_the_baseline_decays_over_the_recipes_fraction_of_its_steps():
    """baseline_decay 0.2: the baseline (and every frontier budget) holds its peak lr and decays
    over
    its own last 20%, the cycle itself unchanged; 0 decays over every step after the warmup."""
    cfg = train.parse_args(['--levels=2', '--down_steps=10', '--up_steps=100,30', '--warmup=5',
                            '--lr=1e-3,2e-3',
                            '--baseline_lr=4e-3', '--baseline_decay=0.2'])
    assert plan_stages(cfg) == plan_stages(replace(cfg, baseline_decay=0.0))
    for steps, decay_steps in ((140, 28), (862, 172), (2, 1)):
        baseline = baseline_of(cfg, steps, 'out')
        assert (baseline.decay_steps, baseline.baseline_decay) == (decay_steps, 0.0)
        assert baseline.lr == (4e-3,)
        assert train.parse_args([f'--{k}={v!r}' for k, v in asdict(baseline).items()]) == baseline
    (stage,) = plan_stages(baseline_of(cfg, 140, 'out'))
    assert [stage.lr_at(s) for s in (5, 60, 111, 112)] == [4e-3] * 4
    assert stage.lr_at(113) < 4e-3 and stage.lr_at(140) == pytest.approx(4e-4)
    (cosine,) = plan_stages(baseline_of(replace(cfg, baseline_decay=0.0), 140, 'out'))
    assert cosine.lr_at(6) < 4e-3
    assert baseline_name(cfg) == 'lr 0.004, decay over the last 20%'
    assert baseline_name(replace(cfg, baseline_decay=0.0, baseline_lr=0.0)) == 'lr 0.001'


def test_mup_lr_scales_the_narrow_levels_hidden_matrices(tiny_corpus, tmp_path):
    """The plan gives each level d_1 / d_l (a 3-level cycle halving the width, then the depth:
    1, 2, 2), the optimizer trains the narrow level's block matrices at that times the lr."""
    cfg = train.parse_args(tiny_args(tiny_corpus, tmp_path, mup_lr=True, levels=3, down_steps='2,2',
                                     up_steps=2, lr=3e-3, alpha=0.5, coalesce_width='True,False',
                                     coalesce_depth='False,True'))
    assert [(s.level, s.hidden_lr_scale) for s in plan_stages(cfg)] == [
        (1, 1.0), (2, 2.0), (3, 2.0), (2, 2.0), (1, 1.0)]
    assert {s.hidden_lr_scale for s in plan_stages(replace(cfg, mup_lr=False))} == {1.0}
    env = train.setup_env(cfg)
    _, big = train.build_data_and_model(cfg, env)
    small = coalesce(big, depth=False)  # half the width
    for model, scale in ((big, None), (small, 2.0)):
        optimizer = build_optimizer(model, cfg, scale or 1.0)
        scales = {id(p): g.get('lr_scale') for g in optimizer.param_groups for p in g['params']}
        for name, p in model.named_parameters():
            hidden = p.dim() >= 2 and name.startswith('blocks.')
            assert scales[id(p)] == (scale if hidden else None), name
        set_lr(optimizer, 1e-3)
        assert {g['lr'] for g in optimizer.param_groups} == ({1e-3, 2e-3} if scale else {1e-3})


def test_one_halving_per_level(tiny_corpus, tmp_path):
    """A 3-level cycle that halves the depth, then the width: M_2 = 2 x 32, M_3 = 2 x 16."""
    args = tiny_args(tiny_corpus, tmp_path, levels=3, down_steps='3,3', up_steps='4,4,6', lr='3e-3',
                     coalesce_depth='True,False', coalesce_width='False,True', alpha='0.5,0.5')
    cycle = train.main(args)
    shapes = {}
    for level in (1, 2, 3):
        c = torch.load(tmp_path / f'model_level{level}.pt')['config']
        shapes[level] = (c['n_layer'], c['n_embd'])
    assert shapes == {1: (4, 32), 2: (2, 32), 3: (2, 16)} and cycle.model.config.n_embd == 32
    log = read_log(tmp_path)
    # width grew into M_2
    assert [('pair_cosine' in r) for r in log if r['level'] == 2 and r['phase'] == 'up'][0]
    # depth grew into M_1
    assert not any('pair_cosine' in r for r in log if r['level'] == 1)


def test_level_changes_log_their_diagnostics(tiny_corpus, tmp_path):
    """Steps 10 and 50 of a stage after a level change are logged whatever the eval interval, and
    after width growth the pair cosine. With alpha 1 and an even split, the copies of every feature
    stay exactly equal under Adam (cosine 1 throughout); a complementary split separates them."""
    for name, split in (('even', 0.0), ('complementary', 0.1)):
        train.main(tiny_args(tiny_corpus, tmp_path / name, down_steps=4, up_steps='60,12',
                             coalesce_depth=False, alpha=1.0, eval_interval=1000, lr='1e-2,6e-3',
                             split_complementary=split))
    log = read_log(tmp_path / 'even')
    assert [(r['stage'], r['step']) for r in log] == [(0, 0), (0, 4), (1, 0), (1, 10), (1, 12),
                                                      (2, 0), (2, 10), (2, 50), (2, 60)]
    assert [r['pair_cosine'] for r in log if r['stage'] == 2] == pytest.approx([1.0] * 4, abs=1e-6)
    assert not any('pair_cosine' in r for r in log if r['stage'] < 2)
    split = [r['pair_cosine'] for r in read_log(tmp_path / 'complementary') if r['stage'] == 2]
    # apart from the start, and moving further apart
    assert split[0] < 1 - 1e-3 and max(split[1:]) < 0.9
    wide_vit = decoalesce(make('vit', n_layer=2, n_head=2, n_embd=16), depth=False)
    assert pair_cosine(wide_vit) == pytest.approx(1, abs=1e-6)


@pytest.mark.parametrize('overrides, message', [
    (dict(return_rule='average'), "return_rule must be one of ('interpolate', 'correct')"),
    (dict(return_rule='correct', carry_optimizer=True), 'carry_optimizer goes with return_rule'),
    (dict(split_complementary=0.1, split_skew=0.1), 'split_complementary replaces'),
    (dict(beta=-1.0), 'beta must be >= 0'),
    (dict(return_dropout=1.0), 'return_dropout must lie in [0, 1)'),
    (dict(coalesce_width='False,True', coalesce_depth='False,True', levels=3, up_steps='2,2,2',
          lr=1e-3, alpha='0.5,0.5'), 'every level change must halve something'),
])
def test_bad_lever_settings(tiny_corpus, tmp_path, overrides, message, capsys):
    assert train.cli(tiny_args(tiny_corpus, tmp_path / 'out', **overrides)) == 2
    err = capsys.readouterr().err
    assert err.startswith('error: ') and err.count('\n') == 1 and message in err, err
