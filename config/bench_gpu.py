# The GPU benchmark (one H100: bf16 autocast and torch.compile come on by themselves on CUDA):
# a byte-level GPT of 8 layers x 512 (25M parameters) on a large Python-source corpus made without
# network from the source of an installed package (here transformers, about 60 MB):
#   python data/stdlib/prepare.py --root $(python -c "import transformers, os; print(os.path.dirname(transformers.__file__))") --out data/pysrc
#   python bench.py config/bench_gpu.py
# Tuned under the earlier per-stage lr decay and plain layer copies, not re-tuned since (README).
out_dir = 'bench-gpu'
dataset = 'pysrc'
model = 'gpt'
n_layer, n_head, n_embd, block_size = 8, 8, 512, 256
batch_tokens, micro_batch = 65536, 256
levels = 2
down_steps = (200,)
up_steps = (800, 1000)
lr = (1.5e-3, 3e-3)
warmup, transition_warmup = 100, (100,)
alpha = (0.5,)
eval_interval, eval_iters = 100, 20
checkpoint_interval = 100_000
