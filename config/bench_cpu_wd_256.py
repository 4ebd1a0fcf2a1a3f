# The width + depth cycle on a bigger M_1, 4 layers x 256 (8 heads of 32), so that M_2 = 2 x 128 is
# the depth-only bench's M_2. A step costs about 3.6 times a 4 x 128 one, so half the steps in the
# same proportions: 50 down, 250 at the bottom, 450 after the return (71% of plain training's
# FLOPs).
base = 'bench_cpu.py'
out_dir = 'bench-cpu-256'       # another M_1: a baseline of its own
n_head, n_embd = 8, 256
coalesce_width, coalesce_depth = True, True
down_steps = (50,)
up_steps = (450, 250)
lr = (2.8e-3, 8.4e-3)           # M_2 at 2 x 128's lr in bench_cpu.py
baseline_lr = 2.8e-3
