# The BERT benchmark on CPU: config/bert.py's cycle (depth halved) against plain training, with the
# paper's width + depth cycle (bench_cpu_bert_wd.py) and a 3-level cycle (bench_cpu_bert_3level.py)
# beside it; the command and its figures: results/RESULTS.md, "The BERT bench".
base = 'bert.py'
out_dir = 'bench-cpu-bert'
checkpoint_interval = 100_000   # the bench measures training, not checkpoint writes
