# The default recipe, what `python train.py` runs: a byte-level GPT (4 layers x 128) on the built-in
# Python standard-library corpus, a 2-level V-cycle that halves depth (M_2: 2 layers x 128), about
# two minutes on a laptop CPU. It is the CPU bench's recipe (config/bench_cpu.py: 26.1% fewer
# FLOPs than plain training with warmup-stable-decay for the same loss, median of 3 seeds,
# results/RESULTS.md). These are Config's defaults, written out (tests/test_train.py keeps the two equal).
dataset = 'stdlib'
model = 'gpt'
n_layer, n_head, n_embd, block_size = 4, 4, 128, 128
batch_tokens, micro_batch = 4096, 32          # 32 sequences of 128 bytes per step
levels = 2
coalesce_width, coalesce_depth = False, True  # M_2 keeps the width and has half the layers
down_steps = (100,)                           # E_a: M_1 trains 100 steps, then is coalesced
up_steps = (500, 900)                         # then M_2 trains 900 steps, M_1 500 more after interpolation
lr = (5.6e-3, 8.4e-3)                         # the smaller model takes the larger learning rate
baseline_lr = 0.0                             # python train.py --baseline: M_1's lr, 5.6e-3 (the bench's: 3.9e-3) ...
baseline_decay = 0.2                          # ... held, then decayed over the last 20% of the steps (beat cosine)
warmup, transition_warmup = 50, (30,)
alpha = (0.75,)
depth_pairing = 'stack'
eval_interval, eval_iters = 100, 10
