# Exchange Connect: the app behind gunicorn. Configure with environment variables (README).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 EXCHANGE_CONNECT_ENV=production
WORKDIR /srv
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY migrations ./migrations
COPY templates ./templates
COPY static ./static
# Editable install: templates/ and static/ live beside the package, not inside it.
RUN pip install --no-cache-dir -e . \
    && useradd --system --home /srv ec && mkdir -p /srv/instance && chown ec /srv/instance
USER ec
EXPOSE 8000
CMD ["sh", "-c", "flask --app app db-upgrade && gunicorn --bind 0.0.0.0:8000 --workers 2 --threads 4 'app:create_app()'"]
