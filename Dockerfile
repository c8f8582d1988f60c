# syntax=docker/dockerfile:1
#
# Gatehouse container image.
#
#   docker build -t gatehouse .
#   docker run --rm -p 8080:8080 -v "$PWD/my-gatehouse:/etc/gatehouse:ro" \
#     -v gatehouse-data:/var/lib/gatehouse gatehouse
#
# The config must bind 0.0.0.0 (docker/gatehouse.yaml, the default config at
# /etc/gatehouse/gatehouse.yaml, does): 127.0.0.1 inside a container is
# unreachable from outside it.

ARG NODE_VERSION=22

# better-sqlite3 (the embedded audit store) is a native addon: the stages that
# install dependencies need a compiler when no prebuilt binary is reachable.
# ---- build: compile TypeScript with the full (dev) dependency set ----
FROM node:${NODE_VERSION}-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json ./
COPY src ./src
# `npm run build` also precompiles the OpenAPI spec validators (see the script).
COPY scripts/build-validators.mjs ./scripts/
RUN npm run build

# ---- deps: production dependencies only (better-sqlite3's install script builds it) ----
FROM node:${NODE_VERSION}-slim AS deps
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force

# ---- runtime ----
FROM node:${NODE_VERSION}-slim AS runtime
# GATEHOUSE_DATA_DIR: where a config that names no dataDir keeps its state (the
# writable volume below), so a gatehouse.yaml mounted on its own into the
# root-owned /etc/gatehouse still has its audit trail and admin registry.
ENV NODE_ENV=production \
    GATEHOUSE_PORT=8080 \
    GATEHOUSE_DATA_DIR=/var/lib/gatehouse
WORKDIR /app
# Owned by root and read-only to the `node` user that runs the gateway.
# package.json is needed at runtime: it marks dist/*.js as ES modules.
COPY package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY docker/gatehouse.yaml /etc/gatehouse/gatehouse.yaml
# Writable state (the SQLite audit trail, the admin registry) goes here, owned by
# the user that runs the gateway: mount a named volume on it to keep it.
RUN mkdir -p /var/lib/gatehouse && chown node:node /var/lib/gatehouse
VOLUME /var/lib/gatehouse

USER node
EXPOSE 8080

# node:*-slim has no curl or wget; probe /healthz with node's own fetch.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.GATEHOUSE_PORT || 8080) + '/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# node runs as PID 1: the gateway must handle SIGTERM itself (or run with `docker run --init`).
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["serve", "--config", "/etc/gatehouse/gatehouse.yaml"]
