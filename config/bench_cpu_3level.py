# The 3-level arm of the CPU benchmark: config/bench_cpu.py with a third level, M_3 = 1 layer x 128.
from pathlib import Path as _Path
exec(_Path(__file__).with_name('bench_cpu.py').read_text())
levels = 3
down_steps = (100, 100)
up_steps = (600, 300, 400)
lr = (5.6e-3, 8.4e-3, 11.2e-3)  # the 2-level recipe's rates, 1.5x again for M_3
alpha = (0.75, 0.75)
