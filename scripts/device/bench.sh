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
#   .carry this script, setup.sh, fuzz.sh, locus.xz (a release `locus`),
#          hdr/*.hdr (each model cut after its header: `locus info`
#          prints the header's size), fz/ (fuzz.sh's inputs)
# Benchmarks run on cores 0-3, the fuzzers on 4-15. Each step is bounded so
# the call ends inside its 600 s; what each step printed comes back in
# $OUT/steps.tgz.
set -u
cd "$(dirname "$0")/.."
BUDGET=${BUDGET:-545}   # the fuzzers end at FUZZ_SECONDS
source .carry/setup.sh
H=.carry/hdr; S=$H/SmolLM2-135M-Instruct.Q4_1.hdr; Q=$H/Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.hdr
B="taskset -c 0-3 /tmp/locus bench --header-only"
if [ -n "${FUZZ:-}" ]; then bash .carry/fuzz.sh & fi
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
