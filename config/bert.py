# BERT (masked LM, 80/10/10 masking) on the built-in byte-level corpus; a 2-level V-cycle on CPU
# halving the depth, as GPT's and ViT's. 32-byte rows: on 128-byte rows the 4 x 128 BERT sat on the
# masked-LM plateau (loss near 2.8, above the bigram's 2.41) for 2,200 steps; on 32 it passes the
# bigram within 300. Tuned on seeds 1337-1339 (results/RESULTS.md, "The BERT bench"): the paper's
# width + depth halving and alpha 0.5 ended far higher.
out_dir = 'out-bert'
dataset = 'stdlib'
model = 'bert'
n_layer, n_head, n_embd, block_size = 4, 4, 128, 32
batch_tokens, micro_batch = 4096, 32
levels = 2
coalesce_width, coalesce_depth = False, True  # M_2 = 2 layers x 128
down_steps = (60,)
up_steps = (66, 434)            # a late return: 0.6 of (110, 390), the bottom longer
lr = (1e-3, 2e-3)
warmup, transition_warmup = 50, (20,)
alpha = (1.0,)                  # the de-coalesced M_2 alone (the kept M_1 trained 60 steps)
baseline_lr = 7e-4              # plain training's lr at 560 steps, by the median over 3 seeds
baseline_decay = 0.1            # its decay over the last 10%: below 5%, 20% and 40% (3 seeds)
eval_interval, eval_iters = 100, 100  # 100 x 32 rows: 15,000 masked bytes a split
