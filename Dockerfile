# easel on NVIDIA GPUs: onnxruntime-node with its CUDA execution provider (CUDA 12 + cuDNN 9); the
# same image runs EASEL_DEVICES=webgpu on AMD, Intel and NVIDIA GPUs through Vulkan (the loader and
# Mesa's radv/anv drivers are in it; see README "AMD and Intel GPUs" and the compose profiles).
# Models: `easel pull sdxl-base` on the host into ./models (see README "Docker"), then
# `docker compose up -d`. Plain docker:
#   docker build -t easel .
#   docker run -d --gpus all --env-file .env -v "$PWD/models:/app/models" -v "$PWD/data:/app/data" -p 127.0.0.1:8080:8080 easel

# Node 20, pinned: the official binary from the Node image (built for glibc 2.28+, so it runs on
# Ubuntu 22.04's glibc 2.35). No install script is piped into a shell.
ARG NODE_IMAGE=node:20.20.2-bookworm-slim
# `-cudnn-runtime` tags of CUDA 12.3 and later carry cuDNN 9 (the older `-cudnn8-` tags carry cuDNN 8),
# which onnxruntime-node's CUDA 12 provider needs.
ARG CUDA_IMAGE=nvidia/cuda:12.6.3-cudnn-runtime-ubuntu22.04

FROM ${NODE_IMAGE} AS node

FROM ${CUDA_IMAGE} AS base
COPY --from=node /usr/local/bin/node /usr/local/bin/node
# libvulkan1 and mesa-vulkan-drivers: the Vulkan loader Dawn (onnxruntime's WebGPU provider) opens,
# and radv (AMD) / anv (Intel); NVIDIA's Vulkan driver comes from the host through the container
# toolkit when the graphics capability is asked for (below).
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates libvulkan1 mesa-vulkan-drivers \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app

FROM base AS build
# npm from the same Node image, and a toolchain in case a native module has no prebuilt binary.
COPY --from=node /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
    && apt-get update && apt-get install -y --no-install-recommends python3 make g++ \
    && rm -rf /var/lib/apt/lists/*
# npm ci runs the package's `prepare` (the TypeScript build), so the sources come first.
COPY package.json package-lock.json .npmrc tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY bin ./bin
# The project .npmrc skips onnxruntime-node's CUDA binaries (CPU installs, offline CI); the
# environment variable wins over it, so this install fetches them.
# Source maps are not read at run time: dropping them saves about 200 MB (mostly TensorFlow.js', which
# output moderation loads).
RUN ONNXRUNTIME_NODE_INSTALL=true npm ci --no-audit --no-fund \
    && npm prune --omit=dev --ignore-scripts \
    && find node_modules -name '*.map' -type f -delete

FROM base
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY config ./config
# Files the product reads at run time (CLIP tokenizer, SDXL scheduler config: `easel fixtures`,
# the demo model).
COPY assets ./assets
# uid 1000, the usual first user on the host, so ./models and ./data bind mounts stay writable.
RUN useradd --create-home --uid 1000 easel \
    && mkdir -p /app/models /app/data \
    && chown easel:easel /app/models /app/data
USER easel
# graphics: the container toolkit then also mounts NVIDIA's Vulkan driver (EASEL_DEVICES=webgpu).
ENV NODE_ENV=production EASEL_DEVICES=cuda:0 EASEL_DATA_DIR=/app/data \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics \
    EASEL_WEB_HOST=0.0.0.0 EASEL_WEB_PORT=8080
VOLUME ["/app/models", "/app/data"]
EXPOSE 8080
# /healthz answers whenever easel runs (also with the chat page off); node's fetch, no curl needed.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.EASEL_WEB_PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# = npm start
CMD ["node", "bin/easel.js", "start"]
