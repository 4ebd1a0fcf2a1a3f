# The cycle that reaches the baseline's loss for fewer FLOPs on the CPU at 4 x 256 (RESULTS.md):
# the paper's GPU cycle (config/bench_gpu.py) with the complementary split on the way up and one
# decay, over the cycle's last 20% (the bench's split-complementary-0.1+wsd ablation as a recipe of
# its own, so that its frontier trains without the plain copy's). Its three figures:
#   python bench.py config/bench_gpu_split_wsd.py --n_seeds=2 --jobs=16 --growth=False \
#       --budgets=1,1.3,1.6
base = 'bench_gpu.py'
split_complementary = 0.1
decay_steps = 200
