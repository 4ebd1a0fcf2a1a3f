"""hf.py against Hugging Face transformers itself: models built offline from a config, every
parameter random, saved to a temporary folder; vcycle's logits must equal transformers' own."""
import json

import pytest
import torch

import train
from conftest import read_log, tiny_args
from hf import HFError, export_hf, import_hf

transformers = pytest.importorskip('transformers')
transformers.utils.logging.disable_progress_bar()
transformers.utils.logging.set_verbosity_error()


def randomized(model):
    """Every parameter random (LayerNorms and biases too), so no mapping holds by accident."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            around = 1.0 if 'ln' in name or 'layernorm' in name else 0.0  # LayerNorm gains: 1
            p.copy_(torch.randn(p.shape, generator=g) * 0.3 + around)
    return model.eval()


def hf_gpt2(n_positions=16, vocab_size=61, **kw):
    config = transformers.GPT2Config(n_embd=32, n_layer=4, n_head=4, n_positions=n_positions,
                                     vocab_size=vocab_size, **kw)
    return randomized(transformers.GPT2LMHeadModel(config))


def hf_vit(image_size=16, num_labels=10, **kw):
    config = transformers.ViTConfig(hidden_size=32, num_hidden_layers=4, num_attention_heads=4,
                                    intermediate_size=128, image_size=image_size, patch_size=4,
                                    num_labels=num_labels, **kw)
    return randomized(transformers.ViTForImageClassification(config))


def logits_gap(ours, theirs, arch):
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        if arch == 'gpt':
            x = torch.randint(theirs.config.vocab_size, (3, 16), generator=g)
            return (ours(x)[0] - theirs(x).logits).abs().max().item()
        x = torch.randn(3, 3, theirs.config.image_size, theirs.config.image_size, generator=g)
        return (ours(x)[0] - theirs(pixel_values=x).logits).abs().max().item()


@pytest.mark.parametrize('arch', ['gpt', 'vit'])
def test_import_computes_transformers_logits(arch, tmp_path):
    theirs = hf_gpt2() if arch == 'gpt' else hf_vit()
    theirs.save_pretrained(tmp_path / 'hf')
    for source in (tmp_path / 'hf', theirs):  # a folder, or the model itself
        ours = import_hf(source)
        assert logits_gap(ours, theirs, arch) <= 1e-5
    expected = ('tanh', 1e-5) if arch == 'gpt' else ('exact', 1e-12)
    assert (ours.config.gelu, ours.config.ln_eps) == expected


@pytest.mark.parametrize('arch', ['gpt', 'vit'])
def test_export_opens_with_from_pretrained(arch, tmp_path):
    theirs = hf_gpt2() if arch == 'gpt' else hf_vit()
    ours = import_hf(theirs)
    export_hf(ours, tmp_path / 'exported')
    cls = transformers.GPT2LMHeadModel if arch == 'gpt' else transformers.ViTForImageClassification
    reopened = cls.from_pretrained(tmp_path / 'exported').eval()
    assert logits_gap(ours, reopened, arch) <= 1e-5
    again = import_hf(tmp_path / 'exported')
    assert again.config == ours.config
    assert all(torch.equal(a, b)
               for a, b in zip(again.state_dict().values(), ours.state_dict().values()))


def test_a_padded_gpt_exports_its_real_vocabulary(tmp_path):
    """Imported into a table padded to 64 rows, GPT-2 computes the same logits; exported, it writes
    the real vocabulary only, with its special-token ids inside it."""
    theirs = hf_gpt2()  # a vocabulary of 61
    ours = import_hf(theirs, vocab_multiple=64)
    assert ours.wte.weight.shape[0] == 64 and logits_gap(ours, theirs, 'gpt') <= 1e-5
    export_hf(ours, tmp_path / 'exported')
    config = json.loads((tmp_path / 'exported' / 'config.json').read_text())
    assert config['vocab_size'] == 61 and config['bos_token_id'] == config['eos_token_id'] == 60
    reopened = transformers.GPT2LMHeadModel.from_pretrained(tmp_path / 'exported').eval()
    assert reopened.transformer.wte.weight.shape[0] == 61
    assert logits_gap(ours, reopened, 'gpt') <= 1e-5


def test_a_model_trained_here_exports_exactly(tiny_corpus, tmp_path):
    """A GPT with vcycle's own settings (exact GELU) goes out and back: transformers computes its
    logits."""
    train.main(tiny_args(tiny_corpus, tmp_path / 'run', down_steps=2, up_steps='2,2'))
    from checkpoint import model_from_record
    ours = model_from_record(torch.load(tmp_path / 'run' / 'model_level1.pt'), 'cpu').eval()
    export_hf(ours, tmp_path / 'exported')
    config = json.loads((tmp_path / 'exported' / 'config.json').read_text())
    assert config['activation_function'] == 'gelu'
    reopened = transformers.GPT2LMHeadModel.from_pretrained(tmp_path / 'exported').eval()
    assert logits_gap(ours, reopened, 'gpt') <= 1e-5


def test_bert_and_other_models_are_refused(tmp_path):
    config = transformers.BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                     intermediate_size=128)
    bert = transformers.BertForMaskedLM(config)
    bert.save_pretrained(tmp_path / 'bert')
    with pytest.raises(HFError, match="transformers' BERT is post-LN"):
        import_hf(tmp_path / 'bert')
    with pytest.raises(HFError, match='has no config.json'):
        import_hf(tmp_path)
    hf_gpt2(n_inner=64).save_pretrained(tmp_path / 'narrow')
    with pytest.raises(HFError, match='n_inner=64'):
        import_hf(tmp_path / 'narrow')


def gpt_args(corpus, out, folder, **overrides):
    args = dict(init_from=folder, n_layer=4, n_head=4, n_embd=32, block_size=16, batch_tokens=128,
                micro_batch=4)
    args.update(overrides)
    return tiny_args(corpus, out, **args)


def test_init_from_trains_from_the_imported_weights(tiny_corpus, tmp_path):
    theirs = hf_gpt2(vocab_size=300)
    theirs.save_pretrained(tmp_path / 'hf')
    assert train.cli(gpt_args(tiny_corpus, tmp_path / 'run', tmp_path / 'hf')) == 0
    first = read_log(tmp_path / 'run')[0]
    cfg = train.parse_args(gpt_args(tiny_corpus, tmp_path / 'check', tmp_path / 'hf'))
    batches, _ = train.build_data_and_model(cfg, train.setup_env(cfg))
    from step import evaluate
    model = import_hf(tmp_path / 'hf', block_size=16)
    imported = evaluate(model, batches, cfg, train.setup_env(cfg))
    assert first['val_loss'] == pytest.approx(imported['val'], abs=1e-6)
    assert read_log(tmp_path / 'run')[-1]['val_loss'] < first['val_loss']


def test_init_from_takes_the_shape_the_arguments_leave_unset(tiny_corpus, tmp_path):
    """nanoGPT's init_from takes the model from the checkpoint: so does this, where nothing set
    it."""
    hf_gpt2(vocab_size=300).save_pretrained(tmp_path / 'hf')  # 4 x 32, 4 heads
    args = [a for a in gpt_args(tiny_corpus, tmp_path / 'run', tmp_path / 'hf')
            if not a.startswith(('--n_layer', '--n_head', '--n_embd'))]
    args += ['--down_steps=2', '--up_steps=2,2']
    cfg = train.parse_args(args)
    # the defaults say 4 x 128
    assert (cfg.model, cfg.n_layer, cfg.n_head, cfg.n_embd) == ('gpt', 4, 4, 32)
    assert train.cli(args) == 0 and read_log(tmp_path / 'run')


@pytest.mark.parametrize('overrides, message', [
    (dict(n_layer=2), 'holds a different model than asked: pass --model=gpt --n_layer=4 --n_head=4 '
                      '--n_embd=32'),
    (dict(block_size=32), 'block_size=32 is longer than'),
    (dict(model='bert'), 'different model'),
])
def test_init_from_refuses_what_cannot_work(tiny_corpus, tmp_path, capsys, overrides, message):
    hf_gpt2(vocab_size=300).save_pretrained(tmp_path / 'hf')
    assert train.cli(gpt_args(tiny_corpus, tmp_path / 'run', tmp_path / 'hf', **overrides)) == 2
    err = capsys.readouterr().err
    assert err.startswith('error: ') and err.count('\n') == 1 and message in err, err
    assert not (tmp_path / 'run').exists()


def test_init_from_a_model_whose_shape_cannot_take_the_levels(tiny_corpus, tmp_path, capsys):
    config = transformers.GPT2Config(n_embd=24, n_layer=3, n_head=3, n_positions=16, vocab_size=300)
    transformers.GPT2LMHeadModel(config).save_pretrained(tmp_path / 'odd')
    args = gpt_args(tiny_corpus, tmp_path / 'run', tmp_path / 'odd', n_layer=3, n_head=3, n_embd=24)
    assert train.cli(args) == 2
    assert 'levels=2 needs level 2 = level 1 halved' in capsys.readouterr().err


def test_init_from_a_model_whose_vocabulary_is_too_small(tiny_corpus, tmp_path, capsys):
    hf_gpt2(vocab_size=100).save_pretrained(tmp_path / 'hf')  # the corpus is bytes: 256 ids
    assert train.cli(gpt_args(tiny_corpus, tmp_path / 'run', tmp_path / 'hf')) == 2
    assert 'more than init_from' in capsys.readouterr().err


def test_sample_from_an_imported_gpt2_says_how_to_get_the_encoding(tmp_path, capsys, monkeypatch):
    import sample
    hf_gpt2(vocab_size=300).save_pretrained(tmp_path / 'hf')
    monkeypatch.setenv('TIKTOKEN_CACHE_DIR', str(tmp_path / 'empty_cache'))
    import tiktoken.load
    def offline(*args):
        raise OSError('no network')
    monkeypatch.setattr(tiktoken.load, 'read_file', offline)
    assert sample.cli([f'--init_from={tmp_path / "hf"}']) == 2
    err = capsys.readouterr().err
    assert "tiktoken's gpt2 encoding" in err and 'TIKTOKEN_CACHE_DIR' in err
