# The CPU benchmark's cycle with a third level, M_3 = 1 layer x 128.
base = 'bench_cpu.py'
levels = 3
down_steps = (100, 100)
up_steps = (600, 300, 400)
lr = (5.6e-3, 8.4e-3, 11.2e-3)  # each smaller level 1.5x the lr of the one above
alpha = (0.75, 0.75)
