# An image that runs any lakehouse job: Java 17, Python 3.11, the package,
# the jars. Build and run (the config folder and the lake are mounted):
#
#   docker build -t lakehouse-jobs .
#   docker run --rm -v "$PWD/conf:/opt/lakehouse/conf" -v lake:/opt/lakehouse/.lake \
#     lakehouse-jobs run batch_load --pipeline orders --date 2026-03-01
#
# The entry point is the `lakehouse` command; `run JOB ...` launches a job
# with spark-submit in the image (Spark local mode unless the env file or
# --master names a cluster). See docs/platforms.md.

# ---- build: the jars need Maven and a JDK (javac for the LogStore) --------
FROM python:3.11-slim-bookworm AS build
RUN apt-get update -q \
 && apt-get install -y -q --no-install-recommends openjdk-17-jdk-headless maven \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/lakehouse
COPY pyproject.toml constraints.txt README.md LICENSE ./
COPY lib ./lib
COPY jvm ./jvm
COPY scripts/resolve_jars.py ./scripts/
RUN python -m venv .venv \
 && .venv/bin/pip install --no-cache-dir -q -c constraints.txt . \
 && .venv/bin/python scripts/resolve_jars.py spark \
 && .venv/bin/python scripts/resolve_jars.py lakehouse

# ---- runtime: a JRE, the venv, the jars, the launcher and its entry files --
FROM python:3.11-slim-bookworm
RUN apt-get update -q \
 && apt-get install -y -q --no-install-recommends openjdk-17-jre-headless procps \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 lakehouse
WORKDIR /opt/lakehouse
COPY --from=build /opt/lakehouse/.venv ./.venv
COPY --from=build /opt/lakehouse/.cache/jars ./.cache/jars
COPY jobs ./jobs
COPY conf ./conf
COPY spark-submit.sh ./
RUN mkdir -p .lake .build && chown -R lakehouse .lake .build
ENV LAKEHOUSE_HOME=/opt/lakehouse \
    PATH=/opt/lakehouse/.venv/bin:$PATH \
    JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64
USER lakehouse
ENTRYPOINT ["lakehouse"]
CMD ["--help"]
