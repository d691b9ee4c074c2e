#!/bin/bash
# One device call (the GPU machine): the fast mat-mul's int8 (DP4A) tiles
# beside the float ones, and Locus `fast` beside llama.cpp's Vulkan
# llama-bench on the same GPU. Run from the repo root there as
#   FUZZ=1 FUZZ_SECONDS=300 bash .carry/bench.sh
# with `carry` naming .carry, .ref and .gl, prepared here:
#   .gl    the Vulkan loader debs (the device README's recipe)
#   .ref   ../shared/tools/llama-cpp-gpu without llama.cpp-src.tar.gz
#          (with the fuzz binaries the carry would pass 64 MiB)
#   .carry this script, fuzz.sh, locus_dp4a.xz (a release `locus`),
#          gpu_fast_speed.xz (`cargo test --release --test gpu_fast_speed
#          --no-run`), hdr/*.hdr (each model cut after its header: `locus
#          info` prints the header's size), fz/ (fuzz.sh's inputs)
# Benchmarks run on cores 0-3, the fuzzers on 4-15. Results go to $OUT.
set -u
cd "$(dirname "$0")/.."
for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
xz -dc .ref/llama-bench-vulkan.xz > /tmp/llama-bench && chmod +x /tmp/llama-bench
xz -dc .carry/locus_dp4a.xz > /tmp/locus && chmod +x /tmp/locus
xz -dc .carry/gpu_fast_speed.xz > /tmp/gpu_fast_speed && chmod +x /tmp/gpu_fast_speed
export LD_LIBRARY_PATH=.ref/lib
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
H=.carry/hdr; S=$H/SmolLM2-135M-Instruct.Q4_1.hdr; Q=$H/Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.hdr
L="--llama-bench /tmp/llama-bench --synth .ref/gguf_synth.py --flash-attn both"
B="taskset -c 0-3 /tmp/locus bench --header-only"
if [ -n "${FUZZ:-}" ]; then bash .carry/fuzz.sh & fi
show() { grep -v '^\s*$' "$1" | grep -v 'XDG_RUNTIME' | head -n ${2:-22}; }
echo "=== prefill layer kernels (ms per layer pass, 512 tokens)"; timeout 120 /tmp/gpu_fast_speed prefill_layer_throughput --ignored --nocapture --test-threads=1 > $OUT/speed.txt 2>&1; grep -v XDG $OUT/speed.txt | grep -E 'GFLOP|layer|tiles|tokens/s' | cut -c1-230 | head -44
for m in S Q; do f=${!m}
 echo "=== $m no coop (browser-like): int8 allowed"; LOCUS_NO_COOPERATIVE_MATRIX=1 $B $f -p 512 -n 0 -r 3 --retune > $OUT/nocoop_$m.txt 2>&1; show $OUT/nocoop_$m.txt 12
 echo "=== $m no coop, no int8"; LOCUS_NO_COOPERATIVE_MATRIX=1 LOCUS_NO_PACKED_INT8_DOT=1 $B $f -p 512 -n 0 -r 3 --retune > $OUT/nocoop_noint8_$m.txt 2>&1; show $OUT/nocoop_noint8_$m.txt 12
done
echo "=== SmolLM2 d2048"; $B $S -p 0 -n 128 -d 2048 -r 3 $L > $OUT/smol_d.txt 2>&1; show $OUT/smol_d.txt 14
echo "=== SmolLM2"; $B $S -p 512 -n 128 -r 5 $L --profile > $OUT/smol.txt 2>&1; show $OUT/smol.txt
echo "=== Qwen0.5B"; $B $Q -p 512 -n 128 -r 5 --prompt 1500 $L > $OUT/qwen.txt 2>&1; show $OUT/qwen.txt
echo "=== Qwen d2048"; $B $Q -p 0 -n 128 -d 2048 -r 3 $L > $OUT/qwen_d.txt 2>&1; show $OUT/qwen_d.txt 14
echo "=== Gemma 270M"; $B $H/gemma-3-270m.Q4_K_M.hdr -p 512 -n 128 -r 3 $L > $OUT/gemma.txt 2>&1; show $OUT/gemma.txt 16
wait
