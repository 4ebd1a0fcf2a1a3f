# The depth-only cycle on the GPU benchmark: M_2 = 4 x 512, 70 steps down, 600 at the bottom, 330
# after interpolating with alpha 0.75; M_2 at 1.5 times M_1's lr (70.1% of the reference's FLOPs).
base = 'bench_gpu.py'
coalesce_width, coalesce_depth = False, True
down_steps = (70,)
up_steps = (330, 600)
lr = (1.5e-3, 2.25e-3)
alpha = (0.75,)
