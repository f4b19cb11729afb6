# Production-like image: the same entry point `make run` serves, plus a worker.
FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
RUN apt-get update && apt-get install -y --no-install-recommends gettext && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.txt ./
RUN pip install -r requirements.txt
COPY . .
RUN SECRET_KEY=build-time-only python manage.py compilemessages --ignore=.venv -v0 \
 && SECRET_KEY=build-time-only python manage.py collectstatic --noinput -v0
RUN useradd --create-home promptlab && mkdir -p /app/var && chown promptlab /app/var
USER promptlab
EXPOSE 8000
# X-Forwarded-For is believed only from FORWARDED_ALLOW_IPS (empty: from no one), not
# uvicorn's default of loopback: a shell, so that an unset variable means "none".
CMD ["sh", "-c", "exec uvicorn promptlab.asgi:application --host 0.0.0.0 --port 8000 --workers 2 --forwarded-allow-ips \"${FORWARDED_ALLOW_IPS:-}\""]
