# config/bert.py's cycle with a third level, the depth halved twice (M_2 = 2 x 128, M_3 = 1 x 128),
# on as many steps: 60 down at each of levels 1 and 2, 314 at the bottom, 60 and 66 back up.
base = 'bert.py'
levels = 3
down_steps = (60, 60)
up_steps = (66, 60, 314)
lr = (1e-3, 2e-3, 2e-3)
alpha = (1.0, 1.0)
checkpoint_interval = 100_000
