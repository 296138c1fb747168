# The lossatlas image: engine, server, viewer (with three.js) and Ray; one image for every service of
# docker-compose.yml. TORCH_INDEX picks torch's build: CPU (default) or, for GPU workers, the CUDA 13.0 one
# (that of the torch pinned in constraints.txt; a driver of CUDA 13 needed):
#   docker build --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu130 -t lossatlas:gpu .

# three.js for the viewer and Swagger UI for /docs, exactly as pinned in frontend/package-lock.json
FROM node:22-slim AS viewer
WORKDIR /viewer
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts

FROM python:3.11-slim
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml constraints.txt README.md LICENSE ./
COPY workers ./workers
COPY server ./server
# The versions pinned in constraints.txt (those `make` installs and tests), less torch's CUDA libraries:
# those of the build TORCH_INDEX gives come with it.
RUN grep -vE '^(nvidia-|cuda-|triton==)' constraints.txt > /tmp/constraints.txt \
    && pip install --no-cache-dir -c /tmp/constraints.txt --extra-index-url "${TORCH_INDEX}" -e '.[ray]' \
    && rm /tmp/constraints.txt
COPY frontend ./frontend
COPY --from=viewer /viewer/node_modules ./frontend/node_modules
COPY precomputed ./precomputed
EXPOSE 8000 6379
CMD ["lossatlas", "serve", "--host", "0.0.0.0"]
