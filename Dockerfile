FROM python:3.11-slim-bookworm
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg curl \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 10001 supportdesk
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY recordings ./recordings
COPY storage ./storage
COPY admin ./admin
RUN pip install --no-cache-dir .
USER supportdesk
ENV SUPPORTDESK_DATA_DIR=/home/supportdesk/var \
    SUPPORTDESK_ADMIN_HOST=0.0.0.0
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["supportdesk"]
CMD ["serve"]
