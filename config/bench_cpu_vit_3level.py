# config/vit.py's cycle with a third level, the depth halved twice (M_2 = 2 x 128, M_3 = 1 x 128),
# on as many steps: 100 down at each of levels 1 and 2, 437 at the bottom, 100 and 180 back up.
base = 'vit.py'
levels = 3
down_steps = (100, 100)
up_steps = (180, 100, 437)
lr = (5e-4, 1e-3, 1e-3)
alpha = (1.0, 1.0)
checkpoint_interval = 100_000
