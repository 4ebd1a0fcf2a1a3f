# The ViT benchmark on CPU: config/vit.py's cycle (depth halved) against plain training, with the
# paper's width + depth cycle (bench_cpu_vit_wd.py) and a 3-level cycle (bench_cpu_vit_3level.py)
# beside it; the command and its figures: results/RESULTS.md, "The ViT bench".
base = 'vit.py'
out_dir = 'bench-cpu-vit'
checkpoint_interval = 100_000   # the bench measures training, not checkpoint writes
