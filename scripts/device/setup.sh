# Sourced by the device scripts (bench.sh, models.sh) from the repo root on
# the GPU machine: the Vulkan loader, llama.cpp's Vulkan llama-bench and the
# carried `locus` unpacked; `step NAME SECONDS COMMAND…` runs one bounded
# step into /tmp/b/NAME.txt and shows its figures. Every step ends by BUDGET
# seconds into the call (set it before sourcing): a step is cut to what is
# left, or skipped. ONLY="a b" runs just the steps named.
for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
xz -dc .ref/llama-bench-vulkan.xz > /tmp/llama-bench && chmod +x /tmp/llama-bench
xz -dc .carry/locus.xz > /tmp/locus && chmod +x /tmp/locus
export LD_LIBRARY_PATH=.ref/lib
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
L="--llama-bench /tmp/llama-bench --synth .ref/gguf_synth.py --flash-attn both"
mkdir -p /tmp/b
t0=$(date +%s); el() { echo "[t=$(( $(date +%s) - t0 ))s]"; }
show() { grep -E "tuning:|pp|tg|ttft|dispatch|profile|^  (embedding|pass|total)|GiB|wrong|rror" "$1" | grep -v XDG | cut -c1-230; }
step() { # name seconds command...
  local name=$1 limit=$2; shift 2
  [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $name "* ]] && return
  local left=$(( BUDGET - ($(date +%s) - t0) ))
  [ "$limit" -gt "$left" ] && limit=$left
  [ "$limit" -lt 15 ] && { echo "=== $name skipped $(el)"; return; }
  echo "=== $name $(el)"; timeout "$limit" "$@" > "/tmp/b/$name.txt" 2>&1 || echo "(exit $?)"
  show "/tmp/b/$name.txt"
}
