"""Fixtures of the agents tests. Shared by the runs and the memory tests: append, do not
rewrite."""

from __future__ import annotations

import pytest

# --- memory ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def embedding_model():
    """The real all-MiniLM-L6-v2, loaded once for the whole test session (seconds), warm."""
    from agents.embeddings import get_embeddings

    embeddings = get_embeddings()
    embeddings.embed_query("warm up")
    return embeddings
