#!/bin/bash
# A short device call (about 2 minutes of commands) for a session with
# little device time, most valuable first: Qwen2.5-0.5B pp512 with every
# feature (cooperative tiles) beside llama.cpp's Vulkan llama-bench, then
# the autotune's choice with and without cooperative matrices and int8
# tiles.
# Carry as for bench.sh (.carry with this script, setup.sh, locus.xz
# and hdr/; .ref; .gl) and run `bash .carry/short.sh 2>&1 | tail -c 11800`.
set -u
cd "$(dirname "$0")/.."
. .carry/setup.sh
show() { grep -E "tuning:|pp512|tg128|wrong|rror" "$1" | grep -v XDG | cut -c1-220; }
mkdir -p /tmp/b
t0=$(date +%s); el() { echo "[t=$(( $(date +%s) - t0 ))s]"; }
echo "=== Q all features, after"; el; $B $Q -p 512 -n 0 -r 3 --retune $L > /tmp/b/a.txt 2>&1; show /tmp/b/a.txt
echo "=== Q no coop, after"; el; LOCUS_NO_COOPERATIVE_MATRIX=1 $B $Q -p 512 -n 0 -r 3 --retune > /tmp/b/a.txt 2>&1; show /tmp/b/a.txt
echo "=== Q no coop no int8"; el; LOCUS_NO_COOPERATIVE_MATRIX=1 LOCUS_NO_PACKED_INT8_DOT=1 $B $Q -p 512 -n 0 -r 3 --retune > /tmp/b/a.txt 2>&1; show /tmp/b/a.txt
echo "=== S no coop, after"; el; LOCUS_NO_COOPERATIVE_MATRIX=1 $B $S -p 512 -n 0 -r 3 --retune > /tmp/b/a.txt 2>&1; show /tmp/b/a.txt
echo "=== S all features, after"; el; $B $S -p 512 -n 0 -r 3 --retune > /tmp/b/a.txt 2>&1; show /tmp/b/a.txt
el
