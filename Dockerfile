# syntax=docker/dockerfile:1.7
# One image for ingest, processor, migrations and the `smstats` CLI (see helm/README.md).
#   docker build -t smstats:0.1.0 .
#   docker run --read-only --tmpfs /tmp -v smstats-data:/data smstats:0.1.0                          # ingest
#   docker run --read-only --tmpfs /tmp -v smstats-data:/data smstats:0.1.0 dist/server/processor.mjs  # processor
#   docker run --read-only --tmpfs /tmp -v smstats-data:/data smstats:0.1.0 --import tsx lib/migrate/cli.ts  # migrations
#   docker run --read-only --tmpfs /tmp smstats:0.1.0 bin/smstats.mjs license list                   # CLI
# Ingest and processor run as JavaScript bundles (the server stage; scripts/build-server.ts), without a
# TypeScript loader in the serving processes; migrations and the CLI load their TypeScript through tsx.
# test/helm/image-replay.test.ts replays these steps outside Docker (Docker cannot run where the tests do):
# keep RUN lines relative to WORKDIR and the runtime stage free of RUN, so the replay stays faithful.
ARG NODE_IMAGE=node:20.20.2-bookworm-slim

# --- deps: production node_modules only --------------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# The lockfile lists every platform's optional packages (test/unit/lockfile.test.ts), so `npm ci` takes it as is.
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --prefer-offline --no-audit --no-fund
RUN mkdir -p data

# --- web: the console and portal, built with Vite into web/dist --------------------------------------
FROM ${NODE_IMAGE} AS web
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json tsconfig.json ./
COPY lib ./lib
COPY scripts/web-build.ts ./scripts/web-build.ts
COPY web ./web
RUN node --import tsx scripts/web-build.ts --out web/dist

# --- server: ingest and processor bundled into plain JavaScript (dist/server/) ---------------------------
FROM ${NODE_IMAGE} AS server
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json tsconfig.json ./
COPY clickhouse ./clickhouse
COPY digest ./digest
COPY ingest ./ingest
COPY lib ./lib
COPY licensing ./licensing
COPY mail ./mail
COPY payments ./payments
COPY privacy ./privacy
COPY processors ./processors
COPY schemas ./schemas
COPY webhooks ./webhooks
COPY scripts/build-server.ts ./scripts/build-server.ts
RUN node --import tsx scripts/build-server.ts --out dist/server

# --- runtime: source + production node_modules, non-root, read-only at run time -----------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    SMSTATS_DATA_DIR=/data \
    SMSTATS_INGEST_HOST=0.0.0.0 \
    SMSTATS_PROCESSOR_HOST=0.0.0.0 \
    TMPDIR=/tmp
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=deps /app/package.json ./package.json
COPY tsconfig.json ./
COPY bin ./bin
COPY cli ./cli
COPY clickhouse ./clickhouse
COPY digest ./digest
COPY ingest ./ingest
COPY lib ./lib
COPY licensing ./licensing
COPY mail ./mail
COPY payments ./payments
COPY privacy ./privacy
COPY processors ./processors
COPY schemas ./schemas
COPY webhooks ./webhooks
COPY --from=web /app/web/dist ./web/dist
COPY --from=server /app/dist/server ./dist/server
# `smstats` lists every command area, demo included, so the demo's modules come along (not its k6 parts).
COPY loadtest/demo.ts loadtest/service.ts ./loadtest/
COPY loadtest/fleet ./loadtest/fleet
# The only writable places at run time: /data (keys, role passwords; a volume) and /tmp (tsx's cache).
COPY --from=deps --chown=1000:1000 /app/data /data
# uid 1000 is the `node` user of the official image; numeric so Kubernetes' runAsNonRoot can check it.
USER 1000:1000
EXPOSE 8080 8081
ENTRYPOINT ["node"]
CMD ["dist/server/ingest.mjs"]
