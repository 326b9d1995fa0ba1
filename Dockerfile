# supportdesk: admin web + Telegram bot + recording vault. `supportdesk serve` migrates the
# database, then serves; SIGTERM drains in-flight requests and bot work before exiting.
FROM python:3.11.11-slim-bookworm
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# Debian's ffmpeg converts recordings; curl serves the healthcheck.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg curl \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 10001 supportdesk
WORKDIR /app
# The locked versions (hash-checked) first, in their own layer; then the project itself,
# everything .dockerignore lets through, without resolving anything again.
COPY requirements.lock .
RUN pip install -r requirements.lock
COPY . .
RUN pip install --no-deps . && rm -rf /app/build
USER supportdesk
# Created as the app user so a fresh named volume mounted here is writable by it.
RUN mkdir -p /home/supportdesk/var
ENV SUPPORTDESK_DATA_DIR=/home/supportdesk/var \
    SUPPORTDESK_ADMIN_HOST=0.0.0.0 \
    SUPPORTDESK_LOG_FORMAT=json
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["supportdesk"]
CMD ["serve"]
