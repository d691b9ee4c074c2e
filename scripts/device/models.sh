#!/bin/bash
# One device call (the GPU machine): which 1–2B model to recommend on a GPU
# (issue 13). Each candidate's speed with Locus `fast` beside llama.cpp's
# Vulkan llama-bench (flash attention off and on) in the same `locus bench
# --llama-bench` invocation, on the same GPU: pp512, tg128 and the first
# token after a 1,500-token prompt (an article to summarise). Weights are
# synthesised from each model's header (speed does not depend on their
# values): Qwen2.5-Coder-1.5B's real header (Qwen2.5 1.5B Instruct has the
# same shapes and types) and the synthetic headers of Llama 3.2 1B, Gemma 3
# 1B and Qwen3 1.7B (`tests/models_larger.rs`, write_bench_headers).
# Run from the repo root there as
#   bash .carry/models.sh            (or ONLY="gemma-3-1b qwen3-1.7b" …)
# with `carry` naming .carry, .ref and .gl, prepared here:
#   .gl    the Vulkan loader debs (the device README's recipe)
#   .ref   ../shared/tools/llama-cpp-gpu without llama.cpp-src.tar.gz
#   .carry this script, setup.sh, locus.xz (a release `locus`), hdr/*.hdr
set -u
cd "$(dirname "$0")/.."
BUDGET=${BUDGET:-560}
source .carry/setup.sh
H=.carry/hdr
B="/tmp/locus bench --header-only"
step qwen2.5-1.5b 150 $B $H/Qwen2.5-Coder-1.5B-Instruct.Q4_K_M.hdr -p 512 -n 128 -r 3 --prompt 1500 $L
step llama-3.2-1b 130 $B $H/llama-3.2-1b.Q4_K_M.hdr -p 512 -n 128 -r 3 --prompt 1500 $L
step gemma-3-1b 130 $B $H/gemma-3-1b.Q4_K_M.hdr -p 512 -n 128 -r 3 --prompt 1500 $L
step qwen3-1.7b 130 $B $H/qwen3-1.7b.Q4_K_M.hdr -p 512 -n 128 -r 3 --prompt 1500 $L
el
tar czf $OUT/steps.tgz -C /tmp b
