# GPT-2 small (12 layers x 768, 12 heads, 124M parameters) on TinyStories in GPT-2 BPE, one GPU
# (bf16 autocast and torch.compile come on by themselves on CUDA). First run
# `python data/tinystories/prepare.py`. A 2-level V-cycle after the authors' GPT-2 recipe in
# spirit: a short first stage, a long stage at half width and depth (6 x 384) with a larger
# learning rate, then the full model after interpolation, its duplicated features split by LEMON's
# complementary split (`U - N` and `N`), the width + depth cycle's best way up on the CPU bench
# (results/RESULTS.md, "The way up"). For several GPUs:
#   torchrun --standalone --nproc_per_node=8 train.py config/gpt2_small.py
out_dir = 'out-gpt2'
dataset = 'tinystories'
model = 'gpt'
n_layer, n_head, n_embd, block_size = 12, 12, 768, 1024
batch_tokens = 512 * 1024                     # 0.5M tokens per step
micro_batch = (32, 64)                        # per level: M_2 (6 x 384) takes twice the sequences
compile_mode = ('default', 'reduce-overhead')  # CUDA graphs for M_2, whose steps are launch-bound
vocab_multiple = 64                           # 50,257 -> 50,304 rows: matrix shapes the GPU likes
levels = 2
coalesce_width, coalesce_depth = True, True  # the paper's: half the width and half the depth
down_steps = (500,)
up_steps = (5000, 5000)
lr = (6e-4, 1.2e-3)
warmup, transition_warmup = 500, (100,)
alpha = (0.5,)
split_complementary = (0.1,)           # the paper's plain copy: 0
weight_decay = 0.1
eval_interval, eval_iters = 250, 50
checkpoint_interval = 500
