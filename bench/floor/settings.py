"""Settings of the floor stack: the project's database, broker and Celery settings, nothing else."""

from __future__ import annotations

from promptlab import settings as project

SECRET_KEY = "floor-benchmark-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "rest_framework", "bench.floor"]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "bench.floor.urls"
DATABASES = project.DATABASES  # the same pool, prepared statements and checks
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
REDIS_URL = project.REDIS_URL
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "UNAUTHENTICATED_USER": None,
}
for _name in dir(project):
    if _name.startswith("CELERY_") and _name not in ("CELERY_TASK_ROUTES", "CELERY_BEAT_SCHEDULE"):
        globals()[_name] = getattr(project, _name)
