#!/usr/bin/env bash
# The GPU measurements waiting in RESULTS.md, on a lent GPU, each part under its own time limit and
# writing $OUT/<part>.txt, so that a part cut by its limit leaves the others their time. The parts
# to run are the arguments, in that order (all three when there are none, about 14 minutes on one
# H200: more than one call of 10 minutes, so name them):
#   reach  #29's three figures for the 8 x 512 bench: the width + depth cycle with the split and
#          WSD (config/bench_gpu_split_wsd.py) at 1, 1.3 and 1.6x its budget against the WSD
#          frontier, one seed ($SEED, 1337 first, then 1338), every run side by side, on Python
#          source (data/pysrc from an installed transformers, else torch: about 45 MB). About 7
#          minutes on one H200 (8.4e16 FLOPs, sized from the 437 s of the 2026-11-30 bench), more
#          on an H100, which holds fewer runs at once. The runs' logs and configs come back in
#          $OUT/bench-gpu: put them in bench-gpu/ and carry it, and the bench reads them instead of
#          training them again; with both seeds here, `python bench.py config/bench_gpu_split_wsd.py
#          --n_seeds=2 --growth=False --budgets=1,1.3,1.6` trains nothing and reports.
#   tests  tests/test_gpu.py: bf16 + compile training and resume, the non-finite step fused and not
#   speed  the speed harness at GPT-2 small's shape (12 x 768, T 1024, 131,072 tokens a step), then
#          nanoGPT at the same shape and batch, when $NANOGPT holds a checkout of karpathy/nanoGPT
#          (git-ignored; get it with the library's fetch and carry it to the machine)
#
#     OUT=gpu-results SEED=1337 bash results/gpu_session.sh reach tests
#     OUT=gpu-results NANOGPT=.nanogpt bash results/gpu_session.sh speed
set -u
parts=("$@")
[ $# -gt 0 ] || parts=(reach tests speed)
for name in "${parts[@]}"; do
    case $name in
        reach|tests|speed) ;;
        *) echo "unknown part '$name': choose from reach, tests, speed" >&2; exit 2 ;;
    esac
done
OUT=$(realpath -m "${OUT:-gpu-results}")
NANOGPT=${NANOGPT:-.nanogpt}
mkdir -p "$OUT"
part() {  # part NAME SECONDS COMMAND...: run COMMAND under a time limit, output to $OUT/NAME.txt
    local name=$1 limit=$2
    shift 2
    echo "== $name: $*" | tee "$OUT/$name.txt"
    PYTHONUNBUFFERED=1 timeout "$limit" "$@" >> "$OUT/$name.txt" 2>&1
    echo "== $name: exit $? after ${SECONDS}s of the session" | tee -a "$OUT/$name.txt"
}

{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  python -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda)"
  git log -1 --format='vcycle %h %s'; } > "$OUT/machine.txt" 2>&1
cat "$OUT/machine.txt"

reach() {
    local root mib jobs
    if [ ! -f data/pysrc/train.bin ]; then
        root=$(python -c "import os, transformers; print(os.path.dirname(transformers.__file__))" \
               2>/dev/null || python -c "import os, torch; print(os.path.dirname(torch.__file__))")
        part reach_prepare_pysrc 120 python data/stdlib/prepare.py --root "$root" --out data/pysrc
    fi
    # runs side by side: about 11.5 GB each (a dozen fit in an H200's 141 GB)
    mib=$(nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits | head -1)
    jobs=$(( mib / 11500 > 0 ? mib / 11500 : 1 ))
    part reach_bench "${REACH_LIMIT:-540}" python bench.py config/bench_gpu_split_wsd.py \
        --seed="${SEED:-1337}" --jobs="$jobs" --growth=False --budgets=1,1.3,1.6
    # the runs' logs and configs, no weights: enough for the bench to read them as finished
    find bench-gpu \( -name log.jsonl -o -name config.json \) -exec cp --parents {} "$OUT/" \;
}

tests() {
    part test_gpu 180 python -m pytest tests/test_gpu.py -q -rs
}

speed() {
    part speed_vcycle 150 python bench.py config/gpt2_small.py --speed --batch_tokens=131072 \
        --speed_steps=15
    if [ -f "$NANOGPT/train.py" ]; then
        (cd "$NANOGPT" && mkdir -p data/random && python -c "
import numpy as np
tokens = np.random.default_rng(0).integers(0, 50257, 2**24, dtype=np.uint16)
tokens.tofile('data/random/train.bin'); tokens[:2**20].tofile('data/random/val.bin')")
        part speed_nanogpt 150 bash -c "cd '$NANOGPT' && python train.py --dataset=random \
            --batch_size=32 --block_size=1024 --gradient_accumulation_steps=4 --max_iters=30 \
            --eval_interval=1000 --eval_iters=1 --log_interval=1 --always_save_checkpoint=False \
            --compile=True --out_dir=out-speed"
    else
        echo "== speed_nanogpt: skipped, no nanoGPT at $NANOGPT" | tee "$OUT/speed_nanogpt.txt"
    fi
}

for name in "${parts[@]}"; do
    $name
done
echo "== done after ${SECONDS}s"
