"""What a user types first: --help on every command, --plan before a run, accuracy for ViT and
BERT."""
import importlib
import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import asdict, fields

import pytest
import torch

import bench
import plot
import report
import sample
import train
from conftest import ROOT, read_log, tiny_args
from data import BUILT_IN
from model import BERT, ViT, accuracy_counts
from schedule import plan_stages, stage_costs
from step import evaluate
from vcycle import ACCURACY_FIELDS, LOG_FIELDS, PAIR_FIELD


@pytest.mark.parametrize('command', ['train.py', 'bench.py', 'sample.py', 'plot.py', 'report.py'])
def test_every_command_answers_help(command):
    result = subprocess.run([sys.executable, command, '--help'], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and result.stderr == ''
    modules = {'train.py': train, 'bench.py': bench, 'sample.py': sample, 'plot.py': plot,
               'report.py': report}
    doc = modules[command].__doc__
    assert result.stdout.startswith(doc.strip().splitlines()[0]) and 'flags:' in result.stdout
    assert ('settings (--key=value' in result.stdout) == (command not in ('plot.py', 'report.py'))


@pytest.mark.parametrize('cli, settings, recipe', [(train.cli, train.Config, None),
                                                   (bench.cli, bench.BenchSettings, None),
                                                   (bench.cli, train.Config, bench.DEFAULT_CONFIGS),
                                                   (sample.cli, sample.Settings, None)])
def test_help_lists_every_setting_with_its_default_and_meaning(cli, settings, recipe, capsys):
    """Each setting with its default (for the bench's train.py settings, the default recipe's
    value)."""
    assert cli(['-h']) == 0
    text = capsys.readouterr().out
    if recipe:
        values = asdict(train.parse_args(recipe))
    else:
        values = {f.name: f.default for f in fields(settings)}
    for f in fields(settings):
        line = next((line for line in text.splitlines() if line.startswith(f'  --{f.name}=')), None)
        assert line is not None, f.name
        default, meaning = re.match(rf'  --{f.name}=(\S+(?: \S+)*?)\s{{2,}}(.+)$', line).groups()
        assert eval(default) == values[f.name] and len(meaning) > 5, line
    if recipe:
        assert "--out_dir='bench-cpu'" in text  # the recipe's, not train.py's 'out'


def plan_total(text):
    return float(next(line for line in text.splitlines() if line.startswith('total')).split()[-1])


def stage_lines(text):
    """The lines of a printed plan that describe a stage."""
    return [line for line in text.splitlines() if re.match(r'\s+\d+\s+\d+ (down|bottom|up)', line)]


def planned_flops(cfg):
    return sum(flops for *_, flops in stage_costs(cfg, train.checked_request(cfg)[1])[0])


def test_plan_counts_the_flops_a_run_logs(tiny_corpus, tmp_path, capsys):
    three = dict(down_steps='4,3', up_steps='6,6,8', lr='3e-3', alpha='0.5,0.5')
    for levels, extra in ((2, {}), (3, three)):
        args = tiny_args(tiny_corpus, tmp_path / f'run{levels}', levels=levels, **extra)
        assert train.cli(args + ['--plan']) == 0
        planned = capsys.readouterr().out
        assert not (tmp_path / f'run{levels}').exists()  # nothing written
        assert train.cli(args) == 0
        capsys.readouterr()
        logged = read_log(tmp_path / f'run{levels}')[-1]['flops']
        cfg = train.parse_args(args + ['--overwrite'])
        assert planned_flops(cfg) == logged
        assert plan_total(planned) == pytest.approx(logged, rel=1e-3)  # as printed, to 4 digits
        assert len(stage_lines(planned)) == 2 * levels - 1


@pytest.mark.parametrize('recipe', [[], ['config/bench_cpu_3level.py'],
                                    ['config/gpt2_small.py'], ['config/vit.py'],
                                    ['config/bert.py']])
def test_plan_of_the_recipes(recipe, tmp_path, capsys):
    """The recipes plan from a fresh clone (GPT-2 small's TinyStories need not be downloaded: its
    prepare.py declares the vocabulary); the total is the stages' FLOPs counted independently."""
    args = [str(ROOT / f) for f in recipe] + [f'--out_dir={tmp_path / "out"}']
    assert train.cli(args + ['--plan']) == 0
    text = capsys.readouterr().out
    cfg = train.parse_args(args)
    first = {'gpt': 'GPT', 'bert': 'BERT', 'vit': 'VIT'}[cfg.model]
    assert f'{cfg.levels}-level V-cycle of a {first}' in text and not (tmp_path / 'out').exists()
    vocab = {'stdlib': 256, 'tinystories': 50257}.get(cfg.dataset)
    shapes = [(cfg.n_layer, cfg.n_embd)]  # (L, d) of each level
    for width, depth in zip(cfg.coalesce_width, cfg.coalesce_depth):
        L, d = shapes[-1]
        shapes.append((L // 2 if depth else L, d // 2 if width else d))
    expected = 0
    for stage in plan_stages(cfg):
        L, d = shapes[stage.level - 1]
        if cfg.model == 'vit':
            T = (16 // cfg.patch_size) ** 2 + 1
            embed = 3 * cfg.patch_size ** 2 * d + d + d + (d + 1) * 20  # 20 classes
        else:
            T = cfg.block_size
            # the padded table
            V = -(-(vocab + (cfg.model == 'bert')) // cfg.vocab_multiple) * cfg.vocab_multiple
            embed = V * d + (d * d + d + 2 * d + V if cfg.model == 'bert' else 0)
        # blocks, ln_f, embeddings and heads (no positions)
        n = L * (12 * d * d + 13 * d) + 2 * d + embed
        expected += stage.steps * cfg.batch_tokens * (6 * n + 12 * L * d * T)
    assert planned_flops(cfg) == expected
    assert plan_total(text) == pytest.approx(expected, rel=1e-3)


@pytest.mark.parametrize('name', sorted(p.parent.name for p in (ROOT / 'data').glob('*/prepare.py')
                                         if p.parent.name not in BUILT_IN))
def test_a_dataset_to_download_plans_before_it_is_prepared(name, tmp_path, capsys):
    """Each prepare.py that downloads declares what it will write (META), so --plan works before
    the download, and a run asks for prepare.py in one line."""
    if (ROOT / 'data' / name / 'meta.pkl').exists():
        pytest.skip(f'{name} is prepared here')
    images = 'n_classes' in importlib.import_module(f'data.{name}.prepare').META
    args = [f'--dataset={name}', f'--out_dir={tmp_path / "out"}', '--device=cpu'] + \
        (['--model=vit', '--patch_size=4', '--batch_tokens=4160'] if images else [])
    assert train.cli(args + ['--plan']) == 0
    assert train.cli(args) == 2
    err = capsys.readouterr().err
    assert f'run `python {ROOT / "data" / name / "prepare.py"}` first' in err, err
    assert err.count('\n') == 1 and not (tmp_path / 'out').exists()


def test_plan_checks_the_request_like_a_run(tiny_corpus, tmp_path, capsys):
    four_levels = tiny_args(tiny_corpus, tmp_path / 'out', levels=4, up_steps=5, down_steps=2,
                            lr=3e-3, alpha=0.5)
    assert train.cli(four_levels + ['--plan']) == 2
    err = capsys.readouterr().err
    assert err.startswith('error: levels=4 needs level 4') and err.count('\n') == 1
    assert train.cli(tiny_args(tmp_path / 'no_such_data', tmp_path / 'out') + ['--plan']) == 2
    assert 'not found' in capsys.readouterr().err and not (tmp_path / 'out').exists()


def test_accuracy_counts_only_the_positions_that_count():
    targets = torch.tensor([[3, -1, 1, -1], [-1, 0, -1, 2]])
    logits = torch.full((2, 4, 5), -1.0)
    # the last one wrong
    logits[0, 0, 3] = logits[0, 2, 1] = logits[1, 1, 0] = logits[1, 3, 4] = 1.0
    logits[0, 1, 0] = logits[1, 0, 0] = 5.0                                      # unmasked: ignored
    assert [c.item() for c in accuracy_counts(logits, targets)] == [3, 4]
    # ViT's (B, C)
    assert [c.item() for c in accuracy_counts(logits[:, 0], torch.tensor([3, 1]))] == [1, 2]


class Perfect(torch.nn.Module):
    """A model's loss, with logits that put all the weight on the target where there is one (BERT's
    masked positions) and on a wrong token everywhere else: accuracy 1.0 only if the unmasked
    positions are left out."""
    REPORTS_ACCURACY = True

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x, targets):
        logits, loss = self.model(x, targets)
        n = logits.shape[-1]
        wrong = (targets.clamp(min=0) + 1) % n
        chosen = torch.where(targets >= 0, targets, wrong)
        return torch.nn.functional.one_hot(chosen, n).float(), loss


@pytest.mark.parametrize('kind', ['bert', 'vit'])
def test_a_perfect_model_scores_one(kind, tiny_corpus, tiny_images, tmp_path):
    data = tiny_images if kind == 'vit' else tiny_corpus
    extra = {}
    if kind == 'vit':
        extra = dict(n_layer=2, n_head=2, n_embd=16, batch_tokens=17 * 8, micro_batch=8)
    cfg = train.parse_args(tiny_args(data, tmp_path, model=kind, **extra))
    env = train.setup_env(cfg)
    batches, model = train.build_data_and_model(cfg, env)
    assert isinstance(model, (BERT, ViT)) and model.REPORTS_ACCURACY
    before = evaluate(model, batches, cfg, env)
    assert set(before) == {'train', 'val', 'train_acc', 'val_acc'} and 0 <= before['val_acc'] < 0.5
    after = evaluate(Perfect(model), batches, cfg, env)
    assert after['val_acc'] == after['train_acc'] == 1.0 and after['val'] == before['val']


def test_bert_and_vit_log_accuracy_gpt_does_not(tiny_corpus, tmp_path):
    train.main(tiny_args(tiny_corpus, tmp_path / 'bert', model='bert', down_steps=2,
                         up_steps='2,2'))
    train.main(tiny_args(tiny_corpus, tmp_path / 'gpt', down_steps=2, up_steps='2,2'))
    up = {PAIR_FIELD}  # logged after width growth only
    assert all(set(r) == set(LOG_FIELDS) | set(ACCURACY_FIELDS)
               | (up if r['phase'] == 'up' else set()) for r in read_log(tmp_path / 'bert'))
    assert all(0 <= r['val_acc'] <= 1 for r in read_log(tmp_path / 'bert'))
    assert all(set(r) == set(LOG_FIELDS) | (up if r['phase'] == 'up' else set())
               for r in read_log(tmp_path / 'gpt'))


def test_a_run_explains_itself_and_its_next_commands_work(tiny_corpus, tmp_path, capsys):
    """A line at each level change, shape to shape with the loss before and right after; a summary
    at the end whose baseline and plot commands work as printed; no rate where no tokens were
    trained."""
    pytest.importorskip('matplotlib')
    out = tmp_path / 'run'
    args = tiny_args(tiny_corpus, out, baseline_lr=2e-3)
    cycle = train.main(args)
    text = capsys.readouterr().out
    changes = [line for line in text.splitlines()
               if line.startswith(('level 1 -> 2', 'level 2 -> 1'))]
    assert changes[0].startswith('level 1 -> 2: coalesce width and depth, 4 x 32 -> 2 x 16 | val '
                                 'loss ')
    assert changes[1].startswith('level 2 -> 1: de-coalesce width and depth, interpolate with the '
                                 'kept M_1 (alpha 0.5), 2 x 16 -> 4 x 32 | val loss ')
    log = read_log(out)
    after = next(r for r in log if r['stage'] == 1)
    # right after
    assert float(changes[0].split()[-3]) == pytest.approx(after['val_loss'], abs=1e-4)
    assert [r['tokens_per_s'] is None for r in log if r['step'] == 0] == [True] * 3
    summary = text[text.index('finished:'):].splitlines()
    assert summary[0].startswith(f"finished: a 2-level V-cycle of a GPT 4 x 32; final validation "
                                 f"loss {log[-1]['val_loss']:.4f}")
    assert summary[1].startswith(f"cost: {cycle.progress.flops:.3e} FLOPs")
    assert str(out / 'model_level1.pt') in summary[2] and str(out / 'ckpt.pt') in summary[2]
    baseline_command = shlex.split(summary[4].split('#')[0])
    assert baseline_command[:2] == ['python', 'train.py'] and baseline_command[-1] == '--baseline'
    assert train.cli(baseline_command[2:]) == 0
    baseline = train.parse_args(baseline_command[2:-1])
    saved = json.loads((tmp_path / 'run-baseline' / 'config.json').read_text())
    assert saved['levels'] == 1 and saved['lr'] == [2e-3]
    assert saved['up_steps'] == [sum(s.steps for s in plan_stages(baseline))]
    plot_command = shlex.split(summary[5].split('#')[0])
    assert plot_command[:2] == ['python', 'plot.py'] and plot.cli(plot_command[2:]) == 0
    png = (out / 'loss.png').read_bytes()
    assert png.startswith(b'\x89PNG') and len(png) > 10_000
    import matplotlib.image
    height, width, _ = matplotlib.image.imread(out / 'loss.png').shape
    assert width > 1000 and height > 400


def test_plot_draws_the_frontier_and_marks_the_saving(tmp_path, monkeypatch):
    """Runs of plain training draw the frontier (budgets that log only their ends are points on
    it, not lines); each V-cycle is labelled by what it is and marked with its saving, the one
    report.frontier_cost computes."""
    pytest.importorskip('matplotlib')
    def run(name, levels, log):
        folder = tmp_path / name
        folder.mkdir()
        (folder / 'config.json').write_text(json.dumps({'levels': levels}))
        (folder / 'log.jsonl').write_text(''.join(
            json.dumps({'level': 1, 'flops': f, 'time_s': f / 1e9, 'val_loss': v}) + '\n'
            for f, v in log))
        return str(folder)
    folders = [run('vcycle', 2, [(0, 5.0), (2e9, 2.0), (3e9, 1.5)]),
               run('baseline', 1, [(0, 5.0), (4e9, 2.0), (8e9, 1.4)]),
               run('frontier4', 1, [(0, 5.0), (4e9, 1.6)]),
               run('frontier16', 1, [(0, 5.0), (16e9, 1.2)])]
    drawn = {}
    real = plot.draw_frontier
    monkeypatch.setattr(plot, 'draw_frontier',
                        lambda ax, key, *a: drawn.setdefault(key, (ax, real(ax, key, *a))))
    plot.plot_runs(folders, tmp_path / 'loss.png')
    ax = drawn['flops'][0]
    labels = ax.get_legend_handles_labels()[1]
    assert labels == ['vcycle: 2-level V-cycle (1.5000)', 'baseline: plain training (1.4000)',
                      'plain training to each budget: the frontier']  # no frontier4/16 lines
    reach = report.frontier_cost([(4e9, 1.6), (8e9, 1.4), (16e9, 1.2)], 1.5)
    assert [t.get_text() for t in ax.texts if t.get_text()] == [f'saves {1 - 3e9 / reach:.1%}']


def test_plot_without_matplotlib_says_so_in_one_line(tmp_path, monkeypatch, capsys):
    import builtins
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith('matplotlib'):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, '__import__', no_matplotlib)
    (tmp_path / 'log.jsonl').write_text('{}\n')
    assert plot.cli([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == ('error: plotting needs matplotlib: pip install matplotlib (or -r '
                   'requirements-optional.txt)\n')
    assert plot.cli([str(tmp_path / 'missing')]) == 2
    assert 'log.jsonl not found' in capsys.readouterr().err


def test_a_stage_shorter_than_its_warmup_is_warned_of(tiny_corpus, tmp_path, capsys):
    args = tiny_args(tiny_corpus, tmp_path / 'out', transition_warmup=12, up_steps='20,10')
    assert train.cli(args + ['--plan']) == 0
    warning = ('warning: stage 1 (level 2, bottom) has 10 steps, fewer than its warmup of 12: its '
               'learning rate reaches the peak 0.006 only at its last step')
    text = capsys.readouterr().out
    assert warning in text and text.count('warning:') == 1
    stages = [int(line.split()[0]) for line in stage_lines(text)]
    assert stages == [0, 1, 2]  # numbered as log.jsonl numbers them
    assert train.cli(args) == 0 and warning in capsys.readouterr().out
    assert sorted({r['stage'] for r in read_log(tmp_path / 'out')}) == stages


def test_files_are_readable_by_the_group(tiny_corpus, tmp_path):
    old = os.umask(0o022)
    try:
        assert train.cli(tiny_args(tiny_corpus, tmp_path, down_steps=2, up_steps='2,2')) == 0
    finally:
        os.umask(old)
    for name in ('ckpt.pt', 'model_level1.pt', 'model_level2.pt', 'log.jsonl', 'config.json'):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644, name
