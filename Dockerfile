FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 STATIC_ROOT=/app/staticfiles
WORKDIR /app
COPY pyproject.toml README.md ./
COPY pmo pmo
COPY portfolio portfolio
COPY metrics metrics
COPY agents agents
COPY governance governance
RUN pip install --no-cache-dir .
COPY . .
RUN SECRET_KEY=build ALLOWED_HOSTS=build DATABASE_URL=postgresql://build@localhost/build \
    REDIS_URL=redis://localhost:6379/0 python manage.py collectstatic --no-input
RUN useradd --system pmo
USER pmo
EXPOSE 8000
CMD ["gunicorn", "pmo.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]
