#!/bin/sh
# Runs the GPU bench from its bundle on a bare Linux x86-64 machine: ./run.sh [bench flags]
# (defaults: full-size models written under /tmp, 1024², 30 steps, float32 and float16, webgpu and cpu).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
# No system Vulkan loader? Unpack Debian's libvulkan1 here: dpkg-deb -x libvulkan1_*.deb "$here/vulkan"
if [ -d "$here/vulkan" ]; then
  LD_LIBRARY_PATH="$here/vulkan/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export LD_LIBRARY_PATH
fi
# NVIDIA's Vulkan driver: its ICD manifest where the driver installed one, else one written here
# for libGLX_nvidia.so.0 (machines set up for CUDA only often lack the manifest).
if [ -z "${VK_DRIVER_FILES:-}" ]; then
  for manifest in /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
    if [ -f "$manifest" ]; then VK_DRIVER_FILES=$manifest; break; fi
  done
  if [ -z "${VK_DRIVER_FILES:-}" ] && ldconfig -p 2>/dev/null | grep -q 'libGLX_nvidia\.so\.0'; then
    VK_DRIVER_FILES="$here/nvidia_icd.json"
    printf '{"file_format_version":"1.0.0","ICD":{"library_path":"libGLX_nvidia.so.0","api_version":"1.3"}}\n' \
      >"$VK_DRIVER_FILES"
  fi
  if [ -n "${VK_DRIVER_FILES:-}" ]; then export VK_DRIVER_FILES; fi
fi
echo "VK_DRIVER_FILES=${VK_DRIVER_FILES:-(the loader's default drivers)}" >&2
exec "$here/node" "$here/bench.mjs" "$@"
