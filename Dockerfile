# easel on NVIDIA GPUs: onnxruntime-node with its CUDA execution provider.
# Build: docker build -t easel .   Run: docker run --gpus all -v $PWD/models:/app/models --env-file .env easel
FROM nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04 AS base
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl python3 make g++ \
    && curl -fsSL https://deb.nodesource.com/setup_20.x | bash - \
    && apt-get install -y --no-install-recommends nodejs && rm -rf /var/lib/apt/lists/*
WORKDIR /app

FROM base AS build
# npm ci runs the package's `prepare` (the TypeScript build), so the sources come first.
COPY package.json package-lock.json .npmrc tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY bin ./bin
# `easel fixtures` copies the CLIP tokenizer and SDXL's scheduler config from here.
COPY test/fixtures/reference/tokenizer ./test/fixtures/reference/tokenizer
COPY test/fixtures/reference/schedulers.json ./test/fixtures/reference/schedulers.json
# The project .npmrc skips onnxruntime-node's CUDA download (offline CI); the environment variable
# wins over it here.
RUN ONNXRUNTIME_NODE_INSTALL=true npm ci && npm prune --omit=dev --ignore-scripts

FROM base
COPY --from=build /app /app
COPY config ./config
ENV EASEL_DEVICES=cuda:0 EASEL_DATA_DIR=/app/data NODE_ENV=production
VOLUME ["/app/data", "/app/models"]
ENTRYPOINT ["node", "bin/easel.js"]
CMD ["--help"]
