# The GPU benchmark at the GPT-2 small shape (12 layers x 768, 12 heads; 85M parameters with bytes
# for tokens) on the same Python-source corpus as config/bench_gpu.py, to see whether the saving
# grows with the model. Sized to measure two seeds in under 8 minutes on one H200 with every run side
# by side: a 12 x 768 step costs about 3.3 times an 8 x 512 one, so the reference is 300 steps of
# 65,536 tokens (19.7M tokens), and the cycle keeps bench_gpu.py's proportions (30 down, 120 at the
# bottom, 150 up). M_1's lr is lower than 8 x 512's, as for a wider model. Estimated, not measured:
#   python bench.py config/bench_gpu_768.py --n_seeds=2 --jobs=12 --growth=False --ablation=split-complementary-0.1
from pathlib import Path as _Path
exec(_Path(__file__).with_name('bench_gpu.py').read_text())
out_dir = 'bench-gpu-768'
n_layer, n_head, n_embd = 12, 12, 768
down_steps = (30,)
up_steps = (150, 120)
lr = (1e-3, 2e-3)
baseline_lr = 1e-3
warmup, transition_warmup = 30, (15,)
eval_interval = 30
