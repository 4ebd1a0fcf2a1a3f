"""bench.py and report.py: first reach, the frontier, seed aggregation, the growth setting, a tiny
end-to-end bench, and the report re-read from its results."""
import ast
import importlib.util
import json
import math
import re
from dataclasses import replace
from pathlib import Path

import pytest
import torch

import bench
import pool
import report
import train
from baseline import baseline_folder, baseline_of
from coalesce import coalesce, decoalesce
from conftest import ROOT, read_log, tiny_args
from schedule import plan_stages, stage_costs, total_steps
from checkpoint import model_from_record
from levers import small_model
from step import evaluate


def rec(level, stage, flops, time_s, val, tokens=0):
    return dict(level=level, stage=stage, flops=flops, time_s=time_s, val_loss=val, tokens=tokens)


def test_first_reach_interpolates_on_the_full_model_only():
    # the small model is below target: ignored
    log = [rec(1, 0, 0, 0, 5.0), rec(2, 1, 10, 1, 1.0),
           rec(1, 2, 20, 2, 3.0), rec(1, 2, 40, 6, 1.0)]
    assert report.first_reach(log, 2.0) == (30.0, 4.0)             # halfway between the last two
    assert report.first_reach(log, 0.5) is None


def test_frontier_cost_interpolates_on_log_cost():
    # budgets 1e12 -> 2.0, 4e12 -> 1.0, 16e12 -> 0.5: a loss of 1.5 lies halfway between the
    # first two
    # on log FLOPs, so it costs sqrt(1e12 * 4e12) = 2e12
    points = [(4e12, 1.0), (1e12, 2.0), (16e12, 0.5)]
    assert report.frontier_cost(points, 1.5) == pytest.approx(2e12)
    assert report.frontier_cost(points, 0.75) == pytest.approx(8e12)
    assert report.frontier_cost(points, 1.0) == pytest.approx(4e12)
    assert report.frontier_cost(points, 2.0) == pytest.approx(1e12)
    # never extrapolated
    assert report.frontier_cost(points, 2.5) is None and report.frontier_cost(points, 0.4) is None
    # a larger budget that ended higher is not on the frontier: 1.0 is bought by 4e12 already
    assert report.frontier_cost(points + [(8e12, 1.2)], 0.75) == pytest.approx(8e12)
    # an arm at 1e12 FLOPs reaching 1.5 saves 1 - 1e12 / 2e12 = 50%
    assert report.saving_pct(1e12, report.frontier_cost(points, 1.5)) == pytest.approx(50.0)
    assert report.saving_pct(1e12, None) is None


def test_the_saving_read_on_accuracy():
    """A ViT's saving at its final accuracy: the frontier read on accuracy, higher being better."""
    frontier = [dict(flops=1e12, val_acc=0.4), dict(flops=4e12, val_acc=0.6),
                dict(flops=16e12, val_acc=0.7)]
    # 0.5 lies halfway between 0.4 and 0.6 on log FLOPs: 2e12; the arm spends 1e12, saving 50%
    assert report.accuracy_saving(dict(flops=1e12, val_acc=0.5), frontier) == pytest.approx(50.0)
    assert report.accuracy_saving(dict(flops=10e12, val_acc=0.65), frontier) == pytest.approx(
        100 * (1 - 10 / 8))                                 # 0.65 costs 8e12: 25% more
    assert report.accuracy_saving(dict(flops=1e12, val_acc=0.8), frontier) is None  # off it
    assert report.accuracy_saving(dict(flops=1e12, val_loss=2.0), frontier) is None  # no accuracy


def test_frontier_loss_interpolates_on_log_cost():
    points = [(4e12, 1.0), (1e12, 2.0), (16e12, 0.5)]
    assert report.frontier_loss(points, 2e12) == pytest.approx(1.5)
    assert report.frontier_loss(points, 8e12) == pytest.approx(0.75)
    assert report.frontier_loss(points, 1e12) == 2.0 and report.frontier_loss(points, 16e12) == 0.5
    assert report.frontier_loss(points, 0.9e12) is None      # never extrapolated
    assert report.frontier_loss(points, 17e12) is None
    # a larger budget that ended higher does not count: past 8e12, 8e12's loss
    assert report.frontier_loss([(1e12, 2.0), (8e12, 1.0), (16e12, 1.2)], 12e12) == 1.0
    assert report.frontier_loss([(1e12, 2.0), (8e12, 1.0), (16e12, 1.2)], 4e12) == \
        pytest.approx(2.0 - 2 / 3)


def test_figures_at_the_reference_loss_come_from_the_arms_own_frontier():
    """(b) the loss gaps at the reference's tokens and FLOPs and (c) the FLOPs to reach its loss,
    interpolated on the arm's own frontier, never extrapolated; reached at the smallest budget
    already, that budget's FLOPs as an upper bound."""
    ref = dict(flops=10.0, tokens=10.0, val_loss=2.0)
    own = [dict(budget=1.0, flops=7.0, tokens=10.0, val_loss=2.1),
           dict(budget=1.5, flops=10.5, tokens=15.0, val_loss=1.9)]
    baseline = [dict(flops=5.0, val_loss=2.4), dict(flops=10.0, val_loss=2.0),
                dict(flops=20.0, val_loss=1.6)]
    figures = report.at_reference(own, ref, baseline)
    assert figures['loss_gap_tokens'] == pytest.approx(0.1)   # the arm at 1x has ref's tokens
    at_ref_flops = 2.1 - 0.2 * math.log(10 / 7) / math.log(1.5)
    assert figures['loss_gap_flops'] == pytest.approx(at_ref_flops - 2.0)
    # 2.0 lies halfway between 2.1 and 1.9: sqrt(7 x 10.5) FLOPs on log FLOPs
    assert figures['reach_flops'] == pytest.approx(math.sqrt(7 * 10.5))
    assert figures['reach_flops_saved_pct'] == pytest.approx(100 * (1 - math.sqrt(73.5) / 10))
    assert not figures['reach_at_most'] and figures['largest_budget'] == 1.5
    # (a) at each budget: 2.1 is bought by 5 x 2^(0.75) FLOPs of plain training, 1.9 by 10 x ...
    assert figures['budget_flops_saved_pct']['1'] == pytest.approx(
        100 * (1 - 7 / (5 * 2 ** 0.75)))
    assert figures['budget_flops_saved_pct']['1.5'] == pytest.approx(
        100 * (1 - 10.5 / (10 * 2 ** 0.25)))
    above = [dict(p, val_loss=p['val_loss'] + 0.2) for p in own]
    assert report.at_reference(above, ref, baseline)['reach_flops'] is None   # not within 1.5x
    assert report.at_reference(above, ref, baseline)['loss_gap_flops'] == pytest.approx(
        at_ref_flops + 0.2 - 2.0)
    below = [dict(p, val_loss=p['val_loss'] - 0.2) for p in own]
    reach = report.at_reference(below, ref, baseline)
    assert (reach['reach_flops'], reach['reach_at_most']) == (7.0, True)
    # one budget only: no gap at equal FLOPs off its single point
    assert report.at_reference(own[:1], ref, baseline)['loss_gap_flops'] is None


def test_the_frontier_takes_each_budgets_lr_by_the_median_over_seeds():
    R = bench.Run
    def line(loss):
        return [dict(val_loss=loss, flops=1.0)]
    # at 10 steps lr factor 0.7 wins on two seeds of three; at 20 steps factor 1 wins the median
    logs = {R(1, bench.FRONTIER, steps=10, lr_factor=0.7): line(1.0),
            R(2, bench.FRONTIER, steps=10, lr_factor=0.7): line(1.1),
            R(3, bench.FRONTIER, steps=10, lr_factor=0.7): line(3.0),
            R(1, bench.FRONTIER, steps=10, lr_factor=1.0): line(1.2),
            R(2, bench.FRONTIER, steps=10, lr_factor=1.0): line(1.2),
            R(3, bench.FRONTIER, steps=10, lr_factor=1.0): line(0.5),
            **{R(s, bench.FRONTIER, steps=20, lr_factor=f): line(loss)
               for s in (1, 2, 3) for f, loss in ((0.7, 0.9), (1.0, 0.8))},
            R(1, 'an arm'): line(0.1)}
    frontier, table = bench.chosen_frontier(logs, [1, 2, 3])
    assert table == {10: {0.7: 1.1, 1.0: 1.2}, 20: {0.7: 0.9, 1.0: 0.8}}
    assert {s: {steps: p['lr_factor'] for steps, p in points.items()}
            for s, points in frontier.items()} == {s: {10: 0.7, 20: 1.0} for s in (1, 2, 3)}
    assert frontier[3][10]['val_loss'] == 3.0    # the chosen lr's run, not that seed's best


def test_median_range_ranks_missing_figures_lowest():
    assert report.median_range([3.0, 1.0, 2.0]) == (2.0, 1.0, 3.0)
    assert report.median_range([4.0, 1.0, 2.0, 3.0]) == (2.5, 1.0, 4.0)
    assert report.median_range([5.0, None, 2.0]) == (2.0, None, 5.0)       # one seed not reached
    assert report.median_range([5.0, None, None]) == (None, None, 5.0)      # most seeds not reached
    assert report.median_range([5.0, None, 2.0, 3.0]) == (2.5, None, 5.0)
    assert report.median_range([5.0, None, 2.0, None]) == (None, None, 5.0)


def test_aggregate_over_seeds():
    def row(name, loss, saved, reached):
        return dict(name=name, final_val_loss=loss, final_val_acc=None, total_flops=1.0,
                    flops_saved_pct=saved, time_saved_pct=saved,
                    first_reach_flops_saved_pct=reached, first_reach_time_saved_pct=reached)
    rows = {1: [row('a', 1.0, 30.0, 20.0), row('b', 2.0, -5.0, None)],
            2: [row('a', 1.2, 40.0, None), row('b', 2.2, 5.0, None)],
            3: [row('a', 1.1, 35.0, 25.0), row('b', 2.1, 0.0, 1.0)]}
    a, b = report.aggregate(rows)
    assert a['name'] == 'a' and a['seeds'] == 3 and a['first_reached'] == 2
    assert a['final_val_loss'] == dict(median=1.1, min=1.0, max=1.2)
    assert a['flops_saved_pct'] == dict(median=35.0, min=30.0, max=40.0)
    assert a['first_reach_flops_saved_pct'] == dict(median=20.0, min=None, max=25.0)
    assert b['first_reached'] == 1 and b['first_reach_flops_saved_pct']['median'] is None


def test_tokens_per_s_by_level():
    log = [rec(1, 0, 0, 0, 5, tokens=0), rec(1, 0, 0, 2, 4, tokens=100),
           rec(2, 1, 0, 2, 4, tokens=100), rec(2, 1, 0, 3, 3, tokens=400),
           rec(1, 2, 0, 3, 3, tokens=400), rec(1, 2, 0, 5, 2, tokens=500)]
    assert report.tokens_per_s_by_level(log) == {1: 200 / 4, 2: 300.0}


@pytest.mark.parametrize('levels, down, up', [(2, '6', '8,10'), (3, '4,3', '5,6,7')])
def test_growth_is_the_same_cycle_without_the_way_down(tiny_corpus, tmp_path, levels, down, up):
    cfg = train.parse_args(tiny_args(tiny_corpus, tmp_path, levels=levels, down_steps=down,
                                     up_steps=up,
                                     alpha=0.5, lr=3e-3, transition_warmup=3))
    growth = bench.growth_of(cfg)
    stages = [(s.level, s.phase, s.steps, s.warmup) for s in plan_stages(growth)]
    # the bottom trains a fresh model: the first stage's warmup (2), not a transition's (3)
    if levels == 2:
        assert stages == [(1, 'down', 0, 0), (2, 'bottom', 10, 2), (1, 'up', 14, 3)]
    else:
        assert stages == [(1, 'down', 0, 0), (2, 'down', 0, 0), (3, 'bottom', 7, 2),
                          (2, 'up', 9, 3), (1, 'up', 9, 3)]
    changes = levels - 1
    assert growth.alpha == (1.0,) * changes and growth.small_init == ('own',) * changes
    # width grows: break the copies' symmetry
    assert growth.split_noise == (bench.GROWTH_SPLIT_NOISE,) * changes
    depth_only = replace(cfg, coalesce_width=(False,) * changes)
    assert bench.growth_of(depth_only).split_noise == (0.0,) * changes
    noisy = replace(cfg, split_noise=(0.3,) * changes)
    assert bench.growth_of(noisy).split_noise == (0.3,) * changes
    assert total_steps(growth) == total_steps(cfg)
    step_flops = {s.level: 0 for s in plan_stages(cfg)}
    for stages_of, sign in ((plan_stages(cfg), 1), (plan_stages(growth), -1)):
        for s in stages_of:
            step_flops[s.level] += sign * s.steps
    assert set(step_flops.values()) == {0}  # the same steps at every level: the same FLOPs


@pytest.mark.parametrize('small_init', ['own', 'coalesce'])
def test_growth_trains_the_small_model_from_the_start(tiny_corpus, tmp_path, small_init):
    """M_1 takes no step before the level change: M_2 starts from its own initialization (growth's
    default) or from coalesce(M_1's init), and M_1 restarts from decoalesce(M_2) alone (alpha =
    1)."""
    recipe = train.parse_args(tiny_args(tiny_corpus, tmp_path, down_steps=6, up_steps='8,10'))
    cfg = replace(bench.growth_of(recipe),
                  small_init=(small_init,))
    train.run(cfg)
    log = read_log(tmp_path)
    assert [(r['level'], r['iter']) for r in log if r['level'] == 1][0] == (1, 0)
    # after M_2's 10 steps
    assert all(r['iter'] >= 10 for r in log if r['level'] == 1 and r['phase'] == 'up')
    assert not any(r['level'] == 1 and 0 < r['iter'] < 10 for r in log)
    env = train.setup_env(cfg)
    batches, fresh = train.build_data_and_model(cfg, env)
    halving = dict(width=cfg.coalesce_width[0], depth=cfg.coalesce_depth[0])
    # M_2's own initialization
    own = small_model(fresh, replace(plan_stages(cfg)[1].change, own_init=True))
    coalesced = coalesce(fresh, **halving)
    small_start, other_start = (coalesced, own) if small_init == 'coalesce' else (own, coalesced)
    bottom_first = next(r for r in log if r['level'] == 2)
    first_loss = bottom_first['val_loss']
    assert evaluate(small_start, batches, cfg, env)['val'] == pytest.approx(first_loss, abs=1e-6)
    # two untrained models' losses lie close (near ln 256): the other start must lie outside the
    # match's tolerance by a margin, not by 1e-3, for the match to tell them apart
    assert abs(evaluate(other_start, batches, cfg, env)['val'] - first_loss) > 1e-5
    small_end = model_from_record(torch.load(tmp_path / 'model_level2.pt'), 'cpu')
    up_first = next(r for r in log if r['phase'] == 'up')
    grown = decoalesce(small_end, **halving)
    assert evaluate(grown, batches, cfg, env)['val'] == pytest.approx(up_first['val_loss'],
                                                                       abs=1e-6)


def literal(text):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def write_recipe(path, args):
    """A config file holding train.py's --key=value arguments args."""
    pairs = (a[2:].split('=', 1) for a in args)
    path.write_text(''.join(f'{key} = {literal(value)!r}\n' for key, value in pairs))
    return path


# the reference baseline of the tiny recipes below
REFERENCE = 'baseline, lr 0.003, decay over the last 20%'


def test_tiny_bench_end_to_end(tiny_corpus, tmp_path, monkeypatch):
    recipe = tmp_path / 'tiny.py'
    args = tiny_args(tiny_corpus, tmp_path / 'bench', down_steps=4, up_steps='10,12',
                     eval_interval=2)
    write_recipe(recipe, args)
    real_run = train.run
    results = bench.main([str(recipe), '--baseline_lr=3e-3', '--n_seeds=2'])
    saved = json.loads((tmp_path / 'bench' / 'results.json').read_text())
    assert saved['seeds'] == [1337, 1338] and list(saved['logs']) == ['1337', '1338']
    names = [s['name'] for s in saved['summary']]
    assert names == [REFERENCE, 'V-cycle, 2 levels (tiny)', 'growth (tiny)']
    for seed in ('1337', '1338'):
        logs, frontier = saved['logs'][seed], saved['frontiers'][seed]
        assert logs[REFERENCE][-1]['iter'] == 4 + 10 + 12  # as many tokens as the V-cycle
        assert logs['growth (tiny)'][-1]['flops'] == logs['V-cycle, 2 levels (tiny)'][-1]['flops']
        # at least 4 budgets, FRONTIER_RATIO apart from the cheapest arm's FLOPs, past every arm's
        # final loss
        main_flops = logs['V-cycle, 2 levels (tiny)'][-1]['flops']
        assert len(frontier) >= 4
        assert frontier[0]['flops'] <= main_flops < frontier[0]['flops'] * 1.3
        assert all(b['steps'] / a['steps'] == pytest.approx(bench.FRONTIER_RATIO, rel=0.1)
                   for a, b in zip(frontier, frontier[1:]))
        assert min(p['val_loss'] for p in frontier) <= min(log[-1]['val_loss']
                                                           for log in logs.values())
        for row in saved['rows'][seed]:
            points = [(p['flops'], p['val_loss']) for p in frontier]
            cost = report.frontier_cost(points, row['final_val_loss'])
            expected = report.saving_pct(row['total_flops'], cost)
            assert row['flops_saved_pct'] == (pytest.approx(expected) if expected is not None
                                              else None)
    # the summary is the median over the two seeds' rows
    vcycle = results['summary'][1]
    per_seed = [next(r for r in results['rows'][s] if r['name'] == vcycle['name'])['final_val_loss']
                for s in (1337, 1338)]
    assert vcycle['final_val_loss']['median'] == pytest.approx(sum(per_seed) / 2)
    assert math.isfinite(vcycle['flops_saved_pct']['median'])
    # run again: every run is finished, so it is read, not trained, and the figures are the same
    monkeypatch.setattr(train, 'run', lambda cfg: pytest.fail(f'trained {cfg.out_dir} again'))
    again = bench.main([str(recipe), '--baseline_lr=3e-3', '--n_seeds=2'])
    assert again['summary'] == results['summary'] and again['frontiers'] == results['frontiers']
    # another recipe on the same M_1 with the same steps, in the same out_dir: its arms train in
    # their own folders and the baseline is read, shared
    other = tmp_path / 'tiny_wide.py'
    other.write_text(recipe.read_text()
                     + "coalesce_width = True\nsplit_noise = 0.1\ncarry_optimizer = True\n")
    trained = []
    monkeypatch.setattr(train, 'run',
                        lambda cfg: trained.append(Path(cfg.out_dir).name) or real_run(cfg))
    shared = bench.main([str(other), '--baseline_lr=3e-3'])
    assert 'baseline' not in trained
    assert {'V-cycle_2_levels_tiny_wide', 'growth_tiny_wide'} <= set(trained)
    assert shared['logs'][1337][REFERENCE] == results['logs'][1337][REFERENCE]
    # the report alone, from results.json, gives the same figures without training
    monkeypatch.setattr(train, 'run', lambda cfg: pytest.fail('report.py trained'))
    (tmp_path / 'bench' / 'loss.png').unlink(missing_ok=True)
    assert report.main([str(tmp_path / 'bench')]) is None
    reread = json.loads((tmp_path / 'bench' / 'results.json').read_text())
    assert reread['summary'] == json.loads(json.dumps(shared['summary']))


def test_jobs_train_side_by_side_to_the_same_losses(tiny_corpus, tmp_path, capsys, monkeypatch):
    """--jobs=2: each run in its own process, two at a time, on one thread each, the longest first,
    ends with exactly the losses of the same runs trained here one after the other on one thread;
    wall times are not reported."""
    recipe = tmp_path / 'tiny.py'
    args = tiny_args(tiny_corpus, tmp_path / 'unused', down_steps=4, up_steps='10,12',
                     eval_interval=4)
    write_recipe(recipe, args)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        sequential = bench.main([str(recipe), f'--out_dir={tmp_path / "sequential"}',
                                 '--baseline_lr=3e-3'])
    finally:
        torch.set_num_threads(threads)
    capsys.readouterr()
    started = []  # the planned FLOPs of each run, in the order the processes start
    def popen(command, **kwargs):
        started.append(pool.planned_flops(train.parse_args(command[2:])))
        return real_popen(command, **kwargs)
    real_popen = pool.subprocess.Popen
    monkeypatch.setattr(pool.subprocess, 'Popen', popen)
    parallel = bench.main([str(recipe), f'--out_dir={tmp_path / "parallel"}', '--baseline_lr=3e-3',
                           '--jobs=2',
                           '--threads=1'])
    # each finished run says how many are done and left, and the time to go
    progress = [line for line in capsys.readouterr().out.splitlines() if line.startswith('---')]
    assert progress[0].startswith('--- trained 1 of ') and 'to go' in progress[0], progress
    assert re.fullmatch(r'--- trained (\d+) of \1 runs \(.+\), 0 left; (\d+ s|[\d.]+ min) so far',
                        progress[-1])
    def losses(results):
        return {name: [(r['iter'], r['train_loss'], r['val_loss']) for r in log]
                for name, log in results['logs'][1337].items()}
    assert losses(parallel) == losses(sequential) and len(losses(parallel)) == 3
    assert [(p['steps'], p['val_loss']) for p in parallel['frontiers'][1337]] == \
        [(p['steps'], p['val_loss']) for p in sequential['frontiers'][1337]]
    assert len(started) >= 6 and started[:6] == sorted(started[:6], reverse=True), started
    assert (tmp_path / 'parallel' / 'seed1337' / 'baseline_wsd0.2' / 'train.log').exists()
    assert all(r['time_saved_pct'] is None and r['tokens_per_s_by_level'] is None
               for r in parallel['rows'][1337])
    assert all(r['tokens_per_s_by_level'] for r in sequential['rows'][1337])


@pytest.mark.parametrize('factors, expected', [
    ((1.0,), [0.512, 0.64, 0.8]),                        # down to the cheapest arm's FLOPs
    ((1.0, 1.3, 1.6), [0.512, 0.64, 0.8, 1.25, 1.5625]),  # up to 1.6x the reference's tokens
    ((0.7, 1.0, 2.0), [0.4096, 0.512, 0.64, 0.8, 1.25, 1.5625, 1.953125]),  # 0.7x to 2x
])
def test_the_frontier_spans_the_arms_costs_and_tokens(factors, expected):
    """The frontier's first budgets go FRONTIER_RATIO apart from the cheapest arm run's FLOPs up to
    the largest budget factor's tokens, so that no budget the arms need is trained after them."""
    cfg = train.parse_args(['config/bench_cpu.py'])
    reference = total_steps(cfg)
    cheapest = pool.planned_flops(cfg) / pool.planned_flops(baseline_of(cfg, reference, 'x'))
    assert 0.512 < cheapest < 0.64  # the default cycle costs 0.632 of the reference
    assert bench.frontier_budgets(cfg, [('main', cfg)], factors) == [
        round(reference * f) for f in expected]


def test_plan_lists_every_run_and_trains_nothing(tiny_corpus, tmp_path, capsys, monkeypatch):
    recipe = tmp_path / 'tiny.py'
    args = tiny_args(tiny_corpus, tmp_path / 'bench', down_steps=4, up_steps='10,12')
    write_recipe(recipe, args)
    monkeypatch.setattr(train, 'run', lambda cfg: pytest.fail('planned, yet trained'))
    total = bench.main([str(recipe), '--plan', '--n_seeds=2', '--ablation=alpha-1'])
    text = capsys.readouterr().out
    for heading in ('== reference baseline', '== V-cycle, 2 levels (tiny)', '== growth (tiny)',
                    '== ablation: alpha-1 (tiny)',
                    '== frontier: the baseline trained to completion at'):
        assert heading in text
    cfg = train.parse_args([str(recipe)])
    model_config = train.checked_request(cfg)[1]
    arms = [cfg, bench.growth_of(cfg), replace(cfg, alpha=(1.0,)), baseline_of(cfg, 26, 'x')]
    per_step = stage_costs(arms[-1], model_config)[1] / 26
    expected = sum(sum(f for *_, f in stage_costs(c, model_config)[0]) for c in arms) \
        + sum(bench.frontier_budgets(cfg, [('main', cfg)], (1.0,))) * per_step
    assert total == pytest.approx(expected)
    assert f'{2 * total:.3e} for the 2 seed(s) [1337, 1338]' in text
    assert not (tmp_path / 'bench').exists()


def test_speed_harness_on_cpu(tmp_path, capsys):
    """--speed trains each level of a recipe at its shape on random tokens (no dataset) and reports
    tokens/s, FLOPs/s and the ratios to M_1; no MFU on a CPU."""
    recipe = tmp_path / 'tiny.py'
    recipe.write_text("n_layer, n_head, n_embd, block_size = 4, 4, 32, 32\n"
                      "batch_tokens, micro_batch = 256, (4, 8)\ncoalesce_width = True\n"
                      f"out_dir = {str(tmp_path / 'speed')!r}\ndevice = 'cpu'\n")
    # the stdlib corpus need not exist
    result = bench.main([str(recipe), '--speed', '--speed_steps=2'])
    one, two = result['levels']
    assert (one['shape'], two['shape']) == ('4 x 32', '2 x 16')
    assert (one['micro_batch'], two['micro_batch']) == (4, 8)
    assert one['tokens_per_s'] > 0 and two['tokens_per_s'] > 0 and one['mfu_pct'] is None
    assert two['flops_per_s'] == pytest.approx(two['tokens_per_s'] * two['flops_per_token'])
    speed = json.loads((tmp_path / 'speed' / 'speed.json').read_text())
    assert speed['levels'][1]['shape'] == '2 x 16'
    assert 'tokens/s vs M_1' in capsys.readouterr().out
    assert not (tmp_path / 'speed' / 'seed1337').exists()  # nothing else trained


def test_the_gpu_split_wsd_recipe_is_the_ablation_it_names():
    """config/bench_gpu_split_wsd.py is bench_gpu.py's split-complementary-0.1+wsd arm, setting for
    setting: the GPU's three figures are of the cycle measured on the CPU."""
    gpu = str(ROOT / 'config/bench_gpu.py')
    (_, arm), = bench.ablation_arms(train.parse_args([gpu]), gpu, [],
                                    ['split-complementary-0.1+wsd'])
    recipe = train.parse_args([str(ROOT / 'config/bench_gpu_split_wsd.py')])
    assert recipe == replace(arm, overwrite=recipe.overwrite)


def test_ablations_change_one_setting_of_the_main_cycle(tmp_path):
    recipe = tmp_path / 'tiny.py'
    recipe.write_text("coalesce_width, coalesce_depth = False, True\nalpha = (0.75,)\n"
                      "down_steps = (10,)\n"
                      "up_steps = (50, 90)\n")
    # the main V-cycle, after a sweep
    cfg = train.parse_args([str(recipe), '--n_layer=2', '--lr=1e-3,2e-3'])
    arms = dict(bench.ablation_arms(cfg, str(recipe), ['--n_layer=2'], None))
    # the main cycle itself
    assert 'ablation: depth-only (tiny)' not in arms and 'ablation: alpha-0.75 (tiny)' not in arms
    alpha_1, width_only = arms['ablation: alpha-1 (tiny)'], arms['ablation: width-only (tiny)']
    assert alpha_1.alpha == (1.0,) and alpha_1.lr == cfg.lr
    assert (width_only.coalesce_width, width_only.coalesce_depth) == ((True,), (False,))
    assert arms['ablation: lr-x0.7 (tiny)'].lr == (7e-4, 1.4e-3)
    assert arms['ablation: lr-small-x2 (tiny)'].lr == (1e-3, 4e-3)
    assert arms['ablation: lr-small-x0.7 (tiny)'].lr == (1e-3, 1.4e-3)
    half, double = arms['ablation: E_a-half (tiny)'], arms['ablation: E_a-double (tiny)']
    assert (half.down_steps, half.up_steps) == ((5,), (55, 90))
    assert (double.down_steps, double.up_steps) == ((20,), (40, 90))
    # the return 1.4x, 0.6x and 0.4x as long, the bottom's steps traded at the same FLOPs
    model_config = train.checked_request(cfg, plan=True)[1]
    def flops(c):
        return sum(f for *_, f in stage_costs(c, model_config)[0])
    for name, up in (('return-x1.4', 70), ('return-x0.6', 30), ('return-x0.4', 20)):
        arm = arms[f'ablation: {name} (tiny)']
        assert arm.up_steps[0] == up and arm.down_steps == cfg.down_steps
        assert flops(arm) == pytest.approx(flops(cfg), rel=0.01)
    assert all(c.n_layer == 2 for c in arms.values())
    picked = bench.ablation_arms(cfg, str(recipe), ['--n_layer=2'], ['alpha-1', 'E_a-half'])
    assert [name for name, _ in picked] == ['ablation: alpha-1 (tiny)', 'ablation: E_a-half (tiny)']
    (name, both), = bench.ablation_arms(cfg, str(recipe), ['--n_layer=2'], ['alpha-1+E_a-half'])
    assert name == 'ablation: alpha-1+E_a-half (tiny)' and both == replace(half, alpha=(1.0,))
    with pytest.raises(train.ConfigError, match="unknown ablation 'alpha-2'"):
        bench.ablation_arms(cfg, str(recipe), [], ['alpha-2'])


@pytest.mark.parametrize('argv, message', [(['--n_seeds=0'], 'n_seeds and jobs must be at least 1'),
                                           (['--n_seeds=x'], 'n_seeds must be int'),
                                           (['--seeds=5'], "unknown key 'seeds'")])
def test_bad_seeds(argv, message):
    with pytest.raises(train.ConfigError, match=message):
        bench.main(argv)


def test_the_baselines_schedule_is_a_recipe_setting_the_sweep_chooses(tiny_corpus, tmp_path):
    """baseline_decay 0.2 (the default): the reference and every frontier budget decay over their
    own last 20%, in folders of their own beside the cosine runs (0). --sweep tries the baseline's
    lr under each schedule of SWEEP_BASELINE_DECAYS and gives every arm the pair with the lowest
    median final loss."""
    recipe = tmp_path / 'tiny.py'
    args = tiny_args(tiny_corpus, tmp_path / 'bench', down_steps=4, up_steps='10,12',
                     eval_interval=4)
    write_recipe(recipe, args)
    wsd = bench.main([str(recipe), '--baseline_lr=3e-3', '--growth=False'])
    assert [s['name'] for s in wsd['summary']] == [REFERENCE, 'V-cycle, 2 levels (tiny)']
    runs = {p.name: json.loads((p / 'config.json').read_text())
            for p in (tmp_path / 'bench' / 'seed1337').iterdir()}
    baselines = {name: c for name, c in runs.items() if name != 'V-cycle_2_levels_tiny'}
    assert len(baselines) >= 4 and all(name.endswith('_wsd0.2') for name in baselines)
    assert all(c['decay_steps'] == round(0.2 * c['up_steps'][0]) for c in baselines.values())
    assert [(p['steps'], p['val_loss']) for p in wsd['frontiers'][1337]] == \
        [(c['up_steps'][0], read_log(tmp_path / 'bench' / 'seed1337' / name)[-1]['val_loss'])
         for name, c in sorted(baselines.items(), key=lambda item: item[1]['up_steps'][0])]
    cosine = bench.main([str(recipe), '--baseline_lr=3e-3', '--baseline_decay=0', '--growth=False'])
    main_cycle = 'V-cycle, 2 levels (tiny)'
    assert [s['name'] for s in cosine['summary']] == ['baseline, lr 0.003', main_cycle]
    cosine_reference = tmp_path / 'bench' / 'seed1337' / 'baseline' / 'config.json'
    assert json.loads(cosine_reference.read_text())['decay_steps'] == 0
    assert cosine['logs'][1337][main_cycle] == wsd['logs'][1337][main_cycle]  # read, not trained
    # both schedules keep their runs
    assert (tmp_path / 'bench' / 'seed1337' / 'baseline_wsd0.2').is_dir()
    assert cosine['logs'][1337]['baseline, lr 0.003'] != wsd['logs'][1337][REFERENCE]

    swept = bench.main([str(recipe), '--sweep', '--growth=False',
                        f'--out_dir={tmp_path / "swept"}'])
    tables = {decay: swept[f'sweep baseline, decay {decay:g}']
              for decay in bench.SWEEP_BASELINE_DECAYS}
    assert all(len(table) == len(bench.SWEEP_FACTORS) for table in tables.values())
    decay, lr = min(((d, float(lr)) for d, table in tables.items() for lr in table),
                    key=lambda p: tables[p[0]][str(p[1])])
    assert (swept['baseline_decay'], swept['baseline_lr']) == (decay, lr)
    # level 2's x1 is level 1's best
    assert len(swept['sweep V-cycle, 2 levels (tiny)']) == 2 * len(bench.SWEEP_FACTORS) - 1
    chosen = replace(train.parse_args([str(recipe)]), baseline_decay=decay)
    folder = tmp_path / 'swept' / 'seed1337' / baseline_folder(chosen, 'baseline')
    reference = json.loads((folder / 'config.json').read_text())
    assert (reference['lr'], reference['decay_steps']) == ([lr], round(decay * 26))
    trial = next((tmp_path / 'swept' / 'sweep_baseline_wsd0.2').glob('*/seed1337/config.json'))
    assert json.loads(trial.read_text())['decay_steps'] == round(0.2 * 26)


def test_every_arm_gets_its_own_frontier(tiny_corpus, tmp_path, capsys, monkeypatch):
    """--budgets trains every arm at each multiple of its budget (every stage's steps and
    decay_steps scaled, warmups kept), in folders of its own; --frontier_lrs trains each frontier
    budget at several lrs and keeps the one with the lowest median final loss; the report reads
    (a), (b) and (c) on each arm's frontier."""
    recipe = tmp_path / 'tiny.py'
    write_recipe(recipe, tiny_args(tiny_corpus, tmp_path / 'bench', down_steps=4, up_steps='10,12',
                                   eval_interval=4, decay_steps=6))
    marked = []
    monkeypatch.setattr(report, 'mark_saving', lambda ax, *a: marked.append(a))
    results = bench.main([str(recipe), '--baseline_lr=3e-3', '--growth=False',
                          '--budgets=1,1.5', '--frontier_lrs=0.7,1'])
    main_cycle = 'V-cycle, 2 levels (tiny)'
    seed = tmp_path / 'bench' / 'seed1337'
    scaled = json.loads((seed / 'V-cycle_2_levels_tiny_budget1.5' / 'config.json').read_text())
    assert scaled['budget'] == 1.5 and scaled['up_steps'] == [10, 12]
    stages = plan_stages(train.parse_args([str(recipe), '--budget=1.5']))
    assert [(s.steps, s.warmup, s.decay_steps) for s in stages] == [(6, 2, 9), (18, 2, 9),
                                                                     (15, 2, 9)]
    assert read_log(seed / 'V-cycle_2_levels_tiny_budget1.5')[-1]['iter'] == 6 + 18 + 15
    own = results['arm_frontiers'][1337][main_cycle]
    assert [p['budget'] for p in own] == [1.0, 1.5] and own[0] == dict(
        results['logs'][1337][main_cycle][-1], budget=1.0)
    assert own[1]['tokens'] == pytest.approx(1.5 * own[0]['tokens'], rel=0.05)
    # every frontier budget at both lrs; each point is the run of the lr chosen for its budget
    frontier, trials = results['frontiers'][1337], results['frontier_lr_trials']
    reference_steps = 4 + 10 + 12
    for point in frontier:
        if point['steps'] == reference_steps:
            continue
        assert set(trials[point['steps']]) == {0.7, 1.0}
        assert point['lr_factor'] == min(trials[point['steps']], key=trials[point['steps']].get)
        name = f"frontier{point['steps']}" + ('_lr0.0021' if point['lr_factor'] == 0.7 else '')
        assert read_log(seed / (name + '_wsd0.2'))[-1]['val_loss'] == point['val_loss']
    assert (seed / f"frontier{frontier[0]['steps']}_lr0.0021_wsd0.2").is_dir()
    # the cheapest run of any arm (the cycle at 1x) lies on the frontier's first step up
    assert frontier[0]['flops'] <= own[0]['flops'] < frontier[1]['flops']
    row = next(r for r in results['rows'][1337] if r['name'] == main_cycle)
    reference = results['logs'][1337][REFERENCE][-1]
    assert row == dict(row, **report.at_reference(own, reference, frontier))
    assert set(row['budget_flops_saved_pct']) == {'1', '1.5'}
    text = capsys.readouterr().out
    assert "at the reference's loss, on each arm's own frontier" in text
    if importlib.util.find_spec('matplotlib'):  # the cycle's saving marked at its final loss
        cost, loss, points = marked[0]
        assert (cost, loss) == (own[0]['flops'], own[0]['val_loss'])
        assert points == [(p['flops'], p['val_loss']) for p in frontier]
    else:
        assert 'no plot: plotting needs matplotlib' in text
    assert '(a) at each budget: 1x' in text
    # the report alone, from results.json, gives the same figures
    again = json.loads(json.dumps(results['summary']))
    report.main([str(tmp_path / 'bench')])
    reread = json.loads((tmp_path / 'bench' / 'results.json').read_text())
    assert reread['summary'] == again


def test_a_run_from_before_a_new_setting_is_still_read(tiny_corpus, tmp_path):
    """A finished run whose config.json lacks a setting added to Config since (budget) ran with
    its default: the bench reads it rather than training it again."""
    cfg = train.parse_args(tiny_args(tiny_corpus, tmp_path, up_steps='3,3', down_steps=2))
    train.run(cfg)
    assert pool.finished_log(cfg) is not None
    saved = json.loads((tmp_path / 'config.json').read_text())
    del saved['budget']
    (tmp_path / 'config.json').write_text(json.dumps(saved))
    assert pool.finished_log(cfg) is not None
    assert pool.finished_log(replace(cfg, budget=2.0)) is None


@pytest.mark.parametrize('argv, message', [
    (['--budgets=1.3,1.6'], 'budgets must hold 1'), (['--frontier_lrs=0,1'], 'budgets must hold 1'),
    (['--budget=0'], 'budget must be positive'),
    (['--budget=0.001'], "budget=0.001 leaves level 1's down stage no step")])
def test_bad_budgets(argv, message):
    with pytest.raises(train.ConfigError, match=message):
        bench.main(argv + ['--plan'])
