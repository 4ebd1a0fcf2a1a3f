# The CPU benchmark (python bench.py): the default recipe, Config's defaults in train.py (a
# byte-level GPT of 4 layers x 128 on the stdlib corpus, a 2-level V-cycle halving the depth),
# against plain training on as many tokens. Where each setting comes from: results/RESULTS.md,
# "The recipes' settings".
out_dir = 'bench-cpu'
baseline_lr = 3.9e-3            # plain training's own lr on this model and budget, swept over seeds
eval_interval = 50
checkpoint_interval = 100_000   # the bench measures training, not checkpoint writes
