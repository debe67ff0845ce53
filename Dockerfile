# The Billing & Entitlements Service. TypeScript runs through tsx (a runtime
# dependency), so the image needs no build step beyond `npm ci`.
FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY gen ./gen
COPY src ./src
USER node
EXPOSE 8080 9464
# One port: gRPC (HTTP/2), Connect, gRPC-Web, webhooks, /healthz, /readyz,
# /metrics without tenant figures. 9464: the metrics listener, every figure;
# it binds to loopback unless METRICS_HOST says otherwise (a sidecar in the
# same pod reaches loopback; anything else needs METRICS_HOST=0.0.0.0 on a
# network only Prometheus reaches).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "--import", "tsx", "src/main.ts"]
