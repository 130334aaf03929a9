from collections.abc import Callable, Mapping

from lxml import etree

from ml_connector.intacct.gateway.objects import Converter
from ml_connector.intacct.gateway.response import Record

def take_records(
    data: etree._Element,
    count: int,
    sink: list[Record],
    converters_for: Callable[[str], Mapping[str, Converter]],
    fallback: Callable[[etree._Element], Record],
) -> None: ...
