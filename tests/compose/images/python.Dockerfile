# Local stand-in for python:3.11-slim, built by scripts/compose_engine.sh where no image
# registry is reachable. Debian bookworm's Python 3.11 as a virtual environment in /usr/local,
# so /usr/local/bin/python3.11, python and pip are where the official image has them.
# The machine's extra CA certificates (copied into the build context by the script) are
# trusted, since builds reach PyPI through the machine's registry proxy.
ARG BASE
FROM ${BASE}
COPY extra-ca/ /usr/local/share/ca-certificates/
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       python3.11 python3.11-venv ca-certificates \
    && update-ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && python3.11 -m venv /usr/local \
    && ln -sf python3.11 /usr/local/bin/python
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    LANG=C.UTF-8
LABEL org.welfare-portal.stand-in="python:3.11-slim"
CMD ["python3"]
