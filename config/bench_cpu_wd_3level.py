# The paper's 3-level configuration on the CPU benchmark: config/bench_cpu_wd.py with a third
# level, M_3 = 1 layer x 32 (1 head); M_1 trains as many steps as in the 2-level cycle.
from pathlib import Path as _Path
exec(_Path(__file__).with_name('bench_cpu_wd.py').read_text())
levels = 3
down_steps = (100, 100)
up_steps = (900, 250, 250)
lr = (5.6e-3, 8.4e-3, 11.2e-3)
alpha = (0.75, 0.75)
