"""OTLP/HTTP trace payloads: decoding a request (protobuf or JSON, gzip or not) into
ReceivedSpan records, and encoding the answers, with the official opentelemetry-proto
messages.

OTLP/JSON is the protobuf JSON mapping with two differences the specification sets:
trace and span ids are hex strings, not base64, and unknown fields are ignored. The
decoder turns the ids into base64 before handing the document to protobuf's parser.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from resolvers.observed_calls import AttributeValue, ReceivedSpan

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
CONTENT_TYPES = (PROTOBUF, JSON)
_ID_FIELDS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")
_ID_BYTES = {"traceId": 16, "trace_id": 16}


class MalformedPayload(Exception):
    """The body is not an OTLP trace export request; the message says what is wrong."""


class UnsupportedEncoding(Exception):
    """A Content-Encoding other than gzip (or none)."""


class TooLarge(Exception):
    """The body, decompressed, is over the limit."""


def decompressed(body: bytes, encoding: str, limit: int) -> bytes:
    """`body` without its `gzip` Content-Encoding (none: as is), at most `limit` bytes."""
    if encoding in ("", "identity"):
        return body
    if encoding != "gzip":
        raise UnsupportedEncoding(f"Content-Encoding {encoding!r} is not supported: use gzip")
    inflater = zlib.decompressobj(wbits=31)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise MalformedPayload(f"the gzip body is corrupt: {exc}") from None
    if len(data) > limit:
        raise TooLarge
    if not inflater.eof:
        raise MalformedPayload("the gzip body is truncated")
    return data


def decode_request(body: bytes, content_type: str) -> ExportTraceServiceRequest:
    """The export request in `body`, encoded as `content_type` (one of CONTENT_TYPES)."""
    request = ExportTraceServiceRequest()
    if content_type == PROTOBUF:
        try:
            request.ParseFromString(body)
        except DecodeError as exc:
            raise MalformedPayload(f"the body is not an ExportTraceServiceRequest: {exc}") from None
        return request
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedPayload(f"the body is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise MalformedPayload("the body must be a JSON object with resourceSpans")
    try:
        json_format.ParseDict(_ids_as_base64(document), request, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError) as exc:
        raise MalformedPayload(f"the JSON is not an ExportTraceServiceRequest: {exc}") from None
    return request


def _ids_as_base64(value: Any, key: str = "") -> Any:
    """The document with every hex id (OTLP/JSON) in base64 (protobuf's JSON mapping)."""
    if isinstance(value, dict):
        return {name: _ids_as_base64(item, name) for name, item in value.items()}
    if isinstance(value, list):
        return [_ids_as_base64(item, key) for item in value]
    if key in _ID_FIELDS and isinstance(value, str):
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            raise MalformedPayload(f"{key} {value!r} is not hex") from None
        if value and len(raw) != _ID_BYTES.get(key, 8):
            raise MalformedPayload(f"{key} {value!r} has {len(raw)} bytes")
        return base64.b64encode(raw).decode()
    return value


def count_spans(request: ExportTraceServiceRequest) -> int:
    return sum(len(scope.spans) for rs in request.resource_spans for scope in rs.scope_spans)


def received_spans(request: ExportTraceServiceRequest) -> list[ReceivedSpan]:
    """Every span of the request with its resource's attributes, values as Python values."""
    spans = []
    for resource_spans in request.resource_spans:
        resource = attribute_dict(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                if len(span.trace_id) != 16 or len(span.span_id) != 8:
                    raise MalformedPayload("a span's traceId must be 16 bytes and spanId 8")
                spans.append(
                    ReceivedSpan(
                        trace_id=binascii.hexlify(span.trace_id).decode(),
                        span_id=binascii.hexlify(span.span_id).decode(),
                        name=span.name,
                        start_unix_nano=span.start_time_unix_nano,
                        end_unix_nano=span.end_time_unix_nano,
                        attributes=attribute_dict(span.attributes),
                        resource=resource,
                        events=[(e.name, attribute_dict(e.attributes)) for e in span.events],
                    )
                )
    return spans


def attribute_dict(attributes: Any) -> dict[str, AttributeValue]:
    """KeyValue list → {key: value}; the last value of a repeated key wins."""
    pairs: list[KeyValue] = list(attributes)
    return {pair.key: any_value(pair.value) for pair in pairs}


def any_value(value: AnyValue) -> AttributeValue:
    """An AnyValue as the Python value it holds (None when unset)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return attribute_dict(value.kvlist_value.values)
    return getattr(value, kind)


def export_response(rejected: int, message: str) -> ExportTraceServiceResponse:
    """The answer to an accepted request; partial_success only when there is news."""
    response = ExportTraceServiceResponse()
    if rejected or message:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message
    return response


def status_message(code: int, message: str) -> status_pb2.Status:
    """The google.rpc.Status OTLP/HTTP puts in the body of a 4xx or 5xx answer."""
    return status_pb2.Status(code=code, message=message)


def encode(message: Message, content_type: str) -> bytes:
    """`message` in the encoding of the request it answers."""
    if content_type == PROTOBUF:
        encoded: bytes = message.SerializeToString()
        return encoded
    return orjson.dumps(json_format.MessageToDict(message))
