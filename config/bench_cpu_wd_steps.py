# Width and depth halved one at a time, a level each, against both at once (bench_cpu_wd.py):
# M_1 = 4 x 128 -> M_2 = 2 x 128 (depth) -> M_3 = 2 x 64 (width), as many steps as the baseline and
# about the same FLOPs (71%): each change is a 2x step in FLOPs a token, not 6x at once.
base = 'bench_cpu.py'
levels = 3
coalesce_depth, coalesce_width = (True, False), (False, True)
down_steps = (100, 100)
up_steps = (750, 200, 350)
lr = (5.6e-3, 8.4e-3, 8.4e-3)
alpha = (0.75, 0.75)
