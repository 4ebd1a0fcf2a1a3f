"""bench.py: the equal-loss interpolation, per-level throughput, and a tiny end-to-end bench."""
import ast
import json

import pytest

import bench
from conftest import tiny_args


def rec(level, stage, flops, time_s, val, tokens=0):
    return dict(level=level, stage=stage, flops=flops, time_s=time_s, val_loss=val, tokens=tokens)


def test_first_reach_interpolates_on_the_full_model_only():
    log = [rec(1, 0, 0, 0, 5.0), rec(2, 1, 10, 1, 1.0),          # the small model is below target: ignored
           rec(1, 2, 20, 2, 3.0), rec(1, 2, 40, 6, 1.0)]
    assert bench.first_reach(log, 2.0) == (30.0, 4.0)             # halfway between the last two
    assert bench.first_reach(log, 0.5) is None
    assert bench.loss_at(log, 'flops', 30) == pytest.approx(2.0)


def test_tokens_per_s_by_level():
    log = [rec(1, 0, 0, 0, 5, tokens=0), rec(1, 0, 0, 2, 4, tokens=100), rec(2, 1, 0, 2, 4, tokens=100),
           rec(2, 1, 0, 3, 3, tokens=400), rec(1, 2, 0, 3, 3, tokens=400), rec(1, 2, 0, 5, 2, tokens=500)]
    assert bench.tokens_per_s_by_level(log) == {1: 200 / 4, 2: 300.0}


def literal(text):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def test_tiny_bench_end_to_end(tiny_corpus, tmp_path):
    recipe = tmp_path / 'tiny.py'
    args = tiny_args(tiny_corpus, tmp_path / 'bench', down_steps=4, up_steps='10,12', eval_interval=2)
    recipe.write_text(''.join(f'{key} = {literal(value)!r}\n' for key, value in (a[2:].split('=', 1) for a in args)))
    results = bench.main([str(recipe), '--ablation', '--baseline_lr=3e-3'])
    saved = json.loads((tmp_path / 'bench' / 'results.json').read_text())
    assert saved['baseline']['final_val_loss'] == results['baseline']['final_val_loss']
    names = [a['name'] for a in saved['arms']]
    assert names[0].startswith('V-cycle, 2 levels') and 'ablation: alpha=0' in names and 'ablation: width only' in names
    baseline_log = saved['logs'][next(k for k in saved['logs'] if k.startswith('baseline'))]
    assert baseline_log[-1]['iter'] == 4 + 10 + 12  # as many tokens as the V-cycle
    vcycle = saved['arms'][0]
    assert vcycle['total_flops'] < saved['baseline']['total_flops']
    if vcycle['flops_saving_pct'] is not None:
        assert vcycle['flops_saving_pct'] == pytest.approx(100 * (1 - vcycle['flops_to_baseline_loss'] /
                                                                  saved['baseline']['total_flops']))

