"""What a user types first: --help on every command, --plan before a run, accuracy for ViT and BERT."""
import re
import subprocess
import sys
from dataclasses import fields

import pytest
import torch

import bench
import sample
import train
from conftest import ROOT, read_log, tiny_args
from model import BERT, ViT, accuracy_counts
from vcycle import ACCURACY_FIELDS, LOG_FIELDS, evaluate, plan_stages, stage_costs


@pytest.mark.parametrize('command', ['train.py', 'bench.py', 'sample.py'])
def test_every_command_answers_help(command):
    result = subprocess.run([sys.executable, command, '--help'], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr == ''
    doc = {'train.py': train, 'bench.py': bench, 'sample.py': sample}[command].__doc__
    assert result.stdout.startswith(doc.strip().splitlines()[0])
    assert 'flags:' in result.stdout and 'settings (--key=value' in result.stdout


@pytest.mark.parametrize('cli, settings', [(train.cli, train.Config), (bench.cli, train.Config),
                                           (sample.cli, sample.Settings)])
def test_help_lists_every_setting_with_its_default_and_meaning(cli, settings, capsys):
    assert cli(['-h']) == 0
    text = capsys.readouterr().out
    for f in fields(settings):
        line = next((line for line in text.splitlines() if line.startswith(f'  --{f.name}=')), None)
        assert line is not None, f.name
        default, meaning = re.match(rf'  --{f.name}=(\S+(?: \S+)*?)\s{{2,}}(.+)$', line).groups()
        assert eval(default) == f.default and len(meaning) > 5, line
    if cli is bench.cli:
        assert all(flag.split('=')[0].split(',')[0] in text for flag in bench.FLAGS)


def plan_total(text):
    return float(next(line for line in text.splitlines() if line.startswith('total')).split()[-1])


def test_plan_counts_the_flops_a_run_logs(tiny_corpus, tmp_path, capsys):
    for levels, extra in ((2, {}), (3, dict(down_steps='4,3', up_steps='6,6,8', lr='3e-3', alpha='0.5,0.5'))):
        args = tiny_args(tiny_corpus, tmp_path / f'run{levels}', levels=levels, **extra)
        assert train.cli(args + ['--plan']) == 0
        planned = capsys.readouterr().out
        assert not (tmp_path / f'run{levels}').exists()  # nothing written
        assert train.cli(args) == 0
        capsys.readouterr()
        logged = read_log(tmp_path / f'run{levels}')[-1]['flops']
        cfg = train.parse_args(args + ['--overwrite'])
        assert sum(flops for *_, flops in stage_costs(cfg, train.checked_request(cfg)[1])[0]) == logged
        assert plan_total(planned) == pytest.approx(logged, rel=1e-3)  # as printed, to 4 digits
        assert len([line for line in planned.splitlines() if re.match(r'\s+\d+\s+\d+ (down|bottom|up)', line)]) \
            == 2 * levels - 1


@pytest.mark.parametrize('recipe', [['config/default.py'], ['config/bench_cpu_3level.py'],
                                    ['config/gpt2_small.py'], ['config/vit.py'], ['config/bert.py']])
def test_plan_of_the_recipes(recipe, tmp_path, capsys):
    """The recipes plan from a fresh clone (GPT-2 small's TinyStories need not be downloaded: its
    prepare.py declares the vocabulary); the total is the stages' FLOPs counted independently."""
    args = [str(ROOT / recipe[0]), f'--out_dir={tmp_path / "out"}']
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
            T, embed = (16 // cfg.patch_size) ** 2 + 1, 3 * cfg.patch_size ** 2 * d + d + d + (d + 1) * 10
        else:
            T = cfg.block_size
            V = vocab + (cfg.model == 'bert')
            embed = V * d + (d * d + d + 2 * d + V if cfg.model == 'bert' else 0)
        n = L * (12 * d * d + 13 * d) + 2 * d + embed  # blocks, ln_f, embeddings and heads (no positions)
        expected += stage.steps * cfg.batch_tokens * (6 * n + 12 * L * d * T)
    assert sum(flops for *_, flops in stage_costs(cfg, train.checked_request(cfg)[1])[0]) == expected
    assert plan_total(text) == pytest.approx(expected, rel=1e-3)


def test_plan_checks_the_request_like_a_run(tiny_corpus, tmp_path, capsys):
    assert train.cli(tiny_args(tiny_corpus, tmp_path / 'out', levels=4, up_steps=5, down_steps=2, lr=3e-3, alpha=0.5) + ['--plan']) == 2
    err = capsys.readouterr().err
    assert err.startswith('error: levels=4 needs level 4') and err.count('\n') == 1
    assert train.cli(tiny_args(tmp_path / 'no_such_data', tmp_path / 'out') + ['--plan']) == 2
    assert 'not found' in capsys.readouterr().err and not (tmp_path / 'out').exists()


def test_accuracy_counts_only_the_positions_that_count():
    targets = torch.tensor([[3, -1, 1, -1], [-1, 0, -1, 2]])
    logits = torch.full((2, 4, 5), -1.0)
    logits[0, 0, 3] = logits[0, 2, 1] = logits[1, 1, 0] = logits[1, 3, 4] = 1.0  # the last one wrong
    logits[0, 1, 0] = logits[1, 0, 0] = 5.0                                      # unmasked: ignored
    assert [c.item() for c in accuracy_counts(logits, targets)] == [3, 4]
    assert [c.item() for c in accuracy_counts(logits[:, 0], torch.tensor([3, 1]))] == [1, 2]  # ViT's (B, C)


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
        return torch.nn.functional.one_hot(torch.where(targets >= 0, targets, wrong), n).float(), loss


@pytest.mark.parametrize('kind', ['bert', 'vit'])
def test_a_perfect_model_scores_one(kind, tiny_corpus, tiny_images, tmp_path):
    data = tiny_images if kind == 'vit' else tiny_corpus
    extra = dict(n_layer=2, n_head=2, n_embd=16, batch_tokens=17 * 8, micro_batch=8) if kind == 'vit' else {}
    cfg = train.parse_args(tiny_args(data, tmp_path, model=kind, **extra))
    env = train.setup_env(cfg)
    batches, model = train.build_data_and_model(cfg, env)
    assert isinstance(model, (BERT, ViT)) and model.REPORTS_ACCURACY
    before = evaluate(model, batches, cfg, env)
    assert set(before) == {'train', 'val', 'train_acc', 'val_acc'} and 0 <= before['val_acc'] < 0.5
    after = evaluate(Perfect(model), batches, cfg, env)
    assert after['val_acc'] == after['train_acc'] == 1.0 and after['val'] == before['val']


def test_bert_and_vit_log_accuracy_gpt_does_not(tiny_corpus, tmp_path):
    train.main(tiny_args(tiny_corpus, tmp_path / 'bert', model='bert', down_steps=2, up_steps='2,2'))
    train.main(tiny_args(tiny_corpus, tmp_path / 'gpt', down_steps=2, up_steps='2,2'))
    assert all(set(r) == set(LOG_FIELDS) | set(ACCURACY_FIELDS) for r in read_log(tmp_path / 'bert'))
    assert all(0 <= r['val_acc'] <= 1 for r in read_log(tmp_path / 'bert'))
    assert all(set(r) == set(LOG_FIELDS) for r in read_log(tmp_path / 'gpt'))
