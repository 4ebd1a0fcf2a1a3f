# BERT (masked LM, 80/10/10 masking) on the built-in byte-level corpus; 2-level V-cycle on CPU.
# The paper interpolates BERT with alpha = 0.5.
out_dir = 'out-bert'
dataset = 'stdlib'
model = 'bert'
n_layer, n_head, n_embd, block_size = 4, 4, 128, 128
batch_tokens, micro_batch = 4096, 32
levels = 2
coalesce_width, coalesce_depth = True, True  # the paper's: half the width and half the depth
down_steps = (100,)
up_steps = (400, 600)
lr = (1e-3, 2e-3)
warmup, transition_warmup = 50, (20,)
alpha = (0.5,)
