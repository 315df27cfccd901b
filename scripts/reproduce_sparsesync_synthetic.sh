#!/usr/bin/env bash
# The flash-and-click learning result of the README's SparseSync section (CPU: 34 min on one free core, 1-2 hours shared).
# 1. writes 800 / 200 / 200 H.264 + AAC mp4 clips (8.6 s, 32 x 32, one flash + click every 4.2 s from a random phase);
# 2. trunk pre-training: 400 steps of per-stream event detection (the analogue of the reference's pre-trained
#    extractors; without it the model stays at chance: 600 + 1,200 steps measured);
# 3. warm-up stage: 600 steps on crops placed around a known event (leaky on purpose, a first-order signal);
# 4. main stage: 1200 steps from that checkpoint with the leak-free sampler, keeping the best validation top-1;
# 5. held-out test clips at their fixed offsets, with the corrupted-validation probes.
set -euo pipefail
DATA=${DATA:-data/flash_and_click}
OUT=${OUT:-runs/sparsesync-synthetic}
EXTRACTOR_STEPS=${EXTRACTOR_STEPS:-400}
WARMUP_STEPS=${WARMUP_STEPS:-600}
MAIN_STEPS=${MAIN_STEPS:-1200}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
BIN=${BIN:-.venv/bin}
LAUNCH=("$BIN/accelerate" launch --num_processes 1 --num_machines 1 --mixed_precision no --dynamo_backend no)
COMMON=(--dataset_name synthetic --data_dir "$DATA" --clip_length_sec 4.2 --synthetic_period_sec 4.2
        --num_train_clips 800 --num_eval_clips 200 --per_device_train_batch_size 16 --per_device_eval_batch_size 16
        --learning_rate 1e-3 --max_grad_norm 1.0 --logging_steps 25 --disable_tqdm --cache_decoded)
if [ ! -f "$OUT/extractors/model.safetensors" ]; then  # (kept when the script is run again)
    "$BIN/python" scripts/pretrain_sparsesync_extractors.py --data_dir "$DATA" --output_dir "$OUT/extractors" \
        --clip_length_sec 4.2 --max_steps "$EXTRACTOR_STEPS"
fi
"${LAUNCH[@]}" scripts/run_synchronisation.py train --model_type sparsesync "${COMMON[@]}" --output_dir "$OUT/warmup" --model_name_or_path "$OUT/extractors" \
    --crop_policy event_aware --max_steps "$WARMUP_STEPS" --warmup_steps 50
"${LAUNCH[@]}" scripts/run_synchronisation.py train --model_type sparsesync "${COMMON[@]}" --output_dir "$OUT/main" \
    --model_name_or_path "$OUT/warmup" --max_steps "$MAIN_STEPS" --eval_steps 400 --probes --select_best_metric accuracy_1
"$BIN/python" scripts/run_synchronisation.py evaluate --model_name_or_path "$OUT/main" --dataset_name synthetic --data_dir "$DATA" \
    --eval_split test --probes --output_dir "$OUT/main/eval"
