"""The Sage Intacct XML gateway client: requests, hardened streaming parsing, sessions, retries.

Reusable on its own: nothing here imports the Intacct pipeline (``ml_connector.intacct``),
Slack or delivery. Callers use the names re-exported below, never the modules behind them::

    from ml_connector.intacct.gateway import Credentials, IntacctClient, Query, ReadByQuery

    async with IntacctClient(credentials, engine=engine, vault=vault) as client:
        batch = client.batch()
        batches = batch.read_by_query("GLBATCH", "WHENMODIFIED >= '08/01/2026 00:00:00'")
        vendors = batch.query(Query("VENDOR", ["RECORDNO", "VENDORID", "ONHOLD"]))
        await batch.send()                       # one HTTP request, two functions
        async for entry in client.continue_read_by_query(batches.result()):
            ...                                  # one page in memory at a time

``parse_response(data)`` parses a gateway answer on its own (hardened, streaming).

Inside, each module imports only the ones below it (a module never imports this package,
which re-exports them all): objects, errors, metrics → response → records (+ the compiled
``_records``) → parse → request → request_slots → transport → session → client.

Exceptions (errors.py says which Intacct level each one is; in brackets the class of the one
tree in :mod:`ml_connector.errors` that says retry or report)::

    IntacctError (ExternalError)
    ├── IntacctControlError
    │   ├── ControlPermanentError        (PermanentError)
    │   ├── ControlTransientError        (TransientError)
    │   └── ControlRateLimitedError      (RateLimitedError)
    ├── IntacctAuthenticationError
    │   ├── AuthenticationPermanentError (CredentialsError)
    │   └── AuthenticationTransientError (TransientError)
    ├── IntacctFunctionError
    │   ├── FunctionPermanentError       (PermanentError)
    │   ├── FunctionTransientError       (TransientError)
    │   ├── FunctionRateLimitedError     (RateLimitedError)
    │   └── PagingError                  (PermanentError)
    └── IntacctTransportError
        ├── TransportTransientError      (TransientError)
        │   └── TruncatedResponseError
        ├── TransportRateLimitedError    (RateLimitedError)
        └── TransportPermanentError      (PermanentError)
            └── MalformedResponseError

A record whose amount is out of bounds arrives as a ``RejectedRecord`` (a ``Record`` that
says which field and why), not as an exception: one bad record does not fail a page.
"""

from ml_connector.intacct.gateway.client import (
    DEFAULT_GATEWAY,
    Batch,
    IntacctClient,
    Outcome,
    Pending,
    RetryPolicy,
)
from ml_connector.intacct.gateway.errors import (
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
from ml_connector.intacct.gateway.parse import ResponseParser, iter_records, parse_response
from ml_connector.intacct.gateway.records import RejectedRecord
from ml_connector.intacct.gateway.request import (
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
from ml_connector.intacct.gateway.request_slots import RequestSlots
from ml_connector.intacct.gateway.response import Authentication, Control, Record, Response, Result
from ml_connector.intacct.gateway.session import Credentials
from ml_connector.intacct.gateway.transport import IntacctTransport

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
    "RejectedRecord",
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
