"""The shape of the code: imports only point down the layers below (no cycles), every recipe reads
with at most one other, the plan reads per-level settings however they are given, and a level
trained by hand with step.train_model is the level a V-cycle trains."""
import ast
from dataclasses import replace

import pytest
import torch

import commandline
import train
from conftest import ROOT, tiny_args, weights
from schedule import plan_stages
from step import train_model

# Each module may import only from the layers before its own (the README's "Where things are").
LAYERS = [
    {'model'},
    {'coalesce', 'data', 'checkpoint', 'hf'},
    {'moments', 'schedule', 'step'},
    {'levers', 'commandline'},
    {'vcycle', 'baseline', 'plot', 'sample'},
    {'train', 'report'},
    {'pool', 'speed'},
    {'bench'},
]


def project_imports(path, modules):
    """The project modules that the file at path imports, at any depth of its code."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split('.')[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            found.add(node.module.split('.')[0])
    return found & modules


def test_imports_point_down_the_layers_only():
    """No cycles, and the loop apart from what only reads its files: sample.py, plot.py and
    report.py import nothing of vcycle.py, directly or through another module."""
    layer = {name: i for i, names in enumerate(LAYERS) for name in names}
    files = {p.stem: p for p in ROOT.glob('*.py')} | {'data': ROOT / 'data' / '__init__.py'}
    assert set(files) == set(layer), 'every module has a layer'
    upward = [f"{name} -> {other}" for name, path in files.items()
              for other in project_imports(path, set(files)) if layer[other] >= layer[name]]
    assert not upward

    def reached(name, seen=frozenset()):
        direct = project_imports(files[name], set(files))
        return direct | {m for d in direct - seen for m in reached(d, seen | direct)}
    assert not {'sample', 'plot', 'report'} & {m for m in files if 'vcycle' in reached(m)}


def recipe(folder, name, text):
    (folder / name).write_text(text)
    return str(folder / name)


def test_a_recipe_reads_its_base_and_has_one_parent_at_most(tmp_path):
    recipe(tmp_path, 'parent.py', "levels = 3\nlr = 1e-3\nalpha = 0.5\n")
    child = recipe(tmp_path, 'child.py', "base = 'parent.py'\nlr = 2e-3\n")
    cfg = train.parse_args([child, '--alpha=0.25'])
    # the base, the file, the arguments
    assert (cfg.levels, cfg.lr, cfg.alpha) == (3, (2e-3,) * 3, (0.25,) * 2)
    grandchild = recipe(tmp_path, 'grandchild.py', "base = 'child.py'\n")
    with pytest.raises(commandline.ConfigError, match='a recipe has one parent at most'):
        train.parse_args([grandchild])
    with pytest.raises(commandline.ConfigError, match="has base 'nowhere.py', not found beside it"):
        train.parse_args([recipe(tmp_path, 'orphan.py', "base = 'nowhere.py'\n")])
    # the project's own: each readable with its base alone
    for path in (ROOT / 'config').glob('*.py'):
        train.parse_args([str(path)])


def test_one_value_serves_every_level_in_the_plan():
    """dataclasses.replace(cfg, alpha=(0.5,)) sets every change's alpha, as --alpha=0.5 does."""
    argv = ['--levels=3', '--up_steps=4,4,4', '--down_steps=2', '--lr=1e-3,2e-3,3e-3']
    cfg = train.parse_args(argv)
    stages = plan_stages(replace(cfg, alpha=(0.5,), lr=(1e-3,), micro_batch=(8, 4)))
    assert [s.change.alpha for s in stages[1:]] == [0.5] * 4
    assert [(s.level, s.peak_lr, s.micro_batch) for s in stages] == [
        (1, 1e-3, 8), (2, 1e-3, 4), (3, 1e-3, 4), (2, 1e-3, 4), (1, 1e-3, 8)]
    given = train.parse_args(argv + ['--alpha=0.5'])
    assert plan_stages(replace(cfg, alpha=(0.5,))) == plan_stages(given)


def test_a_level_trained_by_hand_is_the_level_a_cycle_trains(tiny_corpus, tmp_path):
    """step.train_model through the plan's stage gives M_1's weights bit for bit as train.py's run
    of the same single level (evaluations, logging and checkpoints change nothing)."""
    cfg = train.parse_args(tiny_args(tiny_corpus, tmp_path / 'run', levels=1, up_steps=12, lr=3e-3,
                                     warmup=3))
    train.run(cfg)
    env = train.setup_env(cfg)
    batches, model = train.build_data_and_model(cfg, env)
    (stage,) = plan_stages(cfg)
    train_model(model, batches, stage, cfg, env)
    ran = weights(tmp_path / 'run' / 'model_level1.pt')
    assert all(torch.equal(ran[k], v) for k, v in model.state_dict().items())
