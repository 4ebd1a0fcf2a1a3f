# The default recipe, what `python train.py` runs: a byte-level GPT (4 layers x 128) on the built-in
# Python standard-library corpus, a 2-level V-cycle (M_2: 2 layers x 64), a few minutes on a laptop
# CPU. These are Config's defaults, written out (tests/test_train.py keeps the two equal).
dataset = 'stdlib'
model = 'gpt'
n_layer, n_head, n_embd, block_size = 4, 4, 128, 128
batch_tokens, micro_batch = 4096, 32          # 32 sequences of 128 bytes per step
levels = 2
down_steps = (100,)                           # E_a: M_1 trains 100 steps, then is coalesced
up_steps = (400, 600)                         # then M_2 trains 600 steps, M_1 400 more after interpolation
lr = (2e-3, 4e-3)                             # the smaller model takes the larger learning rate
warmup, transition_warmup = 50, (20,)
alpha = (0.5,)
depth_pairing = 'stack'
eval_interval, eval_iters = 100, 10
