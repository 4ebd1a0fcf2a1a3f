# The GPU benchmark (one H100 or H200; bf16 autocast and torch.compile come on by themselves on
# CUDA): a byte-level GPT of 8 layers x 512 (25M parameters) on the Python source of an installed
# package, made without network (about 44 MB from transformers):
#   python data/stdlib/prepare.py --out data/pysrc \
#       --root $(python -c "import transformers, os; print(os.path.dirname(transformers.__file__))")
#   python bench.py config/bench_gpu.py config/bench_gpu_depth.py --n_seeds=2 --jobs=8 \
#       --growth=False
# The paper's configuration: width and depth halved together (M_2 = 4 x 256), 100 steps down, 400
# at the bottom, 500 after interpolating with alpha 0.5 (65.5% of the reference's FLOPs); the
# reference is 1,000 steps of 65,536 tokens.
out_dir = 'bench-gpu'
dataset = 'pysrc'
model = 'gpt'
n_layer, n_head, n_embd, block_size = 8, 8, 512, 256
batch_tokens, micro_batch = 65536, 128  # two passes a step: a dozen runs side by side fit in 141 GB
levels = 2
coalesce_width, coalesce_depth = True, True
down_steps = (100,)
up_steps = (500, 400)
lr = (1.5e-3, 3e-3)
baseline_lr = 1.5e-3
warmup, transition_warmup = 100, (50,)
alpha = (0.5,)
eval_interval, eval_iters = 100, 20
checkpoint_interval = 100_000   # the bench measures training, not checkpoint writes
