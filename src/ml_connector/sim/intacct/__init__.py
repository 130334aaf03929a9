"""A strict simulator of the Sage Intacct XML gateway (API 3.0), for tests, benchmarks and demos.

    async with IntacctSimulator(seed=1, gl_entries=25_000) as sim:
        sim.url                 # http://127.0.0.1:PORT/ia/xml/xmlgw.phtml
        sim.credentials         # sender id/password, company id, user id/password it accepts
        sim.faults.add("gw_0010", count=1)
        sim.expire_sessions()
        sim.data.add_day(when=..., unbalanced_batches=1, declined_payments=1)

It checks what the real gateway checks (control block, DTD order, sender, login or session,
function arguments, page sizes, per-company concurrency) and fails the way the real gateway
fails: errors inside HTTP 200 at control, authentication or function level, HTTP 429 GW-0010,
HTML error pages. Sources are cited in each module; where the research found no source, the
simulator takes the stricter reading and says so beside the code. ``strict=True`` (the default)
also checks the DTD order inside readByQuery and read and caps read at 100 keys; ``sim.refused``
counts what was refused. docs/simulators.md lists what is and is not modelled.
"""

from ml_connector.sim.intacct.dataset import Dataset, DaySummary, Entity
from ml_connector.sim.intacct.faults import FAULT_KINDS, Fault, FaultKind, Faults
from ml_connector.sim.intacct.objects import SCHEMAS, FieldType, ObjectSchema, Record
from ml_connector.sim.intacct.server import GATEWAY_PATH, IntacctSimulator
from ml_connector.sim.intacct.sessions import Credentials

__all__ = [
    "FAULT_KINDS",
    "GATEWAY_PATH",
    "SCHEMAS",
    "Credentials",
    "Dataset",
    "DaySummary",
    "Entity",
    "Fault",
    "FaultKind",
    "Faults",
    "FieldType",
    "IntacctSimulator",
    "ObjectSchema",
    "Record",
]
