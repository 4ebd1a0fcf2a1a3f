# The GPU benchmark at GPT-2 small's shape (12 layers x 768, 12 heads; 85M parameters with bytes
# for tokens) on bench_gpu.py's corpus, to see whether the saving grows with the model. A step costs
# about 3.3 times an 8 x 512 one, so the reference is 300 steps, and the cycle keeps bench_gpu.py's
# proportions (30 down, 120 at the bottom, 150 up); a lower lr, as for a wider model:
#   python bench.py config/bench_gpu_768.py --n_seeds=2 --jobs=12 --growth=False \
#       --ablation=split-complementary-0.1
base = 'bench_gpu.py'
out_dir = 'bench-gpu-768'
n_layer, n_head, n_embd = 12, 12, 768
down_steps = (30,)
up_steps = (150, 120)
lr = (1e-3, 2e-3)
baseline_lr = 1e-3
warmup, transition_warmup = 30, (15,)
eval_interval = 30
