# The aecp image: the `aecp` command (compiler, sidecar, distribution,
# approvals) on Node.js 20, plus the example policies and the echo upstream
# that docker-compose.yml runs. Build: `docker build -t aecp:0.1.0 .`
# test/mesh-compose.test.ts checks that every path copied here exists.

FROM node:20-slim AS build
WORKDIR /app
# better-sqlite3 falls back to compiling from source when no prebuilt binary fits
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
COPY proto ./proto
# npm ci also runs `prepare` (= npm run build); the explicit build keeps the
# step visible if `prepare` ever changes. Dev dependencies go afterwards.
RUN npm ci && npm run build && npm prune --omit=dev

FROM node:20-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# proto/policy.wit is read by the compiler at run time
COPY proto ./proto
COPY policies ./policies
COPY envoy/echo-server.mjs ./envoy/echo-server.mjs
# `aecp` on PATH; state directories owned by the unprivileged `node` user, so
# named volumes mounted there inherit that owner.
RUN ln -s /app/dist/cli/main.js /usr/local/bin/aecp \
 && mkdir -p /state /data /cache \
 && chown node:node /state /data /cache
USER node
# 9191 gRPC ext_authz, 9192 sidecar HTTP, 8181 distribution, 8282 approvals
EXPOSE 9191 9192 8181 8282
CMD ["aecp", "--help"]
