"""The `bedrock` provider for modelport: AWS Bedrock's Converse API.

`get_model("bedrock/<model-id>")` posts to
`https://bedrock-runtime.{region}.amazonaws.com/model/{model-id}/converse`, each request
signed with AWS Signature Version 4 from the usual AWS credentials (environment variables,
the shared credentials and config files, or `aws_credentials=`), or sent with a Bedrock API
key (`AWS_BEARER_TOKEN_BEDROCK`). No boto3 or botocore: SigV4 is done with the standard
library (`sign`), checked against AWS's test suite.
"""

from __future__ import annotations

from modelport import hookimpl
from modelport.hookspecs import RegisterModel

from ._api import BEDROCK, BEDROCK_SIGV4, CONFIG, ENV_VARS, BedrockAPI, encode_body
from ._credentials import AwsCredentials, find_credentials, find_region
from ._eventstream import EventStreamError, decode_events, decode_messages
from ._sigv4 import Credentials, sign
from ._wire import (
    STOP_REASONS,
    ConverseOptions,
    error_detail,
    family,
    from_wire,
    response_from_events,
    to_wire,
)

__version__ = "0.1.0"

__all__ = [
    "BEDROCK",
    "BEDROCK_SIGV4",
    "CONFIG",
    "ENV_VARS",
    "STOP_REASONS",
    "AwsCredentials",
    "BedrockAPI",
    "ConverseOptions",
    "Credentials",
    "EventStreamError",
    "decode_events",
    "decode_messages",
    "encode_body",
    "error_detail",
    "family",
    "find_credentials",
    "find_region",
    "from_wire",
    "register_models",
    "response_from_events",
    "sign",
    "to_wire",
]


@hookimpl
def register_models(register: RegisterModel) -> None:
    """Register the `bedrock` provider."""
    register("bedrock", BedrockAPI, env_vars=ENV_VARS, description=BEDROCK.description)
