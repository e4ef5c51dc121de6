# The Arrears image: web app, worker and CLI (the command chooses which).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY service ./service
COPY strategies ./strategies
COPY workers ./workers
COPY templates ./templates
# A regular (not editable) install: templates, migrations and profiles ship as package data.
RUN pip install --no-cache-dir . && useradd --create-home arrears && mkdir -p /app/var && chown arrears /app/var
USER arrears
EXPOSE 8080
CMD ["arrears", "serve", "--host", "0.0.0.0"]
