# The paper's BERT cycle on the CPU bench: width and depth halved (M_2 = 2 layers x 64, 2 heads),
# BERT's alpha 0.5; the same steps and learning rates as config/bert.py.
base = 'bert.py'
coalesce_width, coalesce_depth = True, True
alpha = (0.5,)
checkpoint_interval = 100_000
