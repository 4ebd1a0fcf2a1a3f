"""Interchange with Hugging Face transformers: GPT-2 and ViT weights in and out, exactly.

    from hf import import_hf, export_hf
    model = import_hf('gpt2-folder')  # a folder saved by save_pretrained, or a transformers model
    export_hf(model, 'out/hf')        # then GPT2LMHeadModel.from_pretrained('out/hf')
    python train.py --init_from=gpt2-folder --dataset=tinystories    # continue pretraining it

The checkpoint files are read and written directly (config.json, then model.safetensors, its
shards, or pytorch_model.bin), under the names transformers stores on disk, which its versions 4
and 5 both read and write. Which vcycle parameter is which Hugging Face tensor is declared once
per model, in TABLES below (GPT -> GPT2LMHeadModel, ViT -> ViTForImageClassification); one
function serves both. What differs in the computation is a setting of the model config: GPT-2's
tanh-approximated GELU (gelu='tanh'), ViT's LayerNorm epsilon (ln_eps=1e-12).

BERT is refused: transformers' BERT is post-LN (each LayerNorm after its residual add) and vcycle's
is pre-LN, so the same weights would compute a different function.
transformers (and safetensors, which it brings) is needed only here, and only when used.

Where downloads work, coalescing the pretrained GPT-2 into 6 x 384 and measuring both:

    from transformers import GPT2LMHeadModel
    import train
    from coalesce import coalesce, decoalesce
    from step import evaluate
    GPT2LMHeadModel.from_pretrained('gpt2').save_pretrained('gpt2')   # downloads once, 500 MB
    cfg = train.parse_args(['config/gpt2_small.py', '--init_from=gpt2', '--block_size=256',
                            '--batch_tokens=8192'])
    env = train.setup_env(cfg)
    batches, m1 = train.build_data_and_model(cfg, env)   # TinyStories (data/tinystories/prepare.py)
    for name, m in (('GPT-2', m1), ('coalesced 6 x 384', coalesce(m1)),
                    ('and back', decoalesce(coalesce(m1)))):
        print(name, evaluate(m, batches, cfg, env)['val'])
"""
import json
import tempfile
from dataclasses import replace
from pathlib import Path

import torch

from model import BLOCK_FEATURE_AXES, MODELS

GELU_NAMES = {'gelu': 'exact', 'gelu_new': 'tanh', 'gelu_pytorch_tanh': 'tanh'}  # theirs -> ours
GELU_EXPORTED = {'exact': 'gelu', 'tanh': 'gelu_new'}
# GPT-2's causal-mask buffers, and its tied head
IGNORED = ('.attn.bias', '.attn.masked_bias', 'lm_head.weight')
VIT_BLOCK = {'ln_1': 'layernorm_before', 'ln_2': 'layernorm_after',
             'attn.c_proj': 'attention.output.dense', 'mlp.c_fc': 'intermediate.dense',
             'mlp.c_proj': 'output.dense'}

# Per vcycle model kind: Hugging Face's model_type and class, its config keys for ours, the names of
# our parameters on disk ({i} a layer; a tuple is concatenated: ViT stores q, k and v apart), those
# stored transposed (GPT-2's Conv1D layers keep weights as (in, out)) and those with leading 1s.
TABLES = {
    'gpt': dict(
        model_type='gpt2', architecture='GPT2LMHeadModel', gelu_key='activation_function',
        mlp_key='n_inner',
        config={'n_layer': 'n_layer', 'n_head': 'n_head', 'n_embd': 'n_embd',
                'block_size': 'n_positions', 'vocab_size': 'vocab_size',
                'ln_eps': 'layer_norm_epsilon', 'dropout': 'resid_pdrop'},
        names={'wte.weight': 'transformer.wte.weight', 'wpe.weight': 'transformer.wpe.weight',
               'ln_f.weight': 'transformer.ln_f.weight', 'ln_f.bias': 'transformer.ln_f.bias',
               **{f'blocks.{{i}}.{name}': f'transformer.h.{{i}}.{name}'
                  for name in BLOCK_FEATURE_AXES}},
        transposed={f'blocks.{{i}}.{name}' for name in BLOCK_FEATURE_AXES
                    if name.endswith('weight') and not name.startswith('ln')},
        leading_ones={}),
    'vit': dict(
        model_type='vit', architecture='ViTForImageClassification', gelu_key='hidden_act',
        mlp_key='intermediate_size',
        config={'n_layer': 'num_hidden_layers', 'n_head': 'num_attention_heads',
                'n_embd': 'hidden_size', 'image_size': 'image_size', 'patch_size': 'patch_size',
                'in_channels': 'num_channels', 'ln_eps': 'layer_norm_eps',
                'dropout': 'hidden_dropout_prob'},
        names={'patch.weight': 'vit.embeddings.patch_embeddings.projection.weight',
               'patch.bias': 'vit.embeddings.patch_embeddings.projection.bias',
               'cls_token': 'vit.embeddings.cls_token',
               'wpe.weight': 'vit.embeddings.position_embeddings',
               'ln_f.weight': 'vit.layernorm.weight', 'ln_f.bias': 'vit.layernorm.bias',
               'head.weight': 'classifier.weight', 'head.bias': 'classifier.bias',
               **{f'blocks.{{i}}.{ours}.{p}': f'vit.encoder.layer.{{i}}.{theirs}.{p}'
                  for p in ('weight', 'bias') for ours, theirs in VIT_BLOCK.items()},
               **{f'blocks.{{i}}.attn.c_attn.{p}': tuple(
                   f'vit.encoder.layer.{{i}}.attention.attention.{q}.{p}'
                   for q in ('query', 'key', 'value')) for p in ('weight', 'bias')}},
        transposed=set(), leading_ones={'cls_token': 2, 'wpe.weight': 1}),
}


class HFError(ValueError):
    """A Hugging Face model or folder that cannot be imported or exported; the message says why."""


def require_transformers():
    try:
        import safetensors.torch  # noqa: F401
        import transformers
    except ImportError:
        raise HFError("Hugging Face interchange needs transformers: pip install "
                      "transformers") from None
    return transformers


def kind_of(hf_config):
    """vcycle's model kind ('gpt' or 'vit') for a Hugging Face config (a dict), or a one-line
    reason why not."""
    model_type = hf_config.get('model_type')
    if model_type == 'bert':
        raise HFError("transformers' BERT is post-LN (LayerNorm after each residual add) and "
                      "vcycle's BERT is pre-LN: the same weights compute a different function, so "
                      "a BERT is not imported")
    for kind, table in TABLES.items():
        if table['model_type'] == model_type:
            architectures = hf_config.get('architectures') or [table['architecture']]
            if kind == 'vit' and table['architecture'] not in architectures:
                raise HFError(f"a {architectures[0]} has no classification head: save a "
                              f"ViTForImageClassification")
            return kind
    raise HFError(f"model_type {model_type!r} is not supported: vcycle imports GPT-2 ('gpt2') and "
                  f"ViT ('vit') folders only")


def config_from_hf(kind, hf_config):
    """vcycle's model config for a Hugging Face config (a dict), checked for what vcycle cannot
    compute the same way."""
    table = TABLES[kind]
    values = {ours: hf_config[theirs] for ours, theirs in table['config'].items()
              if theirs in hf_config}
    act = hf_config.get(table['gelu_key'], 'gelu')
    if act not in GELU_NAMES:
        raise HFError(f"activation {act!r} is not supported: vcycle computes "
                      f"{', '.join(GELU_NAMES)}")
    values['gelu'] = GELU_NAMES[act]
    mlp = hf_config.get(table['mlp_key'])
    if mlp not in (None, 4 * values['n_embd']):
        raise HFError(f"{table['mlp_key']}={mlp}: vcycle's MLP is 4 x n_embd = "
                      f"{4 * values['n_embd']} wide")
    if kind == 'gpt' and (not hf_config.get('scale_attn_weights', True)
                          or hf_config.get('scale_attn_by_inverse_layer_idx')
                          or not hf_config.get('tie_word_embeddings', True)):
        raise HFError("this GPT-2 variant (unscaled or layer-scaled attention, or an untied head) "
                      "is not supported")
    if kind == 'vit':
        if not hf_config.get('qkv_bias', True):
            raise HFError("a ViT without q, k, v biases is not supported")
        values['n_classes'] = len(hf_config.get('id2label') or {}) or hf_config.get('num_labels', 2)
    return MODELS[kind].CONFIG(**values)


def folder_config(folder, block_size=None, dropout=None, vocab_multiple=1):
    """(kind, vcycle model config) of a Hugging Face folder, read from its config.json alone.
    block_size, if given, keeps only the first block_size positions of a GPT; dropout, if given,
    replaces the model's own; a GPT's embedding table is padded to a multiple of vocab_multiple."""
    hf_config = read_config(folder)
    kind = kind_of(hf_config)
    config = config_from_hf(kind, hf_config)
    if block_size is not None and kind == 'gpt':
        if block_size > config.block_size:
            raise HFError(f"block_size={block_size} is longer than {folder}'s {config.block_size} "
                          f"positions: "
                          f"use at most {config.block_size}")
        config = replace(config, block_size=block_size)
    if dropout is not None:
        config = replace(config, dropout=dropout)
    if kind == 'gpt':
        config = replace(config, vocab_multiple=vocab_multiple)
    return kind, config


def read_config(folder):
    path = Path(folder) / 'config.json'
    if not path.is_file():
        raise HFError(f"{folder} is not a Hugging Face model folder: it has no config.json")
    return json.loads(path.read_text())


def read_weights(folder):
    """{name: tensor} of a folder saved by save_pretrained."""
    folder = Path(folder)
    require_transformers()
    from safetensors.torch import load_file
    if (folder / 'model.safetensors').is_file():
        files = [folder / 'model.safetensors']
    elif (folder / 'model.safetensors.index.json').is_file():
        index = json.loads((folder / 'model.safetensors.index.json').read_text())
        files = [folder / name for name in sorted(set(index['weight_map'].values()))]
    elif (folder / 'pytorch_model.bin').is_file():
        return torch.load(folder / 'pytorch_model.bin', map_location='cpu', weights_only=True)
    else:
        raise HFError(f"{folder} holds no weights (model.safetensors or pytorch_model.bin)")
    state = {}
    for f in files:
        state.update(load_file(f))
    return state


def named(kind, n_layer):
    """[(vcycle name, Hugging Face name or tuple of names, pattern)] of every parameter."""
    out = []
    for ours, theirs in TABLES[kind]['names'].items():
        for i in (range(n_layer) if '{i}' in ours else [None]):
            fill = (lambda n: n.format(i=i)) if i is not None else (lambda n: n)
            filled = tuple(map(fill, theirs)) if isinstance(theirs, tuple) else fill(theirs)
            out.append((fill(ours), filled, ours))
    return out


def import_hf(source, block_size=None, dropout=None, vocab_multiple=1):
    """A vcycle GPT or ViT computing what the Hugging Face model `source` computes: a folder saved
    by save_pretrained, or a transformers model (saved to a temporary folder first). block_size,
    dropout and vocab_multiple as in folder_config (padding rows are zeros)."""
    if not isinstance(source, (str, Path)):
        with tempfile.TemporaryDirectory() as tmp:
            source.save_pretrained(tmp)
            return import_hf(tmp, block_size, dropout, vocab_multiple)
    kind, config = folder_config(source, block_size, dropout, vocab_multiple)
    hf_state = read_weights(source)
    table = TABLES[kind]
    with torch.device('meta'):
        model = MODELS[kind](config)
    shapes = {name: p.shape for name, p in model.state_dict().items()}
    state, used = {}, set()
    for ours, theirs, pattern in named(kind, config.n_layer):
        names = theirs if isinstance(theirs, tuple) else (theirs,)
        missing = [n for n in names if n not in hf_state]
        if missing:
            raise HFError(f"{source} has no tensor {missing[0]} (for {ours}): not a "
                          f"{table['architecture']} checkpoint")
        t = torch.cat([hf_state[n] for n in names])  # one tensor, or ViT's q, k and v
        t = t.T if pattern in table['transposed'] else t
        if ours == 'wpe.weight' and kind == 'gpt':
            t = t[:config.block_size]  # the first block_size positions
        if ours == 'wte.weight':       # padded to the model's table
            t = torch.cat([t, t.new_zeros(shapes[ours][0] - t.shape[0], t.shape[1])])
        state[ours] = t.reshape(shapes[ours]).float().contiguous()
        used.update(names)
    unknown = [n for n in hf_state if n not in used and not n.endswith(IGNORED)]
    if unknown:
        raise HFError(f"{source} holds tensors vcycle's {type(model).__name__} has no place for, "
                      f"such as {unknown[0]}")
    model.load_state_dict(state, assign=True)
    return model.eval()


def export_hf(model, folder):
    """Write model (a vcycle GPT or ViT) to folder as transformers' save_pretrained would:
    config.json and model.safetensors, so that from_pretrained opens it and computes the same
    logits."""
    transformers = require_transformers()
    from safetensors.torch import save_file
    if model.KIND not in TABLES:
        raise HFError(f"a {type(model).__name__} has no Hugging Face counterpart here (GPT and ViT "
                      f"do)")
    table, c = TABLES[model.KIND], model.config
    values = {theirs: getattr(c, ours) for ours, theirs in table['config'].items()}
    values.update({table['gelu_key']: GELU_EXPORTED[c.gelu], table['mlp_key']: 4 * c.n_embd,
                   'architectures': [table['architecture']]})
    if model.KIND == 'gpt':  # the last id stands for GPT-2's <|endoftext|>, inside the vocabulary
        values.update(embd_pdrop=c.dropout, attn_pdrop=c.dropout, bos_token_id=c.vocab_size - 1,
                      eos_token_id=c.vocab_size - 1)
    else:
        values.update(num_labels=c.n_classes, attention_probs_dropout_prob=c.dropout, qkv_bias=True)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    transformers.AutoConfig.for_model(table['model_type'], **values).save_pretrained(folder)
    ours_state = model.state_dict()
    state = {}
    for ours, theirs, pattern in named(model.KIND, c.n_layer):
        t = ours_state[ours].detach().float().cpu()
        t = t[:c.vocab_size] if ours == 'wte.weight' else t  # the real tokens' rows, no padding
        t = t.T if pattern in table['transposed'] else t
        t = t.reshape((1,) * table['leading_ones'].get(ours, 0) + tuple(t.shape))
        for name, part in zip(theirs, t.chunk(3)) if isinstance(theirs, tuple) else [(theirs, t)]:
            state[name] = part.contiguous()
    save_file(state, str(folder / 'model.safetensors'), metadata={'format': 'pt'})
    return folder
