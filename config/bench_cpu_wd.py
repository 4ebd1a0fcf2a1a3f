# The paper's configuration on the CPU benchmark: config/bench_cpu.py with width and depth halved
# together (M_2 = 2 layers x 64, 2 heads), as many steps (so as many tokens) as the baseline, and
# M_1's last stage lengthened so that the cycle spends about 72% of the baseline's FLOPs, like the
# depth-only recipe: 100 steps down, 500 at the bottom, 900 after interpolation. The alternatives
# measured (results/RESULTS.md): over 3 seeds alpha 1, split_noise, split_skew, carried Adam state,
# M_2's lr x0.5 and x2, adjacent pairing, E_a halved and doubled, split_complementary, the
# coarse-grid correction, the carried state with new_copy_ramp; on one seed the rest of the way-up
# levers; and a bigger M_1 (bench_cpu_wd_256.py).
from pathlib import Path as _Path
exec(_Path(__file__).with_name('bench_cpu.py').read_text())
coalesce_width, coalesce_depth = True, True
down_steps = (100,)
up_steps = (900, 500)
