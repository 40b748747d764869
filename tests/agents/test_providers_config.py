"""The provider chain's settings: a malformed value stops start-up with one line naming the
variable, never a traceback; the chain always ends with builtin, the default."""

from __future__ import annotations

import pytest

from tests.pmo.test_configuration import PRODUCTION, run_manage


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PMO_AGENT_PROVIDERS": "openai"}, "'openai' needs a model"),
        ({"PMO_AGENT_PROVIDERS": "builtin,openai:gpt-4o-mini"}, "builtin must be the last"),
        ({"PMO_AGENT_PROVIDERS": "Open AI:x"}, "is not a provider name"),
        ({"PMO_AGENT_PROVIDERS": "vllm:qwen"}, "set PMO_AGENT_VLLM_BASE_URL"),
        (
            {"PMO_AGENT_PROVIDERS": "vllm:qwen", "PMO_AGENT_VLLM_BASE_URL": "ftp://x"},
            "is not an http(s) URL",
        ),
        ({"PMO_AGENT_TIMEOUT_SECONDS": "soon"}, "PMO_AGENT_TIMEOUT_SECONDS='soon'"),
        ({"PMO_AGENT_MAX_ATTEMPTS": "0"}, "PMO_AGENT_MAX_ATTEMPTS=0 must be at least 1"),
        ({"PMO_AGENT_MONTHLY_COST": "lots"}, "PMO_AGENT_MONTHLY_COST='lots' is not a number"),
        ({"PMO_AGENT_PRICES": "gpt-4o=cheap"}, "is not model=input:output"),
        ({"PMO_AGENT_STRUCTURED_OUTPUT": "xml"}, "use one of json_schema"),
    ],
)
def test_a_malformed_agent_setting_is_a_clear_error(env, message):
    result = run_manage("check", **PRODUCTION, **env)

    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_private_openai_compatible_endpoint_is_accepted():
    env = {
        "PMO_AGENT_PROVIDERS": "cluster:qwen2.5-72b,ollama:llama3.1",
        "PMO_AGENT_CLUSTER_BASE_URL": "https://llm.internal.example.org/v1",
    }
    result = run_manage(
        "shell",
        "-c",
        "from django.conf import settings as s; print(s.AGENT_PROVIDERS, "
        "s.AGENT_ENDPOINTS['cluster']['base_url'], s.AGENT_ENDPOINTS['ollama']['base_url'])",
        **PRODUCTION,
        **env,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == (
        "[('cluster', 'qwen2.5-72b'), ('ollama', 'llama3.1'), ('builtin', '')] "
        "https://llm.internal.example.org/v1 http://127.0.0.1:11434/v1"
    )
