#!/bin/bash
# One device call (the GPU machine): issue 11's acceptance table. Locus
# `fast` beside llama.cpp's Vulkan llama-bench (flash attention off and on)
# in the same `locus bench --llama-bench` invocations, on the same GPU:
# pp512 and tg128 for SmolLM2 and Qwen2.5, tg128 after 2,048 tokens, Qwen's
# first token after 1,500 tokens beside llama.cpp's pp1500, Gemma 3, a
# decode step's profile, and the autotune's choice without cooperative
# matrices (what a browser gets).
# Run from the repo root there as
#   FUZZ=1 FUZZ_SECONDS=520 bash .carry/bench.sh
# with `carry` naming .carry, .ref and .gl, prepared here:
#   .gl    the Vulkan loader debs (the device README's recipe)
#   .ref   ../shared/tools/llama-cpp-gpu without llama.cpp-src.tar.gz
#   .carry this script, fuzz.sh, locus.xz (a release `locus`),
#          hdr/*.hdr (each model cut after its header: `locus info`
#          prints the header's size), fz/ (fuzz.sh's inputs)
# Benchmarks run on cores 0-3, the fuzzers on 4-15. Each step is bounded so
# the call ends inside its 600 s; what each step printed comes back in
# $OUT/steps.tgz.
set -u
cd "$(dirname "$0")/.."
# The Vulkan loader, llama.cpp's Vulkan llama-bench and the carried `locus`.
for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
xz -dc .ref/llama-bench-vulkan.xz > /tmp/llama-bench && chmod +x /tmp/llama-bench
xz -dc .carry/locus.xz > /tmp/locus && chmod +x /tmp/locus
export LD_LIBRARY_PATH=.ref/lib
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
H=.carry/hdr; S=$H/SmolLM2-135M-Instruct.Q4_1.hdr; Q=$H/Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.hdr
L="--llama-bench /tmp/llama-bench --synth .ref/gguf_synth.py --flash-attn both"
B="taskset -c 0-3 /tmp/locus bench --header-only"
if [ -n "${FUZZ:-}" ]; then bash .carry/fuzz.sh & fi
mkdir -p /tmp/b
t0=$(date +%s); el() { echo "[t=$(( $(date +%s) - t0 ))s]"; }
show() { grep -E "tuning:|pp|tg|ttft|dispatch|profile|^  (embedding|pass|total)|wrong|rror" "$1" | grep -v XDG | cut -c1-230; }
# Every step ends by BUDGET seconds into the call (the fuzzers end at
# FUZZ_SECONDS): a step is cut to what is left, or skipped.
BUDGET=${BUDGET:-545}
step() { # name seconds command...
  local name=$1 limit=$2; shift 2
  local left=$(( BUDGET - ($(date +%s) - t0) ))
  [ "$limit" -gt "$left" ] && limit=$left
  [ "$limit" -lt 15 ] && { echo "=== $name skipped $(el)"; return; }
  echo "=== $name $(el)"; timeout "$limit" "$@" > "/tmp/b/$name.txt" 2>&1 || echo "(exit $?)"
  show "/tmp/b/$name.txt"
}
G=$H/gemma-3-270m.Q4_K_M.hdr
step Q 120 $B $Q -p 512 -n 128 -r 5 --prompt 1500 --retune $L
step S 90 $B $S -p 512 -n 128 -r 5 --retune $L
step S-d2048 80 $B $S -p 0 -n 128 -d 2048 -r 3 $L
step Q-pp1500 60 $B $Q -p 1500 -n 0 -r 3 $L
step Q-d2048 80 $B $Q -p 0 -n 128 -d 2048 -r 3 $L
step G 80 $B $G -p 512 -n 128 -r 3 --retune $L
step S-profile 30 $B $S -p 512 -n 32 -r 1 --profile
step Q-profile 30 $B $Q -p 512 -n 32 -r 1 --profile
step Q-nocoop 35 env LOCUS_NO_COOPERATIVE_MATRIX=1 $B $Q -p 512 -n 0 -r 3 --retune
step Q-nocoop-noint8 35 env LOCUS_NO_COOPERATIVE_MATRIX=1 LOCUS_NO_PACKED_INT8_DOT=1 $B $Q -p 512 -n 0 -r 3 --retune
el
tar czf $OUT/steps.tgz -C /tmp b
wait
[ -f $OUT/fuzz/summary.txt ] && cat $OUT/fuzz/summary.txt
