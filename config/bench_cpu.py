# The CPU benchmark (python bench.py), the default recipe's cycle (config/default.py): a byte-level
# GPT (4 layers x 128) on the stdlib corpus; a 2-level V-cycle against plain training on as many tokens.
# The schedule is the best of the sweeps in results/RESULTS.md: depth-only coalescing (M_2 is
# 2 layers x 128), 100 steps down, 900 at the bottom, 500 after interpolation; grown layers write
# half each (depth_copies='half') and only the last stage decays its learning rate (the defaults).
# Peak lr: 5.6e-3 for M_1 (the baseline's best, swept on the median of 3 seeds; 8e-3 was worse on
# the median) and 1.5x that for the smaller M_2 (results/RESULTS.md, ablations lr-x0.7 and lr-x1.4).
out_dir = 'bench-cpu'
dataset = 'stdlib'
model = 'gpt'
n_layer, n_head, n_embd, block_size = 4, 4, 128, 128
batch_tokens, micro_batch = 4096, 32
levels = 2
coalesce_width, coalesce_depth = False, True
down_steps = (100,)
up_steps = (500, 900)
lr = (5.6e-3, 8.4e-3)
baseline_lr = 5.6e-3  # plain training's best on this model and budget (swept over 3 seeds, results/RESULTS.md)
warmup, transition_warmup = 50, (30,)
alpha = (0.75,)
depth_pairing = 'stack'
eval_interval, eval_iters = 50, 10
checkpoint_interval = 100_000  # the bench measures training, not checkpoint writes
