# ViT (16 x 16 patches of 4 x 4 pixels plus a class token: 17 tokens per image) on the built-in
# synthetic image dataset; 2-level V-cycle on CPU. batch_tokens counts tokens: 128 images x 17.
out_dir = 'out-vit'
dataset = 'synthetic_images'
model = 'vit'
patch_size = 4
n_layer, n_head, n_embd = 4, 4, 128
batch_tokens, micro_batch = 128 * 17, 64
levels = 2
coalesce_width, coalesce_depth = True, True  # the paper's: half the width and half the depth
down_steps = (100,)
up_steps = (300, 400)
lr = (1e-3, 2e-3)
warmup, transition_warmup = 50, (20,)
alpha = (0.25,)
eval_interval, eval_iters = 100, 64  # 64 x 64: the 4,096 validation images, read whole
