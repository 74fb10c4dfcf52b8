# aiodicom: worklist SCP (11112, web page + REST API on 8080) and Q/R SCP (11113) in one image.
# Build: docker build -t aiodicom .     Run both: docker compose up
# (No Docker engine was available where this was written: the file is checked by
#  tests/test_compose.py for structure only; see docs/conformance.md, "Deployment".)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY aiodicom ./aiodicom
COPY servers ./servers
COPY clients ./clients
RUN pip install ".[metrics]" \
    && useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin dicom \
    && mkdir -p /etc/aiodicom /var/lib/aiodicom \
    && chown dicom /var/lib/aiodicom

# Configs and data are mounted as volumes (see docker-compose.yml); defaults for a quick try.
# The worklist items are written by the REST API as user dicom, and compose seeds its
# worklist-data volume from this copy, ownership included: so dicom owns it.
COPY config /etc/aiodicom
RUN chown -R dicom:dicom /etc/aiodicom/worklist-data
USER dicom
EXPOSE 11112 11113 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=10s --start-period=10s --retries=3 \
    CMD ["aiodicom-healthcheck", "127.0.0.1", "11112", "--called-ae", "WLMSCP"]
CMD ["aiodicom-worklist", "--config", "/etc/aiodicom/worklist.yaml", "--host", "0.0.0.0", "--log-format", "json"]
