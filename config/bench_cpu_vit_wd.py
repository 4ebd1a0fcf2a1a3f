# The paper's ViT cycle on the CPU bench: width and depth halved (M_2 = 2 layers x 64, 2 heads),
# DeiT's alpha 0.25; the same steps and learning rates as config/vit.py.
base = 'vit.py'
coalesce_width, coalesce_depth = True, True
alpha = (0.25,)
checkpoint_interval = 100_000
