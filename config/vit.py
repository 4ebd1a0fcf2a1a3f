# ViT (16 x 16 patches of 4 x 4 pixels plus a class token: 17 tokens per image) on the built-in
# synthetic images (20 classes); a 2-level V-cycle on CPU halving the depth, as GPT's default.
# batch_tokens counts tokens: 128 images x 17. Tuned on seeds 1337-1339 (results/RESULTS.md,
# "The ViT bench"): the paper's width + depth halving and alpha 0.25 ended far higher.
out_dir = 'out-vit'
dataset = 'synthetic_images'
model = 'vit'
patch_size = 4
n_layer, n_head, n_embd = 4, 4, 128
batch_tokens, micro_batch = 128 * 17, 64
levels = 2
coalesce_width, coalesce_depth = False, True  # M_2 = 2 layers x 128
down_steps = (100,)
up_steps = (180, 637)           # a late return: 0.6 of (300, 400), the bottom longer at equal FLOPs
lr = (5e-4, 1e-3)
warmup, transition_warmup = 50, (20,)
alpha = (1.0,)                  # the de-coalesced M_2 alone (the kept M_1 trained 100 steps)
baseline_lr = 7e-4              # plain training's lr at 800 steps, by the median over 3 seeds
eval_interval, eval_iters = 100, 64  # 64 x 64: the 4,096 validation images, read whole
