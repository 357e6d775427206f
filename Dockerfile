# GRID gateway image. Also runs the bundled mock upstream (docker-compose.yml uses it for both).
#   docker build -t grid-gateway .
#   docker run -p 8000:8000 grid-gateway     # no provider key: the shipped config's standby mock serves
#   docker run -p 8000:8000 -v $PWD/config.yaml:/etc/grid/config.yaml:ro grid-gateway
# The runtime lock includes the `otel` extra: OTEL_EXPORTER_OTLP_ENDPOINT turns traces on.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LITELLM_LOCAL_MODEL_COST_MAP=True

WORKDIR /app
# The runtime's hash-pinned lock first (make lock refreshes it), in a layer of its own: a change to the
# code reuses it from the build cache instead of installing the lock again. Then the package without
# resolving again: the image holds exactly the versions CI tested.
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock \
    && useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin grid
COPY pyproject.toml README.md ./
COPY gateway ./gateway
RUN pip install --no-deps .

# The repo's default config (standby mock deployments, real ones when provider keys are set);
# mount your own over it.
COPY config.yaml /etc/grid/config.yaml

USER grid
EXPOSE 8000
CMD ["gateway", "serve", "--config", "/etc/grid/config.yaml"]
