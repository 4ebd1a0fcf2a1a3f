#!/usr/bin/env bash
# The GPU measurements waiting in RESULTS.md, in one call on a lent GPU (about 12 minutes on one
# H100 or H200), most needed first; each part writes $OUT/<part>.txt and a part that runs past
# its time limit is cut there, so the others still run:
#   1. tests/test_gpu.py: bf16 + compile training and resume, the non-finite step fused and not
#   2. the speed harness at GPT-2 small's shape (12 x 768, T 1024, 131,072 tokens a step), then
#      nanoGPT at the same shape and batch, when $NANOGPT holds a checkout of karpathy/nanoGPT
#      (git-ignored; get it with the library's fetch and carry it to the machine)
#   3. the depth-only 8 x 512 arm against the WSD frontier, 2 seeds, every run side by side, on
#      Python source (data/pysrc from an installed transformers, else torch: about 45 MB)
#
#     OUT=gpu-results NANOGPT=.nanogpt bash results/gpu_session.sh
set -u
OUT=$(realpath -m "${OUT:-gpu-results}")
NANOGPT=${NANOGPT:-.nanogpt}
mkdir -p "$OUT"
part() {  # part NAME SECONDS COMMAND...: run COMMAND under a time limit, output to $OUT/NAME.txt
    local name=$1 limit=$2
    shift 2
    echo "== $name: $*" | tee "$OUT/$name.txt"
    timeout "$limit" "$@" >> "$OUT/$name.txt" 2>&1
    echo "== $name: exit $? after ${SECONDS}s of the session" | tee -a "$OUT/$name.txt"
}

{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  python -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda)"
  git log -1 --format='vcycle %h %s'; } > "$OUT/machine.txt" 2>&1
cat "$OUT/machine.txt"

part 1_test_gpu 180 python -m pytest tests/test_gpu.py -q -rs

part 2_speed_vcycle 150 python bench.py config/gpt2_small.py --speed --batch_tokens=131072 \
    --speed_steps=15
if [ -f "$NANOGPT/train.py" ]; then
    (cd "$NANOGPT" && mkdir -p data/random && python -c "
import numpy as np
tokens = np.random.default_rng(0).integers(0, 50257, 2**24, dtype=np.uint16)
tokens.tofile('data/random/train.bin'); tokens[:2**20].tofile('data/random/val.bin')")
    part 2_speed_nanogpt 150 bash -c "cd '$NANOGPT' && python train.py --dataset=random \
        --batch_size=32 --block_size=1024 --gradient_accumulation_steps=4 --max_iters=30 \
        --eval_interval=1000 --eval_iters=1 --log_interval=1 --always_save_checkpoint=False \
        --compile=True --out_dir=out-speed"
else
    echo "== 2_speed_nanogpt: skipped, no nanoGPT at $NANOGPT" | tee "$OUT/2_speed_nanogpt.txt"
fi

if [ ! -f data/pysrc/train.bin ]; then
    root=$(python -c "import os, transformers; print(os.path.dirname(transformers.__file__))" \
           2>/dev/null || python -c "import os, torch; print(os.path.dirname(torch.__file__))")
    part 3_prepare_pysrc 120 python data/stdlib/prepare.py --root "$root" --out data/pysrc
fi
part 3_bench_depth "${BENCH_LIMIT:-480}" python bench.py config/bench_gpu_depth.py --n_seeds=2 \
    --jobs=16 --growth=False
find bench-gpu -name log.jsonl -exec cp --parents {} "$OUT/" \;  # the runs' logs, no weights
echo "== done after ${SECONDS}s"
