"""The three models: shapes, causality, masking, generation, initialization."""
import math

import torch

from model import BERT, GPT, ViT, BERTConfig, GPTConfig, ViTConfig, mask_tokens


def test_gpt_is_causal_and_returns_loss():
    torch.manual_seed(0)
    m = GPT(GPTConfig(block_size=16, vocab_size=50, n_layer=2, n_head=2, n_embd=16)).eval()
    idx = torch.randint(50, (2, 16))
    logits, loss = m(idx, torch.randint(50, (2, 16)))
    assert logits.shape == (2, 16, 50) and loss.shape == ()
    assert abs(loss.item() - math.log(50)) < 0.2  # near-uniform at initialization
    changed = idx.clone()
    changed[:, 10:] = (changed[:, 10:] + 1) % 50
    # the past ignores the future
    assert torch.allclose(m(changed)[0][:, :10], logits[:, :10], atol=1e-6)
    assert not torch.allclose(m(changed)[0][:, 10:], logits[:, 10:], atol=1e-3)


def test_gpt_generate():
    torch.manual_seed(0)
    m = GPT(GPTConfig(block_size=8, vocab_size=20, n_layer=1, n_head=2, n_embd=16)).eval()
    start = torch.zeros(2, 3, dtype=torch.long)
    out = m.generate(start, 12, temperature=0.8, top_k=5)
    assert out.shape == (2, 15) and torch.equal(out[:, :3], start) and out.max() < 20
    greedy = m.generate(start, 4, temperature=0)
    assert torch.equal(greedy, m.generate(start, 4, temperature=0))
    assert greedy[0, 3] == m(start)[0][0, -1].argmax()


def test_bert_masking_is_80_10_10_and_loss_only_on_masked():
    g = torch.Generator().manual_seed(0)
    idx = torch.randint(100, (64, 128), generator=g)
    inputs, targets = mask_tokens(idx, mask_token_id=100, mask_prob=0.15, generator=g)
    picked = targets != -1
    assert abs(picked.float().mean().item() - 0.15) < 0.01
    assert torch.equal(targets[picked], idx[picked])
    assert torch.equal(inputs[~picked], idx[~picked])
    as_mask = (inputs[picked] == 100).float().mean().item()
    unchanged = (inputs[picked] == idx[picked]).float().mean().item()
    # 10% kept, ~0.1% random hits
    assert abs(as_mask - 0.8) < 0.02 and abs(unchanged - 0.1 - 0.01) < 0.02
    assert inputs.max() <= 100
    torch.manual_seed(0)
    m = BERT(BERTConfig(block_size=128, vocab_size=101, n_layer=1, n_head=2, n_embd=16))
    logits, loss = m(inputs[:2], targets[:2])
    expected = torch.nn.functional.cross_entropy(logits[picked[:2]], targets[:2][picked[:2]])
    torch.testing.assert_close(loss, expected)


def test_vit_shapes_and_counts():
    m = ViT(ViTConfig(image_size=16, patch_size=4, in_channels=3, n_classes=7, n_layer=2, n_head=2,
                      n_embd=16))
    logits, loss = m(torch.randn(5, 3, 16, 16), torch.arange(5))
    assert logits.shape == (5, 7) and loss.isfinite()
    assert m.seq_len == 17 and m.num_params(exclude_positions=True) == m.num_params() - 17 * 16


def test_gpt2_initialization():
    torch.manual_seed(0)
    m = GPT(GPTConfig(block_size=64, vocab_size=512, n_layer=8, n_head=4, n_embd=256))
    assert abs(m.wte.weight.std().item() - 0.02) < 1e-3
    assert abs(m.blocks[0].mlp.c_fc.weight.std().item() - 0.02) < 1e-3
    assert abs(m.blocks[0].mlp.c_proj.weight.std().item() - 0.02 / 4) < 5e-4  # 1/sqrt(2 * 8)
    assert m.blocks[0].attn.c_attn.bias.abs().max() == 0
    assert torch.equal(m.ln_f.weight, torch.ones(256))


def test_a_padded_vocabulary_changes_no_logit():
    """vocab_multiple pads the embedding table (and BERT's output bias); the padding rows get no
    logit, so logits, loss, sampling and accuracy see the real tokens only, as without padding."""
    from coalesce import coalesce
    from model import BERT, BERTConfig
    for cls, config_cls in ((GPT, GPTConfig), (BERT, BERTConfig)):
        torch.manual_seed(0)
        shape = dict(block_size=16, vocab_size=50, n_layer=2, n_head=2, n_embd=16)
        padded = cls(config_cls(vocab_multiple=64, **shape))
        plain = cls(config_cls(**shape))
        assert padded.wte.weight.shape == (64, 16) and plain.wte.weight.shape == (50, 16)
        with torch.no_grad():
            padded.wte.weight[50:] = 100.0  # would dominate every softmax if it had a logit
            if cls is BERT:
                padded.head_bias[50:] = 100.0
        plain.load_state_dict({k: v[:50] if k in ('wte.weight', 'head_bias') else v
                               for k, v in padded.state_dict().items()})
        idx, targets = torch.randint(50, (3, 16)), torch.randint(50, (3, 16))
        (a, loss_a), (b, loss_b) = padded.eval()(idx, targets), plain.eval()(idx, targets)
        assert a.shape == b.shape == (3, 16, 50)
        assert torch.equal(a, b) and torch.equal(loss_a, loss_b)
        assert coalesce(padded).wte.weight.shape == (64, 8)  # coalescing keeps the padding
    assert padded.num_params() - plain.num_params() == 14 * 16 + 14  # BERT: table rows and bias
    gpt = GPT(GPTConfig(block_size=8, vocab_size=20, vocab_multiple=64, n_layer=1, n_head=2,
                        n_embd=16)).eval()
    with torch.no_grad():
        gpt.wte.weight[20:] = 100.0
    assert gpt.generate(torch.zeros(4, 1, dtype=torch.long), 20, temperature=1.0).max() < 20
