# The paper's 3-level configuration on the CPU benchmark: width and depth halved at each change,
# M_2 = 2 layers x 64, M_3 = 1 layer x 32 (1 head); M_1 trains as many steps as in bench_cpu_wd.py.
base = 'bench_cpu.py'
coalesce_width, coalesce_depth = True, True
levels = 3
down_steps = (100, 100)
up_steps = (900, 250, 250)
lr = (5.6e-3, 8.4e-3, 11.2e-3)
alpha = (0.75, 0.75)
