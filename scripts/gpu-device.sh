#!/usr/bin/env bash
# Runs the GPU bench on a bare GPU machine from .gpu-carry/ (made by `node scripts/gpu-pack.mjs`):
# unpacks Node, the bundled host and bench, node-llama-cpp (CPU and Vulkan) and, on a machine with
# an NVIDIA GPU, the Vulkan loader; writes the shape model; runs bench:gpu; leaves the log, the
# Markdown section and results.json in $OUT. Arguments go to bench:gpu (default below).
#
#   bash scripts/gpu-device.sh                      # on the GPU machine, carry .gpu-carry
#   OUT=/tmp/out bash scripts/gpu-device.sh --gpu cpu --layers 2 --embd 512 --ff 1536 --vocab 4096   # CPU dry run
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CARRY="$ROOT/.gpu-carry"
WORK="${DATARUS_GPU_WORK:-/tmp/datarus-gpu}"
: "${OUT:?set OUT to a folder for the results}"
ARGS=("$@")
[ ${#ARGS[@]} -gt 0 ] || ARGS=(--gpu vulkan --only inprocess,host,warm --prompt-cache auto,on)
started=$(date +%s)
log() { printf '[gpu-device %3ss] %s\n' "$(( $(date +%s) - started ))" "$*" | tee -a "$OUT/device.log"; }

rm -rf "$WORK" && mkdir -p "$WORK"
tar -C "$WORK" -xJf "$CARRY/app.tar.xz"
xz -dc "$CARRY/node.xz" > "$WORK/node" && chmod +x "$WORK/node"
export PATH="$WORK:$PATH" PYTHONPATH="$WORK/app/python${PYTHONPATH:+:$PYTHONPATH}"
log "unpacked; node $("$WORK/node" --version)"
python3 -c 'import numpy, gguf' 2>/dev/null || { log "python3 cannot import numpy and gguf (the shape model's writer needs both)"; exit 2; }

if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee -a "$OUT/device.log"
  if ! ldconfig -p | grep -q 'libvulkan.so.1 '; then
    for f in "$CARRY"/gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
  fi
  icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  [ -e "$icd" ] && export VK_DRIVER_FILES="$icd" __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
  # What a CUDA 12 check would need here (the runtime libraries; node-llama-cpp's CUDA packages do not travel).
  { ldconfig -p | grep -E 'libcudart\.so\.1[23]|libcublas\.so\.1[23]' || echo 'no CUDA runtime in the loader cache'
    ls -d /opt/*/.venv/lib/python3*/site-packages/nvidia/* 2>/dev/null || true; } | sed 's/^/  /' | tee -a "$OUT/device.log"
  log "Vulkan loader ready"
fi

cd "$WORK/app"
log "bench:gpu ${ARGS[*]}"
status=0
timeout "${DATARUS_GPU_TIMEOUT:-450}" node lib-node/bench/gpu.js "${ARGS[@]}" > "$OUT/gpu.md" 2> >(tee -a "$OUT/device.log" >&2) || status=$?
log "bench:gpu exit $status"
[ -e benchmarks/results.json ] && cp benchmarks/results.json "$OUT/results.json"
exit "$status"
