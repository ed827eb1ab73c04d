# The Telegram bot in a container, with the corpus and the index on a volume:
#   docker build -t policy-qa-bot .
#   docker run -d --name policy-qa-bot -e TELEGRAM_BOT_TOKEN=... -e TELEGRAM_ADMIN_IDS=... \
#       -v policy-qa-data:/data policy-qa-bot
# The first start copies the shipped corpus into an empty volume and builds the index.
FROM python:3.11-slim

RUN useradd --system --uid 10001 --create-home --home-dir /app bot
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY corpus ./corpus-shipped
RUN pip install --no-cache-dir . && mkdir -p /data && chown 10001 /data

USER 10001
ENV BOT_CORPUS_DIR=/data/corpus \
    BOT_INDEX_DIR=/data/index \
    PYTHONUNBUFFERED=1
VOLUME ["/data"]
# Webhook mode listens on 8443 when started with --webhook-url; polling needs no port.
EXPOSE 8443
STOPSIGNAL SIGTERM
CMD ["sh", "-c", "[ -d /data/corpus ] || cp -r /app/corpus-shipped /data/corpus; exec policy-qa-bot telegram"]
