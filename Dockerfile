# syntax=docker/dockerfile:1.7
# One image for ingest, processor, migrations and the `smstats` CLI (see helm/README.md).
#   docker build -t smstats:0.1.0 .
#   docker run --read-only --tmpfs /tmp -v smstats-data:/data smstats:0.1.0                      # ingest
#   docker run --read-only --tmpfs /tmp -v smstats-data:/data smstats:0.1.0 processors/main.ts   # processor
#   docker run --read-only --tmpfs /tmp -v smstats-data:/data smstats:0.1.0 lib/migrate/cli.ts   # migrations
#   docker run --read-only --tmpfs /tmp smstats:0.1.0 bin/smstats.mjs license list               # CLI
# test/helm/image-replay.test.ts replays these steps outside Docker (Docker cannot run where the tests do):
# keep RUN lines relative to WORKDIR and the runtime stage free of RUN, so the replay stays faithful.
ARG NODE_IMAGE=node:20.20.2-bookworm-slim

# --- deps: production node_modules only --------------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# The lockfile is written on one platform and lacks other platforms' optional packages of dev tools
# (biome, chdb), which `npm ci` rejects as out of sync even with --omit=dev. Dropping devDependencies
# from the manifest first leaves the production graph, which the lockfile pins completely.
RUN node -e "const fs=require('fs');const p=JSON.parse(fs.readFileSync('package.json','utf8'));delete p.devDependencies;fs.writeFileSync('package.json',JSON.stringify(p,null,2))"
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --prefer-offline --no-audit --no-fund
RUN mkdir -p data

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
COPY ingest ./ingest
COPY lib ./lib
COPY licensing ./licensing
COPY processors ./processors
COPY schemas ./schemas
# `smstats` lists every command area, demo included, so the demo's modules come along (not its k6 parts).
COPY loadtest/demo.ts loadtest/service.ts ./loadtest/
COPY loadtest/fleet ./loadtest/fleet
# The only writable places at run time: /data (keys, role passwords; a volume) and /tmp (tsx's cache).
COPY --from=deps --chown=1000:1000 /app/data /data
# uid 1000 is the `node` user of the official image; numeric so Kubernetes' runAsNonRoot can check it.
USER 1000:1000
EXPOSE 8080 8081
ENTRYPOINT ["node", "--import", "tsx"]
CMD ["ingest/server.ts"]
