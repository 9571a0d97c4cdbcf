# Backprop Playground — one image: `docker run -p 8000:8000 -v playground-data:/data IMAGE`.
# Stages: the dependency list from pyproject.toml; a virtualenv with those dependencies, at
# the versions requirements.lock pins (a layer rebuilt only when either changes); the app
# built and installed from the sources (templates/ and static/ inside the package); and the
# runtime: that virtualenv plus the app's files, non-root, with no compiler and no
# setuptools (the base image's pip installs into the virtualenv, which has no pip of its own).

FROM python:3.12-slim AS requirements
WORKDIR /src
COPY pyproject.toml ./
RUN python -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; open('requirements.txt', 'w').write('\n'.join(deps) + '\n')"

FROM python:3.12-slim AS deps
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
COPY --from=requirements /src/requirements.txt /tmp/requirements.txt
COPY requirements.lock /tmp/requirements.lock
RUN python -m venv --without-pip /opt/venv \
 && pip --python /opt/venv/bin/python install --no-cache-dir -c /tmp/requirements.lock \
      -r /tmp/requirements.txt

FROM python:3.12-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
COPY templates ./templates
COPY static ./static
# The app's own files only, laid out under /staging as they go into /opt/venv.
RUN python -m venv --without-pip /opt/venv \
 && pip --python /opt/venv/bin/python install --no-cache-dir --no-deps --no-compile \
      --root /staging .

FROM python:3.12-slim
# A fixed UID/GID (10001), so a host directory or volume can be chowned to match.
RUN groupadd --gid 10001 playground \
 && useradd --uid 10001 --gid playground --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin playground \
 && mkdir /data \
 && chown playground:playground /data
COPY --from=deps /opt/venv /opt/venv
COPY --from=build /staging/opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# Check that templates/ and static/ came inside the package, and byte-compile it.
RUN python -I -c "import compileall, app.paths as p; assert (p.TEMPLATES_DIR.name, p.STATIC_DIR.name) == ('_templates', '_static'), p.TEMPLATES_DIR; compileall.compile_dir(p.PACKAGE, quiet=1)"
# FORWARDED_ALLOW_IPS is unset: X-Forwarded-For is ignored unless a deployment behind a
# proxy sets it to that proxy's address (never "*").
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    PORT=8000 \
    STORE=sqlite \
    DATA_DIR=/data
VOLUME ["/data"]
WORKDIR /data
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request as u; h = os.environ.get('HOST', '0.0.0.0'); h = '127.0.0.1' if h in ('', '0.0.0.0', '::') else h; u.urlopen(f\"http://{h}:{os.environ.get('PORT', '8000')}/healthz\", timeout=2)"]
# On SIGTERM uvicorn stops accepting, finishes requests in flight (up to 10 s), closes the
# store, then exits: give it longer than that (docker stop -t 20, compose stop_grace_period).
STOPSIGNAL SIGTERM
CMD ["backprop-playground", "serve"]
