# Production-like image: the same entry point `make run` serves, plus a worker.
# GraphiQL and React come from npm (package-lock.json): installed in a Node stage, then
# copied into static/graphiql/ by the Makefile's own rule (the files `make setup` makes).
FROM node:20-slim AS assets
WORKDIR /assets
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --loglevel=error

FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
RUN apt-get update && apt-get install -y --no-install-recommends gettext make && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.txt ./
RUN pip install -r requirements.txt
COPY . .
COPY --from=assets /assets/node_modules ./node_modules
# The image's Python is the venv here: BIN and VENV point the Makefile's rule at it.
RUN touch node_modules/.installed && make static/graphiql/.installed BIN=/usr/local/bin VENV=/usr/local
RUN SECRET_KEY=build-time-only python manage.py compilemessages --ignore=.venv -v0 \
 && SECRET_KEY=build-time-only python manage.py collectstatic --noinput -v0
RUN useradd --create-home promptlab && mkdir -p /app/var && chown promptlab /app/var
USER promptlab
EXPOSE 8000
# X-Forwarded-For is believed only from FORWARDED_ALLOW_IPS (empty: from no one), not
# uvicorn's default of loopback: a shell, so that an unset variable means "none".
CMD ["sh", "-c", "exec uvicorn promptlab.asgi:application --host 0.0.0.0 --port 8000 --workers 2 --forwarded-allow-ips \"${FORWARDED_ALLOW_IPS:-}\""]
