"""The contract kit's own proof: a sample provider written as a third party would write it
passes the whole `ProviderContract`, and each kind of bug planted in it fails the check meant
for it (an assertion saying what is wrong, not an incidental crash)."""

from __future__ import annotations

import pytest
from modelport_test_support.contract_sample import LumenContract, contract_for

from modelport.testing import ProviderContract, known_failure


class TestLumenContract(LumenContract):
    """The sample provider, without bugs, passes every check."""


CONFIG, TOGETHER = "test_config_values_sent", "test_config_values_sent_together"

# variant, the contract tests it must fail, what their assertion says
BUGS: list[tuple[str, list[str], str]] = [
    # messages in the wrong order
    ("reversed-history", ["test_history_order"], "sent in the order"),
    ("system-last", ["test_history_order"], "system message is sent in the list of turns at"),
    # every turn sent with one role
    ("one-role", ["test_roles_sent"], "exchanged roles and the request stayed the same"),
    # a role's content dropped
    ("no-system", ["test_every_role_sent"], "the system message"),
    ("no-assistant-text", ["test_every_role_sent"], "the assistant message"),
    ("no-tool-results", ["test_every_role_sent"], "the tool message"),
    # tool calls in the assistant's history dropped
    ("no-history-tool-calls", ["test_tool_call_history_sent"], "tool call in the assistant's"),
    # tool definitions not sent
    ("no-tool-definitions", ["test_tool_definitions_sent"], "the tool 'get_weather'"),
    ("no-tool-parameters", ["test_tool_definitions_sent"], "parameter 'zq_place_name'"),
    # tool-call ids replaced, in the history and in the answer
    ("new-history-ids", ["test_tool_call_history_sent"], "zq81tc7k2"),
    ("new-answer-ids", ["test_tool_call_ids_returned"], "came back as"),
    # tool choice not expressed
    ("choice-ignored", ["test_tool_choice_expressed"], "'auto' and 'any' gave the same"),
    ("none-is-auto", ["test_tool_choice_expressed"], "'auto' and 'none' gave the same"),
    ("any-is-auto", ["test_tool_choice_expressed"], "'auto' and 'any' gave the same"),
    ("named-is-any", ["test_tool_choice_expressed"], "'any' and 'ToolFunction' gave the same"),
    # config values not sent, or not as given
    ("no-stop-seqs", ["test_config_values_sent"], r"\['zq-stop-7', 'zq-halt-9'\] not in the"),
    ("no-temperature", ["test_config_values_sent"], "temperature=0.37 is not"),
    ("no-max-tokens", ["test_config_values_sent"], "max_tokens=1234 is not"),
    ("no-top-p", ["test_config_values_sent"], "top_p=0.83 is not"),
    ("no-seed", [CONFIG, TOGETHER], r"seed=(918273|6178) is not in the request"),
    ("first-stop-only", [CONFIG, TOGETHER], r"\['zq-halt-9'\] not in the request"),
    ("stop-as-string", [CONFIG, TOGETHER], "not sent as a string of its own"),
    ("temperature-as-top-p", [TOGETHER], "in one call, temperature=0.42 is not in the request"),
    ("sampling-mixed-up", [TOGETHER], "temperature and top_p exchanged their values"),
    ("falsy-temperature", ["test_zero_temperature_sent"], "temperature=0 is not in the request"),
    # the wrong model name sent
    ("fixed-model-name", ["test_model_name_sent"], "the model name 'lumen-zq-7b'"),
    # answers misread
    ("budget-is-done", ["test_stop_reasons"], "stopped for 'max_tokens' was read as .*'stop'"),
    ("no-usage", ["test_usage"], r"usage \(12 input and 7 output tokens\) was lost"),
    ("server-error-is-empty", ["test_retry_on_server_error"], "a 500 was read as an answer"),
    # a malformed 200 read with KeyError/TypeError
    ("unchecked-answer", ["test_malformed_response"], "not InvalidResponseError"),
    # close() does nothing
    ("close-does-nothing", ["test_close_releases_connections"], "still holds 1 connection"),
    # read_timeout ignored, or not a model arg
    ("read-timeout-ignored", ["test_read_timeout"], "still waited on"),
    ("no-read-timeout-arg", ["test_read_timeout"], r"read_timeout=0.3\) failed: TypeError"),
    # a per-call max_connections above the default capped by the pool
    ("pool-from-build-config", ["test_max_connections_above_default"], "saw at most 10 "),
    # the call's timeout defeated (the cancellation swallowed)
    ("swallows-cancellation", ["test_timeout"], r"still waiting after 5.0s"),
    # no check for a missing key (the variable named once)
    ("no-key-check", ["test_missing_key_refused"], r"\(and \['LUMEN_API_KEY'\] unset\) the call"),
    # the key shown by repr()
    ("key-in-repr", ["test_no_key_in_repr"], r"the key is in repr\(model.api\)"),
    # images dropped
    ("no-images", ["test_images_sent"], "the image's data is not in the request"),
    # output.model empty
    ("no-model-in-output", ["test_output_names_the_model"], "output.model is empty"),
]


@pytest.mark.parametrize(("variant", "tests", "says"), BUGS, ids=[b[0] for b in BUGS])
def test_the_contract_catches_the_bug(variant: str, tests: list[str], says: str) -> None:
    contract = contract_for(variant)
    contract.test_text_generation()  # apart from its bug, the variant works
    for name in tests:
        with pytest.raises(AssertionError, match=says):
            getattr(contract, name)()


def test_a_field_declared_unsupported_is_not_checked() -> None:
    contract_for("declares-fewer-fields").test_config_values_sent()


def test_no_field_left_to_check_is_a_skip() -> None:
    for test in (CONFIG, TOGETHER, "test_zero_temperature_sent"):
        with pytest.raises(pytest.skip.Exception, match="supports none of"):
            getattr(contract_for("declares-no-sampling-fields"), test)()


def test_zero_temperature_is_not_checked_when_temperature_is_declared_unsupported() -> None:
    with pytest.raises(pytest.skip.Exception, match="does not honour temperature"):
        contract_for("declares-fewer-fields").test_zero_temperature_sent()
    contract_for("declares-fewer-fields").test_config_values_sent_together()


def test_a_provider_declaring_no_fields_is_checked_for_config_fields() -> None:
    """By default stop_seqs, temperature, max_tokens and top_p; what `config_fields` says."""
    contract_for("undeclared-no-seed").test_config_values_sent()
    contract_for("undeclared-no-seed").test_config_values_sent_together()
    basic = ProviderContract.config_fields
    contract = contract_for("undeclared-no-seed", config_fields=(*basic, "seed"))
    with pytest.raises(AssertionError, match="seed=918273 is not in the request"):
        contract.test_config_values_sent()
    for test in (CONFIG, TOGETHER, "test_zero_temperature_sent"):
        with pytest.raises(pytest.skip.Exception, match="config_fields is empty"):
            getattr(contract_for("undeclared-no-seed", config_fields=()), test)()


def test_a_model_name_sent_in_a_header_is_found() -> None:
    contract_for("model-name-in-header").test_model_name_sent()


def test_config_fields_the_contract_cannot_check_are_refused() -> None:
    contract = contract_for(config_fields=("temperature", "logit_bias"))
    with pytest.raises(ValueError, match="logit_bias"):
        contract.test_config_values_sent()


@pytest.mark.parametrize(
    ("flag", "test"),
    [
        ("supports_tools", "test_tool_calls"),
        ("supports_tools", "test_tool_call_history_sent"),
        ("supports_tools", "test_tool_definitions_sent"),
        ("supports_tools", "test_tool_choice_expressed"),
        ("returns_tool_call_ids", "test_tool_call_ids_returned"),
        ("reports_usage", "test_usage"),
        ("supports_images", "test_images_sent"),
        ("requires_key", "test_missing_key_refused"),
    ],
)
def test_a_declared_lack_is_a_skip_not_a_pass(flag: str, test: str) -> None:
    contract = contract_for(None, **{flag: False})
    with pytest.raises(pytest.skip.Exception, match=flag):
        getattr(contract, test)()


def test_history_without_tools_is_still_checked() -> None:
    contract_for(supports_tools=False).test_every_role_sent()
    contract_for(supports_tools=False).test_history_order()
    with pytest.raises(AssertionError, match="sent in the order"):
        contract_for("reversed-history", supports_tools=False).test_history_order()


def test_ids_are_not_checked_when_the_provider_sends_none() -> None:
    contract_for("new-history-ids", sends_tool_call_ids=False).test_tool_call_history_sent()


def test_known_failure_marks_a_copy() -> None:
    marked = known_failure(ProviderContract.test_read_timeout, "no read_timeout arg")
    assert marked is not ProviderContract.test_read_timeout
    assert not hasattr(ProviderContract.test_read_timeout, "pytestmark")
    [mark] = marked.pytestmark  # type: ignore[attr-defined]
    assert (mark.name, mark.kwargs) == ("xfail", {"strict": True, "reason": "no read_timeout arg"})
    assert marked.__name__ == "test_read_timeout"
