# The paper's configuration on the CPU benchmark: width and depth halved together (M_2 = 2 layers
# x 64, 2 heads). As many steps as the baseline, about 72% of its FLOPs, like the depth-only cycle:
# 100 steps down, 500 at the bottom, 900 after the return.
base = 'bench_cpu.py'
coalesce_width, coalesce_depth = True, True
down_steps = (100,)
up_steps = (900, 500)
