# incident-bot container image.
# Builder: builds the project's wheel and installs it with its dependencies into /opt/venv.
# Runtime: the same base image with only that virtualenv; no compilers, no pip cache, no sources.

FROM python:3.11-slim AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
RUN python -m venv /opt/venv

# pyproject.toml names README.md as the package's readme, so the build needs it; the package
# data (bot/defaults/*.yaml and the shipped playbooks, bot/defaults/playbooks/*.yaml) is
# declared in pyproject's [tool.setuptools.package-data].
COPY pyproject.toml README.md ./
COPY bot/ bot/
RUN /opt/venv/bin/pip wheel --no-deps --wheel-dir /wheels . \
    && /opt/venv/bin/pip install /wheels/incident_bot-*.whl \
    && /opt/venv/bin/python -c "import importlib.resources as r; d = r.files('bot') / 'defaults'; assert (d / 'factsway.yaml').is_file() and (d / 'playbooks' / 'service-down.yaml').is_file()"


FROM python:3.11-slim

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    INCIDENT_BOT_DATABASE=/data/incident-bot.db

RUN groupadd --system --gid 10001 incident-bot \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin incident-bot \
    && mkdir -p /app /data \
    && chown 10001:10001 /app /data

COPY --from=builder /opt/venv /opt/venv
# The bundled config finds the shipped playbooks inside the package. This copy is for configs
# that set `playbooks_dir: /app/playbooks` (the overlays do); playbooks/ in the checkout is a
# link to the package's folder, so copy the folder itself.
COPY --chown=10001:10001 bot/defaults/playbooks/ /app/playbooks/

WORKDIR /app
USER 10001:10001
VOLUME ["/data"]
EXPOSE 8080

# slim has no curl: ask /healthz with the standard library. A non-2xx answer or a refused
# connection raises, which exits non-zero. Keep the port in step with CMD.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]

ENTRYPOINT ["incident-bot"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
