"""The provider chain: each configured language model in turn (LangChain chat models), then the
builtin analyst, until one answer passes the guardrails.

Configuration (pmo/settings.py, "Agents"): PMO_AGENT_PROVIDERS lists the links in order,
`name:model`, e.g. "openai:gpt-4o-mini,ollama:llama3.1,builtin". Every name but `anthropic`
is reached through the OpenAI-compatible chat API with langchain-openai's ChatOpenAI:
`openai` at api.openai.com unless PMO_AGENT_OPENAI_BASE_URL says otherwise (a vLLM server, a
private model cluster, any gateway), `ollama` at Ollama's OpenAI-compatible endpoint
(http://127.0.0.1:11434/v1 unless PMO_AGENT_OLLAMA_BASE_URL), any other name at its
PMO_AGENT_<NAME>_BASE_URL. So one installed package covers them all; `anthropic` works when
langchain-anthropic is installed (it is not a dependency). Keys: PMO_AGENT_<NAME>_API_KEY or
<NAME>_API_KEY.

For each link, in order:
1. data sovereignty: governance.policies.provider_allowed(portfolio, provider); a blocked
   provider never sees the data (outcome blocked_by_policy);
2. budget: this month's usage plus the call's estimate must fit (outcome over_budget);
3. the call: structured output into agents.schemas.AgentOutput, no tools bound (the model
   cannot change anything), PMO_AGENT_TIMEOUT_SECONDS per call, no client retries (the
   chain is the retry); a timeout, an HTTP or connection error, or an answer that is not
   the schema hands off to the next link (timeout, error, invalid_output);
4. the guardrails (agents.guardrails) and the provider policy again on the result
   (rejected_by_guardrail, blocked_by_policy);
5. the first answer that passes is used (outcome used).
Every attempt is recorded in run.providers_tried, with its tokens and seconds; the run is
degraded, with the reasons, when the answer is not the first link's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import F
from django.utils import timezone
from pydantic import ValidationError as PydanticValidationError

from agents import budget, builtin, guardrails, prompts
from agents.facts import RunContext
from agents.models import AgentRun
from agents.schemas import AgentOutput
from governance.models import PolicyKind
from governance.policies import Outcome, provider_allowed
from governance.selectors import policy_list

BUILTIN = "builtin"


class ProviderUnavailable(Exception):
    """The provider cannot be called from this installation (package or key missing)."""


@dataclass
class ChainOutcome:
    output: AgentOutput
    provider: str
    model: str
    attempts: list[dict[str, Any]]
    degraded_reason: str
    input_tokens: int = 0
    output_tokens: int = 0
    cost: Decimal = Decimal(0)
    policy_verdicts: list[dict[str, Any]] = field(default_factory=list)


def chain_links() -> list[tuple[str, str]]:
    """The configured links, builtin last (settings guarantee it)."""
    return [(name, model) for name, model in settings.AGENT_PROVIDERS]


def chat_model(provider: str, model: str) -> Any:
    """The LangChain chat model of a link."""
    endpoint = settings.AGENT_ENDPOINTS.get(provider, {})
    api_key = endpoint.get("api_key")
    if provider == "anthropic":
        try:
            from langchain_anthropic import ChatAnthropic  # type: ignore[import-not-found]
        except ImportError:
            raise ProviderUnavailable(
                "the anthropic provider needs the langchain-anthropic package"
            ) from None
        if not api_key:
            raise ProviderUnavailable("no API key: set PMO_AGENT_ANTHROPIC_API_KEY")
        return ChatAnthropic(
            model=model,
            api_key=api_key,
            timeout=settings.AGENT_TIMEOUT_SECONDS,
            max_retries=0,
            max_tokens=settings.AGENT_MAX_OUTPUT_TOKENS,
        )
    from langchain_openai import ChatOpenAI

    base_url = endpoint.get("base_url")
    if not api_key:
        if provider == "openai" and base_url is None:
            raise ProviderUnavailable("no API key: set PMO_AGENT_OPENAI_API_KEY")
        api_key = "unused"  # local OpenAI-compatible servers (Ollama, vLLM) ignore it
    return ChatOpenAI(
        model=model,
        base_url=base_url,
        api_key=api_key,
        timeout=settings.AGENT_TIMEOUT_SECONDS,
        max_retries=0,
        max_tokens=settings.AGENT_MAX_OUTPUT_TOKENS,
    )


OUTPUT_SCHEMA = AgentOutput.model_json_schema()


def _structured(chat: Any) -> Any:
    """The chat model bound to the output schema. The schema goes as JSON Schema (not the
    pydantic class), so LangChain parses the JSON and agents.schemas validates it here: a
    reply that is not JSON and one that is not the schema are told apart, and `include_raw`
    keeps the raw message (its token usage) either way."""
    return chat.with_structured_output(
        OUTPUT_SCHEMA, method=settings.AGENT_STRUCTURED_OUTPUT, include_raw=True
    )


def _is_timeout(error: BaseException) -> bool:
    import httpx
    import openai

    return isinstance(error, openai.APITimeoutError | httpx.TimeoutException | TimeoutError)


def _error_text(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}"[:300] if text else type(error).__name__


@dataclass
class _Attempt:
    provider: str
    model: str
    outcome: str = ""
    reason: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    seconds: float = 0.0
    cost: Decimal = Decimal(0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "model": self.model,
            "outcome": self.outcome,
            "reason": self.reason,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "seconds": round(self.seconds, 3),
            "cost": str(self.cost),
        }


def _usage(raw: Any) -> tuple[int, int]:
    metadata = getattr(raw, "usage_metadata", None) or {}
    return int(metadata.get("input_tokens") or 0), int(metadata.get("output_tokens") or 0)


def _call(attempt: _Attempt, context: RunContext, messages: list[Any]) -> AgentOutput | None:
    """One model call; fills the attempt's outcome, tokens and seconds. The output, or None."""
    started = time.monotonic()
    try:
        runnable = _structured(chat_model(attempt.provider, attempt.model))
        answer = runnable.invoke(messages)
    except ProviderUnavailable as error:
        attempt.outcome, attempt.reason = "error", str(error)
        return None
    except Exception as error:
        attempt.outcome = "timeout" if _is_timeout(error) else "error"
        attempt.reason = (
            f"no answer within {settings.AGENT_TIMEOUT_SECONDS} s"
            if attempt.outcome == "timeout"
            else _error_text(error)
        )
        return None
    finally:
        attempt.seconds = time.monotonic() - started
    attempt.input_tokens, attempt.output_tokens = _usage(answer.get("raw"))
    attempt.cost = budget.cost_of(
        model=attempt.model,
        input_tokens=attempt.input_tokens,
        output_tokens=attempt.output_tokens,
    )
    parsed, error = answer.get("parsed"), answer.get("parsing_error")
    if parsed is None:
        attempt.outcome = "invalid_output"
        attempt.reason = f"not JSON: {_error_text(error)}" if error else "no structured answer"
        attempt.reason = attempt.reason[:500]
        return None
    try:
        return AgentOutput.model_validate(parsed)
    except PydanticValidationError as invalid:
        attempt.outcome = "invalid_output"
        details = "; ".join(
            f"{'.'.join(str(part) for part in e['loc']) or 'answer'}: {e['msg']}"
            for e in invalid.errors()[:3]
        )
        attempt.reason = f"not the schema ({invalid.error_count()} errors): {details}"[:500]
        return None


def _record_usage(run: AgentRun, attempt: _Attempt) -> None:
    """Add an attempt's tokens and cost to the run now, so the budget counts them even if the
    run is interrupted later."""
    if attempt.input_tokens or attempt.output_tokens or attempt.cost:
        AgentRun.objects.filter(pk=run.pk).update(
            input_tokens=F("input_tokens") + attempt.input_tokens,
            output_tokens=F("output_tokens") + attempt.output_tokens,
            cost=F("cost") + attempt.cost,
        )


def _confidence_verdicts(
    context: RunContext, portfolio: Any, confidence: float
) -> list[dict[str, Any]]:
    """The portfolio's confidence floor applied to the result (a recommendation is evaluated
    again by governance when proposed)."""
    verdicts = []
    floors = policy_list(user=context.reader, portfolio=portfolio).filter(
        kind=PolicyKind.CONFIDENCE_FLOOR, active=True
    )
    for policy in floors:
        minimum = Decimal(policy.parameters["minimum"])
        stated = Decimal(str(round(confidence, 3)))
        below = stated < minimum
        verdicts.append(
            {
                "policy_id": policy.pk,
                "kind": policy.kind,
                "outcome": Outcome.NEEDS_SECOND_REVIEW if below else Outcome.PASS,
                "reason": (
                    f"Confidence {stated} is below the floor of {minimum}: treat as advisory; "
                    "a recommendation needs two approvers."
                    if below
                    else f"Confidence {stated} meets the floor {minimum}."
                ),
                "field": "",
            }
        )
    return verdicts


def run_provider_chain(*, run: AgentRun, context: RunContext, progress: Any) -> ChainOutcome:
    """Try each link until one answer passes; builtin always does."""
    links = chain_links()
    attempts: list[_Attempt] = []
    verdicts: list[dict[str, Any]] = []
    messages = prompts.run_messages(kind=run.kind, data=context.data)
    prompt_characters = sum(len(str(message.content)) for message in messages)
    output: AgentOutput | None = None
    for provider, model in links:
        attempt = _Attempt(provider=provider, model=model)
        attempts.append(attempt)
        if provider == BUILTIN:
            progress.start("provider", label="Writing the narrative with the builtin analyst")
            started = time.monotonic()
            output = builtin.builtin_output(context.snapshot, context.facts)
            attempt.seconds = time.monotonic() - started
            progress.done("provider", "builtin analyst (no model)")
            progress.start("validate")
            # The builtin analyst passes the guardrails by construction; a failure is a bug.
            guardrails.output_validate(
                output, kind=run.kind, data=context.data, facts=context.facts
            )
            attempt.outcome = "used"
            break
        progress.start("provider", label=f"Asking {provider} ({model})")
        verdict = provider_allowed(portfolio=run.portfolio, provider=provider)
        verdicts.append(verdict.as_dict())
        if verdict.outcome == Outcome.BLOCK:
            attempt.outcome, attempt.reason = "blocked_by_policy", verdict.reason
            continue
        status = budget.budget_status(portfolio=run.portfolio, now=timezone.now())
        estimate = budget.tokens_estimate(prompt_characters)
        estimated_cost = budget.cost_of(
            model=model, input_tokens=estimate, output_tokens=settings.AGENT_MAX_OUTPUT_TOKENS
        )
        if not status.allows(tokens=estimate, cost=estimated_cost):
            attempt.outcome = "over_budget"
            attempt.reason = f"monthly budget exhausted ({status.describe()})"
            continue
        candidate = _call(attempt, context, messages)
        _record_usage(run, attempt)
        if candidate is None:
            continue
        progress.start("validate")
        try:
            guardrails.output_validate(
                candidate, kind=run.kind, data=context.data, facts=context.facts
            )
        except guardrails.OutputRejected as rejection:
            attempt.outcome = "rejected_by_guardrail"
            attempt.reason = str(rejection)[:500]
            progress.failed("validate", f"{provider}: {attempt.reason}")
            continue
        after = provider_allowed(portfolio=run.portfolio, provider=provider)
        if after.outcome == Outcome.BLOCK:
            attempt.outcome, attempt.reason = "blocked_by_policy", after.reason
            continue
        output = candidate
        attempt.outcome = "used"
        progress.done("provider", f"{provider} ({model})")
        break
    assert output is not None  # builtin is always last
    output = guardrails.output_finalize(output, kind=run.kind, facts=context.facts)
    progress.done("validate", "every id and number matches the snapshot")
    used = attempts[-1]
    handed_off = [a for a in attempts if a.outcome != "used"]
    degraded = "; ".join(
        f"{a.provider} ({a.model}): {a.outcome.replace('_', ' ')}"
        + (f" - {a.reason}" if a.reason else "")
        for a in handed_off
    )
    return ChainOutcome(
        output=output,
        provider=used.provider,
        model=used.model,
        attempts=[a.as_dict() for a in attempts],
        degraded_reason=degraded[:4000],
        input_tokens=sum(a.input_tokens for a in attempts),
        output_tokens=sum(a.output_tokens for a in attempts),
        cost=sum((a.cost for a in attempts), Decimal(0)),
        policy_verdicts=verdicts + _confidence_verdicts(context, run.portfolio, output.confidence),
    )
