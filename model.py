"""GPT, BERT and ViT built from one pre-LN transformer Block.

Shapes: B batch, T sequence length, d = n_embd, H = n_head, hd = d / H head size, V vocabulary.
Every model returns (logits, loss) from forward(x, targets) and exposes its config as model.config.

FEATURE_AXES tables tell coalesce.py which axes of which parameter are feature axes:
  'out'  a feature the parameter produces: rows of a Linear weight, biases, LayerNorm, the columns
         of an embedding table;
  'in'   a feature it consumes: the columns of a Linear weight;
  'qkv'  an 'out' axis made of three stacked blocks (q, k, v), each paired within itself;
  None   not a feature axis (vocabulary, positions, classes, pixels): left alone.
Pairs (i, i + n/2) of every feature axis are merged, so head h pairs with head h + H/2.
"""
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class GPTConfig:
    block_size: int = 256
    vocab_size: int = 256
    vocab_multiple: int = 1  # the embedding table has vocab_size rows rounded up to this (64 suits
                             # GPUs); the extra rows never get a logit, so take no probability
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    gelu: str = 'exact'     # or 'tanh', GELU's tanh approximation (GPT-2's)
    ln_eps: float = 1e-5    # LayerNorm's epsilon


@dataclass
class BERTConfig(GPTConfig):
    vocab_size: int = 257  # the last id is the [MASK] token


@dataclass
class ViTConfig:
    image_size: int = 32
    patch_size: int = 4
    in_channels: int = 3
    n_classes: int = 10
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    gelu: str = 'exact'     # or 'tanh'
    ln_eps: float = 1e-5    # LayerNorm's epsilon (Hugging Face's ViT: 1e-12)


def gelu(config):
    """The GELU a config asks for: exact, or the tanh approximation."""
    if config.gelu not in ('exact', 'tanh'):
        raise ValueError(f"gelu must be 'exact' or 'tanh', got {config.gelu!r}")
    return nn.GELU(approximate='none' if config.gelu == 'exact' else 'tanh')


class SelfAttention(nn.Module):
    def __init__(self, n_embd, n_head, dropout, causal):
        super().__init__()
        self.n_head, self.dropout, self.causal = n_head, dropout, causal
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)  # q, k, v stacked on the output axis
        self.c_proj = nn.Linear(n_embd, n_embd)

    def forward(self, x):  # (B, T, d) -> (B, T, d)
        B, T, d = x.shape
        q, k, v = self.c_attn(x).split(d, dim=2)
        q, k, v = (t.view(B, T, self.n_head, d // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.c_proj(y.transpose(1, 2).reshape(B, T, d))


class MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd)
        self.gelu = gelu(config)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd)

    def forward(self, x):  # (B, T, d) -> (B, T, 4d) -> (B, T, d)
        return self.c_proj(self.gelu(self.c_fc(x)))


class Block(nn.Module):
    """x + attn(ln_1(x)), then x + mlp(ln_2(x)); GELU MLP of width 4d."""

    def __init__(self, config, causal):
        super().__init__()
        n_embd, dropout = config.n_embd, config.dropout
        self.ln_1 = nn.LayerNorm(n_embd, eps=config.ln_eps)
        self.attn = SelfAttention(n_embd, config.n_head, dropout, causal)
        self.ln_2 = nn.LayerNorm(n_embd, eps=config.ln_eps)
        self.mlp = MLP(config)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        x = x + self.drop(self.attn(self.ln_1(x)))
        return x + self.drop(self.mlp(self.ln_2(x)))


BLOCK_FEATURE_AXES = {
    'ln_1.weight': ('out',), 'ln_1.bias': ('out',),
    'attn.c_attn.weight': ('qkv', 'in'), 'attn.c_attn.bias': ('qkv',),
    'attn.c_proj.weight': ('out', 'in'), 'attn.c_proj.bias': ('out',),
    'ln_2.weight': ('out',), 'ln_2.bias': ('out',),
    'mlp.c_fc.weight': ('out', 'in'), 'mlp.c_fc.bias': ('out',),
    'mlp.c_proj.weight': ('out', 'in'), 'mlp.c_proj.bias': ('out',),
}


# The two projections through which a block writes into the residual stream: with both zero (and
# their biases), the block is the identity, x -> x.
BLOCK_RESIDUAL_WRITES = ('attn.c_proj.weight', 'attn.c_proj.bias', 'mlp.c_proj.weight',
                         'mlp.c_proj.bias')


class Transformer(nn.Module):
    """What the three models share: the blocks, the final LayerNorm, init, counting.

    Subclasses set KIND (their name in MODELS and on the command line), CONFIG (their config class),
    FEATURE_AXES (their parameters outside `blocks`) and TIED_HEAD_LN, the name of the LayerNorm
    right before an output head tied to the token embedding (None if untied).
    """
    KIND: str
    CONFIG: type
    FEATURE_AXES: dict = {}
    TIED_HEAD_LN = None
    REPORTS_ACCURACY = False  # log top-1 accuracy beside the loss (see accuracy_counts)

    def __init__(self, config, causal):
        super().__init__()
        self.config = config
        self.blocks = nn.ModuleList(Block(config, causal) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, eps=config.ln_eps)
        self.drop = nn.Dropout(config.dropout)

    def init_weights(self):
        """GPT-2: normal(0, 0.02), zero biases, residual projections scaled by 1/sqrt(2 n_layer)."""
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
                if getattr(m, 'bias', None) is not None:
                    nn.init.zeros_(m.bias)
        for block in self.blocks:
            for proj in (block.attn.c_proj, block.mlp.c_proj):
                nn.init.normal_(proj.weight, std=0.02 / math.sqrt(2 * self.config.n_layer))

    def encode(self, h):  # (B, T, d) embeddings -> (B, T, d) after the blocks and ln_f
        h = self.drop(h)
        for block in self.blocks:
            h = block(h)
        return self.ln_f(h)

    def num_params(self, exclude_positions=False):
        n = sum(p.numel() for p in self.parameters())
        return n - self.wpe.weight.numel() if exclude_positions else n

    def flops_per_token(self):
        """Training FLOPs (forward + backward) per token: 6 N + 12 L d T, N without positions."""
        c = self.config
        attention = 12 * c.n_layer * c.n_embd * self.seq_len
        return 6 * self.num_params(exclude_positions=True) + attention


def padded_vocab(config):
    """The rows of a text model's embedding table: vocab_size rounded up to vocab_multiple."""
    return -(-config.vocab_size // config.vocab_multiple) * config.vocab_multiple


class GPT(Transformer):
    """Causal LM; the output head is the token embedding (tied). idx (B, T) -> logits (B, T, V)."""
    KIND, CONFIG = 'gpt', GPTConfig
    FEATURE_AXES = {'wte.weight': (None, 'out'), 'wpe.weight': (None, 'out'),
                    'ln_f.weight': ('out',), 'ln_f.bias': ('out',)}
    TIED_HEAD_LN = 'ln_f'

    def __init__(self, config: GPTConfig):
        super().__init__(config, causal=True)
        self.seq_len = config.block_size
        self.wte = nn.Embedding(padded_vocab(config), config.n_embd)
        self.wpe = nn.Embedding(config.block_size, config.n_embd)
        self.init_weights()

    def forward(self, idx, targets=None):
        T = idx.shape[1]
        if T > self.config.block_size:
            raise ValueError(f"sequence of length {T} is longer than block_size "
                             f"{self.config.block_size}")
        h = self.encode(self.wte(idx) + self.wpe(torch.arange(T, device=idx.device)))
        logits = F.linear(h, self.wte.weight)[..., :self.config.vocab_size]  # the real tokens only
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten())
        return logits, loss

    @torch.no_grad()
    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None):
        """Append max_new_tokens sampled tokens to idx (B, T); temperature 0 means greedy."""
        for _ in range(max_new_tokens):
            logits, _ = self(idx[:, -self.config.block_size:])
            logits = logits[:, -1, :]
            if temperature == 0:
                next_id = logits.argmax(dim=-1, keepdim=True)
            else:
                logits = logits / temperature
                if top_k is not None:
                    kth = torch.topk(logits, min(top_k, logits.size(-1))).values[:, [-1]]
                    logits = logits.masked_fill(logits < kth, float('-inf'))
                next_id = torch.multinomial(F.softmax(logits, dim=-1), num_samples=1)
            idx = torch.cat((idx, next_id), dim=1)
        return idx


class BERT(Transformer):
    """Bidirectional encoder with BERT's masked-LM head: dense, GELU, LayerNorm, then a decoder
    tied to the token embedding plus an output bias. Loss only where targets != -1."""
    KIND, CONFIG = 'bert', BERTConfig
    FEATURE_AXES = {'wte.weight': (None, 'out'), 'wpe.weight': (None, 'out'),
                    'ln_f.weight': ('out',), 'ln_f.bias': ('out',),
                    'head_dense.weight': ('out', 'in'), 'head_dense.bias': ('out',),
                    'head_ln.weight': ('out',), 'head_ln.bias': ('out',),
                    'head_bias': (None,)}
    TIED_HEAD_LN = 'head_ln'
    REPORTS_ACCURACY = True  # on the masked positions only

    def __init__(self, config: BERTConfig):
        super().__init__(config, causal=False)
        self.seq_len = config.block_size
        self.wte = nn.Embedding(padded_vocab(config), config.n_embd)
        self.wpe = nn.Embedding(config.block_size, config.n_embd)
        self.head_dense = nn.Linear(config.n_embd, config.n_embd)
        self.head_gelu = gelu(config)
        self.head_ln = nn.LayerNorm(config.n_embd, eps=config.ln_eps)
        self.head_bias = nn.Parameter(torch.zeros(padded_vocab(config)))
        self.init_weights()

    @property
    def mask_token_id(self):
        return self.config.vocab_size - 1

    def forward(self, idx, targets=None):
        T = idx.shape[1]
        h = self.encode(self.wte(idx) + self.wpe(torch.arange(T, device=idx.device)))
        h = self.head_ln(self.head_gelu(self.head_dense(h)))
        logits = F.linear(h, self.wte.weight, self.head_bias)[..., :self.config.vocab_size]
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=-1)
        return logits, loss


def set_dropout(model, p):
    """Set every dropout of the model (embeddings, attention, residual branches) to probability p,
    whatever its config says; the config's dropout is what a checkpoint keeps."""
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.p = p
        elif isinstance(m, SelfAttention):
            m.dropout = p


def accuracy_counts(logits, targets):
    """(correct, counted): predictions (argmax of logits (..., C)) equal to targets (...), over the
    targets that count; -1 marks the ones that do not (BERT's unmasked positions)."""
    counted = targets != -1
    return ((logits.argmax(-1) == targets) & counted).sum(), counted.sum()


def mask_tokens(idx, mask_token_id, mask_prob=0.15, generator=None):
    """BERT's 80/10/10 masking of token ids idx (B, T), on the CPU: pick mask_prob of the positions;
    of those, 80% become [MASK], 10% a random token below mask_token_id, 10% stay unchanged.
    Returns (inputs, targets), targets -1 (ignored by the loss) where not picked."""
    picked = torch.rand(idx.shape, generator=generator) < mask_prob
    draw = torch.rand(idx.shape, generator=generator)
    random_ids = torch.randint(mask_token_id, idx.shape, generator=generator)
    inputs = torch.where(picked & (draw < 0.8), mask_token_id, idx)
    inputs = torch.where(picked & (draw >= 0.8) & (draw < 0.9), random_ids, inputs)
    targets = torch.where(picked, idx, -1)
    return inputs, targets


class ViT(Transformer):
    """Conv2d patch embedding, class token, learned positions, classification head on the class
    token (untied). images (B, C, S, S) -> logits (B, n_classes)."""
    KIND, CONFIG = 'vit', ViTConfig
    FEATURE_AXES = {'patch.weight': ('out', None, None, None), 'patch.bias': ('out',),
                    'cls_token': ('out',), 'wpe.weight': (None, 'out'),
                    'ln_f.weight': ('out',), 'ln_f.bias': ('out',),
                    'head.weight': (None, 'in'), 'head.bias': (None,)}
    REPORTS_ACCURACY = True  # top-1 over the classes

    def __init__(self, config: ViTConfig):
        super().__init__(config, causal=False)
        if config.image_size % config.patch_size:
            raise ValueError(f"image_size {config.image_size} is not a multiple of patch_size "
                             f"{config.patch_size}")
        self.seq_len = (config.image_size // config.patch_size) ** 2 + 1
        self.patch = nn.Conv2d(config.in_channels, config.n_embd, config.patch_size,
                               stride=config.patch_size)
        self.cls_token = nn.Parameter(0.02 * torch.randn(config.n_embd))
        self.wpe = nn.Embedding(self.seq_len, config.n_embd)
        self.head = nn.Linear(config.n_embd, config.n_classes)
        self.init_weights()

    def forward(self, images, targets=None):
        patches = self.patch(images).flatten(2).transpose(1, 2)  # (B, T-1, d)
        cls = self.cls_token.expand(patches.shape[0], 1, -1)
        h = torch.cat((cls, patches), dim=1) + self.wpe.weight
        logits = self.head(self.encode(h)[:, 0])
        loss = None if targets is None else F.cross_entropy(logits.float(), targets)
        return logits, loss


MODELS = {cls.KIND: cls for cls in (GPT, BERT, ViT)}
