#!/bin/bash
# libFuzzer on the GPU machine's spare cores (4-15) while bench.sh uses 0-3:
# FUZZ_SECONDS each, jobs per target as below; a summary of executions and
# any crash inputs go to $OUT/fuzz (the logs stay in /tmp/fz/logs: the call
# returns at most 8 files). .carry/fz/ holds the
# instrumented targets (`cargo xtask fuzz` builds them under
# ~/.cache/locus/fuzz/target/x86_64-unknown-linux-gnu/release/, xz'd here),
# their seeds (~/.cache/locus/fuzz/seeds/<target>, or a tarball of them and
# of earlier corpora) and fuzz/dicts/*.dict.
cd "$(dirname "$0")/.."
S=${FUZZ_SECONDS:-420}
# Where and how many: beside bench.sh, cores 4-15; alone, e.g.
# FUZZ_CORES=0-15 TOKENIZER_JOBS=16 GGUF_JOBS=0 bash .carry/fuzz.sh
CORES=${FUZZ_CORES:-4-15}
mkdir -p $OUT/fuzz /tmp/fz/logs
# Targets whose binary is carried (leave one out to keep the carry under 64 MiB).
targets=$(for t in tokenizer_from_gguf chat_template gguf_reader; do [ -f .carry/fz/$t.xz ] && echo $t; done)
for t in $targets; do xz -dc .carry/fz/$t.xz > /tmp/fz/$t; chmod +x /tmp/fz/$t; done
# Corpora of earlier calls, as tarballs of seeds/<target>/ (many small files
# carry faster as one).
for f in .carry/fz/*.tgz; do [ -f "$f" ] && tar xzf "$f" -C .carry/fz/seeds; done
run() { # target jobs max_len extra
  local t=$1 n=$2 len=$3; shift 3
  [ -x /tmp/fz/$t ] || return 0
  for i in $(seq 1 $n); do
    mkdir -p /tmp/fz/corpus/$t.$i $OUT/fuzz/art-$t
    dict=""; [ -f .carry/fz/$t.dict ] && dict="-dict=.carry/fz/$t.dict"
    taskset -c $CORES nice -n 10 /tmp/fz/$t /tmp/fz/corpus/$t.$i .carry/fz/seeds/$t -max_total_time=$S -max_len=$len -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -print_pcs=0 -seed=$((1000*i+7)) -artifact_prefix=$OUT/fuzz/art-$t/ $dict "$@" > /tmp/fz/logs/$t.$i.log 2>&1 &
  done
}
# chat_template and fasttext_reader have their 10 M (issue 12); these two not.
run tokenizer_from_gguf ${TOKENIZER_JOBS:-8} 4096 -len_control=0
run gguf_reader ${GGUF_JOBS:-4} 65536
wait
for t in $targets; do
  ls /tmp/fz/logs/$t.*.log > /dev/null 2>&1 || continue
  echo "$t: $(cat /tmp/fz/logs/$t.*.log | awk '/stat::number_of_executed_units/{s+=$2} END{print s}') executions; crashes: $(ls $OUT/fuzz/art-$t | wc -l)"
done > $OUT/fuzz/summary.txt
# The corpora come back (one file) to seed the next call.
tar czf $OUT/fuzz/corpus.tgz -C /tmp/fz corpus
