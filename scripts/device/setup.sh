# Sourced by bench.sh and short.sh (carried beside them in .carry), from the
# repo root on the GPU machine: the Vulkan loader, llama.cpp's Vulkan
# llama-bench and the carried `locus` build, then the names both use.
for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
xz -dc .ref/llama-bench-vulkan.xz > /tmp/llama-bench && chmod +x /tmp/llama-bench
xz -dc .carry/locus.xz > /tmp/locus && chmod +x /tmp/locus
export LD_LIBRARY_PATH=.ref/lib
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
H=.carry/hdr; S=$H/SmolLM2-135M-Instruct.Q4_1.hdr; Q=$H/Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.hdr
L="--llama-bench /tmp/llama-bench --synth .ref/gguf_synth.py --flash-attn both"
B="taskset -c 0-3 /tmp/locus bench --header-only"
