"""The embedding model: the packaged MiniLM on CPU, or a hosted one that must give 384."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from langchain_core.embeddings import Embeddings

from agents.embeddings import (
    CheckedEmbeddings,
    LocalMiniLMEmbeddings,
    embeddings_from_spec,
    get_embeddings,
)


def test_default_is_the_packaged_minilm_loaded_once_per_process(settings, embedding_model):
    settings.PMO_EMBEDDINGS = "local:all-MiniLM-L6-v2"

    embeddings = get_embeddings()

    assert isinstance(embeddings, LocalMiniLMEmbeddings)
    assert embeddings is get_embeddings()
    assert embeddings.model is LocalMiniLMEmbeddings().model  # one model per process


def test_local_vectors_have_384_normalized_dimensions_and_batch(embedding_model):
    vectors = embedding_model.embed_documents(["vendor delay", "supplier slipped the delivery"])
    query = embedding_model.embed_query("vendor delay")

    assert [len(vector) for vector in vectors] == [384, 384]
    assert sum(value * value for value in vectors[0]) == pytest.approx(1.0, abs=1e-4)
    assert query == pytest.approx(vectors[0], abs=1e-5)
    assert embedding_model.embed_documents([]) == []


def test_meaning_not_words_makes_texts_close(embedding_model):
    delay, slipped, unrelated = (
        embedding_model.embed_query(text)
        for text in (
            "Risk: vendor delay on the payment terminals",
            "The supplier slipped the delivery of the card readers",
            "The design system adopts a dark theme",
        )
    )

    def cosine(a, b):
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert cosine(delay, slipped) > cosine(delay, unrelated) + 0.2


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("bert:base", "is not understood"),
        ("openai:", "needs a model name"),
        ("local:/nowhere/model", "no sentence-transformers model directory"),
    ],
)
def test_a_bad_setting_is_a_clear_configuration_error(spec, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        embeddings_from_spec(spec).embed_query("x")


def test_a_dimension_other_than_384_is_refused():
    with pytest.raises(ImproperlyConfigured, match="vector\\(384\\)"):
        embeddings_from_spec("openai:text-embedding-3-small", api_key="k", dimensions=1536)


def test_a_hosted_model_is_asked_for_384_dimensions(monkeypatch):
    embeddings = embeddings_from_spec(
        "openai:text-embedding-3-small", base_url="http://127.0.0.1:9/v1", api_key="test-key"
    )

    assert isinstance(embeddings, CheckedEmbeddings)
    assert embeddings.inner.model == "text-embedding-3-small"
    assert embeddings.inner.dimensions == 384


class _WrongSize(Embeddings):
    def embed_documents(self, texts):
        return [[0.0] * 1536 for _ in texts]

    def embed_query(self, text):
        return [0.0] * 1536


def test_a_hosted_model_returning_another_size_is_refused_with_the_setting_named():
    checked = CheckedEmbeddings(_WrongSize(), label="openai:text-embedding-3-large")

    with pytest.raises(ImproperlyConfigured, match="PMO_EMBEDDINGS=openai:text-embedding-3-large"):
        checked.embed_documents(["x"])
    with pytest.raises(ImproperlyConfigured, match="1536 dimensions"):
        checked.embed_query("x")
