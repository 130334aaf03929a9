"""Sage Intacct XML gateway client.

    from ml_connector.intacct import Credentials, IntacctClient, Query, ReadByQuery

    async with IntacctClient(credentials, engine=engine, vault=vault) as client:
        batch = client.batch()
        batches = batch.read_by_query("GLBATCH", "WHENMODIFIED >= '08/01/2026 00:00:00'")
        vendors = batch.query(Query("VENDOR", ["RECORDNO", "VENDORID", "ONHOLD"]))
        await batch.send()                       # one HTTP request, two functions
        async for entry in client.continue_read_by_query(batches.result()):
            ...                                  # one page in memory at a time

``parse_response(data)`` parses a gateway answer on its own (hardened, streaming).
"""

from ml_connector.intacct.client import (
    DEFAULT_GATEWAY,
    Batch,
    IntacctClient,
    Outcome,
    Pending,
    RetryPolicy,
)
from ml_connector.intacct.errors import (
    AuthenticationPermanentError,
    AuthenticationTransientError,
    ControlPermanentError,
    ControlRateLimitedError,
    ControlTransientError,
    ErrorDetail,
    FunctionPermanentError,
    FunctionRateLimitedError,
    FunctionTransientError,
    IntacctAuthenticationError,
    IntacctControlError,
    IntacctError,
    IntacctFunctionError,
    IntacctTransportError,
    MalformedResponseError,
    PagingError,
    TransportPermanentError,
    TransportRateLimitedError,
    TransportTransientError,
    TruncatedResponseError,
)
from ml_connector.intacct.parse import ResponseParser, iter_records, parse_response
from ml_connector.intacct.request import (
    And,
    Condition,
    Filter,
    Function,
    Or,
    Query,
    Read,
    ReadByQuery,
    ReadMore,
    all_of,
    any_of,
    between,
    equalto,
    greaterthan,
    greaterthanorequalto,
    in_,
    isnotnull,
    isnull,
    lessthan,
    lessthanorequalto,
    notequalto,
    notin,
    quote,
)
from ml_connector.intacct.response import Authentication, Control, Record, Response, Result
from ml_connector.intacct.session import Credentials
from ml_connector.intacct.slots import RequestSlots
from ml_connector.intacct.transport import IntacctTransport

__all__ = [
    "DEFAULT_GATEWAY",
    "And",
    "Authentication",
    "AuthenticationPermanentError",
    "AuthenticationTransientError",
    "Batch",
    "Condition",
    "Control",
    "ControlPermanentError",
    "ControlRateLimitedError",
    "ControlTransientError",
    "Credentials",
    "ErrorDetail",
    "Filter",
    "Function",
    "FunctionPermanentError",
    "FunctionRateLimitedError",
    "FunctionTransientError",
    "IntacctAuthenticationError",
    "IntacctClient",
    "IntacctControlError",
    "IntacctError",
    "IntacctFunctionError",
    "IntacctTransport",
    "IntacctTransportError",
    "MalformedResponseError",
    "Or",
    "Outcome",
    "PagingError",
    "Pending",
    "Query",
    "Read",
    "ReadByQuery",
    "ReadMore",
    "Record",
    "RequestSlots",
    "Response",
    "ResponseParser",
    "Result",
    "RetryPolicy",
    "TransportPermanentError",
    "TransportRateLimitedError",
    "TransportTransientError",
    "TruncatedResponseError",
    "all_of",
    "any_of",
    "between",
    "equalto",
    "greaterthan",
    "greaterthanorequalto",
    "in_",
    "isnotnull",
    "isnull",
    "iter_records",
    "lessthan",
    "lessthanorequalto",
    "notequalto",
    "notin",
    "parse_response",
    "quote",
]
