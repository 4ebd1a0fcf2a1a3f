# Width and depth halved one at a time, a level each, against halving both at once
# (config/bench_cpu_wd.py): M_1 = 4 x 128 -> M_2 = 2 x 128 (depth) -> M_3 = 2 x 64 (width), as many
# steps as the baseline and about the same FLOPs (71%): 100 steps down at M_1 and at M_2, 350 at the
# bottom, 200 back at M_2, 750 at M_1. Each change is a 2x step in FLOPs a token, not 6x at once.
from pathlib import Path as _Path
exec(_Path(__file__).with_name('bench_cpu.py').read_text())
levels = 3
coalesce_depth, coalesce_width = (True, False), (False, True)
down_steps = (100, 100)
up_steps = (750, 200, 350)
lr = (5.6e-3, 8.4e-3, 8.4e-3)
alpha = (0.75, 0.75)
