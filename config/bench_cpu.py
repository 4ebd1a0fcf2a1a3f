# The CPU benchmark (python bench.py): the default recipe (config/default.py, read below), a byte-level
# GPT (4 layers x 128) on the stdlib corpus; a 2-level V-cycle against plain training on as many tokens.
# The schedule is the best of the sweeps in results/RESULTS.md: depth-only coalescing (M_2 is
# 2 layers x 128), 100 steps down, 900 at the bottom, 500 after interpolation; grown layers write
# half each (depth_copies='half') and only the last stage decays its learning rate (the defaults).
# Peak lr: 5.6e-3 for M_1 (plain training's best under cosine decay, swept on the median of 3 seeds;
# 8e-3 was worse on the median) and 1.5x that for the smaller M_2 (results/RESULTS.md, ablations
# lr-x0.7 and lr-x1.4). The baseline decays over its last 20% (baseline_decay, the default) at 3.9e-3,
# its best on the median of 5 seeds under that schedule (5.6e-3 a close second, 7.8e-3 worse).
from pathlib import Path as _Path
exec(_Path(__file__).with_name('default.py').read_text())
out_dir = 'bench-cpu'
baseline_lr = 3.9e-3  # plain training's best on this model and budget (swept over 5 seeds, results/RESULTS.md)
eval_interval = 50
checkpoint_interval = 100_000  # the bench measures training, not checkpoint writes
