# The width+depth cycle on a bigger M_1 (issue #10's lever "a bigger M_1 within the CPU budget"):
# config/bench_cpu_wd.py's recipe on M_1 = 4 layers x 256 (8 heads of 32), so that M_2 = 2 x 128
# (4 heads) is the depth-only bench's M_2 rather than the weak 2 x 64. A step costs about 3.6 times
# as much as on 4 x 128, so the cycle has half the steps, in the same proportions: 50 down, 250 at
# the bottom, 450 after interpolation (71% of the FLOPs of plain training on as many tokens).
# Peak lr: 2.8e-3 for M_1 and the baseline (the baseline's best of 2e-3 to 5.6e-3 at seed 1337, under
# cosine decay; under WSD, the default since, 2.8e-3 ties 2e-3 over 3 seeds and beats 1.4e-3 and 4e-3
# at seed 1337: results/RESULTS.md) and
# 8.4e-3 for M_2 (2 x 128's lr in config/bench_cpu.py). Its own out_dir: the baseline differs.
from pathlib import Path as _Path
exec(_Path(__file__).with_name('bench_cpu_wd.py').read_text())
out_dir = 'bench-cpu-256'
n_head, n_embd = 8, 256
down_steps = (50,)
up_steps = (450, 250)
lr = (2.8e-3, 8.4e-3)
baseline_lr = 2.8e-3
