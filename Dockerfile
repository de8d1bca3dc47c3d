# The bot as a container: python -m bot_entry run, one process per shard range.
# Build:  docker build -t activity-leaderboard .
# Run:    see docker-compose.yml (PostgreSQL and two processes on two shard ranges) and README "Deployment".
# The token comes only from the environment (DISCORD_TOKEN); no .env is copied into the image.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LOG_FORMAT=json \
    OPS_HOST=0.0.0.0 \
    OPS_PORT=8787

# pg_dump for `python -m bot_entry backup` against PostgreSQL.
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 bot \
    && useradd --system --uid 10001 --gid bot --home-dir /app --shell /usr/sbin/nologin bot

WORKDIR /app
COPY pyproject.toml README.md ./
COPY domain ./domain
COPY supervisor ./supervisor
COPY persistence ./persistence
COPY pictures ./pictures
COPY actors ./actors
COPY wiring ./wiring
COPY bot_entry ./bot_entry
COPY demo ./demo
COPY discord_sim ./discord_sim
RUN pip install . && mkdir -p /data && chown bot:bot /data

# With SQLite (no DATABASE_URL) the file lives in the /data volume.
ENV LEADERBOARD_DB=/data/leaderboard.db \
    BACKUP_DIR=/data/backups
VOLUME ["/data"]

USER bot
EXPOSE 8787
# /healthz answers 200 when the shards are connected, the actors alive and the database writable.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('OPS_PORT', '8787')}/healthz\", timeout=4)"]

STOPSIGNAL SIGTERM
ENTRYPOINT ["python", "-m", "bot_entry"]
CMD ["run"]
