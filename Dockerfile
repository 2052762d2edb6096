# syntax=docker/dockerfile:1
# Ventros CRM: one image, every role. `docker run IMAGE api` (or worker, relay, ingest,
# temporal-worker, migrate ...): the argument is the `ventros` command.

# ---- build: wheels compiled here, with the build tools this stage alone has
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential libpq-dev \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/ventros
ENV PATH=/opt/ventros/bin:$PATH
WORKDIR /src
COPY requirements.lock pyproject.toml README.md ./
RUN pip install -r requirements.lock
COPY src ./src
RUN pip install --no-deps . && python -m compileall -q /opt/ventros

# ---- run: slim Python, the virtualenv, no compilers, a user without privileges
FROM python:3.11-slim-bookworm AS run
LABEL org.opencontainers.image.title="Ventros CRM" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 ventros \
 && useradd --system --uid 10001 --gid ventros --home-dir /var/lib/ventros --shell /usr/sbin/nologin ventros \
 && mkdir -p /var/lib/ventros \
 && chown ventros:ventros /var/lib/ventros
COPY --from=build /opt/ventros /opt/ventros
ENV PATH=/opt/ventros/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VENTROS_HOME=/var/lib/ventros \
    VENTROS_HTTP_HOST=0.0.0.0 \
    VENTROS_HTTP_PORT=8000
USER 10001:10001
WORKDIR /var/lib/ventros
EXPOSE 8000 9100
# For the API role; background roles are checked by their orchestrator (compose, Kubernetes)
# on VENTROS_METRICS_PORT instead.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('VENTROS_HTTP_PORT', '8000')}/health/live\", timeout=2)"]
ENTRYPOINT ["ventros"]
CMD ["api"]
