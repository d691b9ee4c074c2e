#!/bin/bash
# One device call (the GPU machine): the fast mat-mul's int8 (DP4A) tiles
# beside the float ones, and Locus `fast` beside llama.cpp's Vulkan
# llama-bench on the same GPU. Run from the repo root there as
#   FUZZ=1 FUZZ_SECONDS=300 bash .carry/bench.sh
# with `carry` naming .carry, .ref and .gl, prepared here:
#   .gl    the Vulkan loader debs (the device README's recipe)
#   .ref   ../shared/tools/llama-cpp-gpu without llama.cpp-src.tar.gz
#          (with the fuzz binaries the carry would pass 64 MiB)
#   .carry this script, setup.sh, fuzz.sh, locus.xz (a release `locus`),
#          gpu_fast_speed.xz (`cargo test --release --test gpu_fast_speed
#          --no-run`), hdr/*.hdr (each model cut after its header: `locus
#          info` prints the header's size), fz/ (fuzz.sh's inputs)
# Benchmarks run on cores 0-3, the fuzzers on 4-15. Results go to $OUT.
set -u
cd "$(dirname "$0")/.."
. .carry/setup.sh
xz -dc .carry/gpu_fast_speed.xz > /tmp/gpu_fast_speed && chmod +x /tmp/gpu_fast_speed
if [ -n "${FUZZ:-}" ]; then bash .carry/fuzz.sh & fi
# Only the figures come back on stdout (the call returns at most 8 files and
# 12,000 characters): full outputs stay in /tmp/b on the machine.
mkdir -p /tmp/b
show() { grep -E "${2:-tuning:|pp512|tg128|ttft|wrong}" "$1" | grep -v XDG; }
echo "=== prefill layer kernels (ms per linear, 512 tokens)"; timeout 150 /tmp/gpu_fast_speed prefill_layer_throughput --ignored --nocapture --test-threads=1 > /tmp/b/speed.txt 2>&1; grep -v XDG /tmp/b/speed.txt | grep -E 'GFLOP|layer|tiles|tokens/s|panicked' | cut -c1-200 | head -60
# The autotune before (one dispatch a timed run, .carry/locus_before.xz)
# and after (repeated to ~2 ms): what each picks and the pp512 it gives,
# with cooperative matrices and without (browser-like), int8 allowed.
for m in Q S; do f=${!m}
 for round in 1; do
  echo "=== $m no coop, before, round $round"; LOCUS_NO_COOPERATIVE_MATRIX=1 $A $f -p 512 -n 0 -r 3 --retune > /tmp/b/a.txt 2>&1; show /tmp/b/a.txt
  echo "=== $m no coop, after, round $round"; LOCUS_NO_COOPERATIVE_MATRIX=1 $B $f -p 512 -n 0 -r 3 --retune > /tmp/b/a.txt 2>&1; show /tmp/b/a.txt
  echo "=== $m no coop, no int8, round $round"; LOCUS_NO_COOPERATIVE_MATRIX=1 LOCUS_NO_PACKED_INT8_DOT=1 $B $f -p 512 -n 0 -r 3 --retune > /tmp/b/a.txt 2>&1; show /tmp/b/a.txt
  echo "=== $m all features, before, round $round"; $A $f -p 512 -n 0 -r 3 --retune > /tmp/b/a.txt 2>&1; show /tmp/b/a.txt
  echo "=== $m all features, after, round $round"; $B $f -p 512 -n 0 -r 3 --retune > /tmp/b/a.txt 2>&1; show /tmp/b/a.txt
 done
done
echo "=== Qwen0.5B"; $B $Q -p 512 -n 128 -r 5 --prompt 1500 --retune $L > /tmp/b/a.txt 2>&1; show /tmp/b/a.txt
echo "=== Gemma 270M"; $B $H/gemma-3-270m.Q4_K_M.hdr -p 512 -n 128 -r 3 --retune $L > /tmp/b/a.txt 2>&1; show /tmp/b/a.txt
echo "=== SmolLM2"; $B $S -p 512 -n 128 -r 5 --retune $L > /tmp/b/a.txt 2>&1; show /tmp/b/a.txt
wait
[ -f $OUT/fuzz/summary.txt ] && cat $OUT/fuzz/summary.txt
