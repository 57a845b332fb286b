"""KServe v2 inference requests and responses over HTTP/REST, with Triton's binary tensor data extension.

A request body is JSON, or, with the ``Inference-Header-Content-Length: N`` header, N bytes of JSON followed by
the raw little-endian bytes of each input whose ``parameters.binary_data_size`` is set, in input order. An output
is returned as binary when the request asks for it (``outputs[i].parameters.binary_data``, or the request-level
``parameters.binary_data_output``); the response then carries the same header and layout.

Everything wrong with a body raises ``ProtocolError`` with a message naming the tensor and the problem (HTTP 400).
"""

from __future__ import annotations

import json
import math
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from serving.repository import KSERVE_TO_NUMPY, NUMPY_TO_KSERVE

HEADER_LENGTH = "Inference-Header-Content-Length"
# dtype objects hash fast, dtype.name builds a string each time: these lookups are on the per-request path
_WIRE_DTYPE = {k: np.dtype(v).newbyteorder("<") for k, v in KSERVE_TO_NUMPY.items()}
_DATATYPE_OF = {np.dtype(v): k for k, v in KSERVE_TO_NUMPY.items()}
JSON_TYPE = "application/json"
BINARY_TYPE = "application/octet-stream"


class ProtocolError(ValueError):
    """A malformed or inconsistent request (HTTP 400)."""


@dataclass(frozen=True)
class RequestedOutput:
    name: str
    binary: bool


@dataclass
class InferRequest:
    id: str | None
    inputs: dict[str, np.ndarray]
    outputs: list[RequestedOutput] | None  # None: every output, in the model's order
    binary_output: bool  # for outputs the request does not list
    timeout_us: int | None
    parameters: dict[str, Any]


def decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    """Undoes a request's Content-Encoding (gzip/deflate, as tritonclient sends), refusing more than ``limit``."""
    if not encoding or encoding == "identity":
        return body
    if encoding not in ("gzip", "deflate"):
        raise ProtocolError(f"unsupported Content-Encoding '{encoding}' (gzip, deflate)")
    d = zlib.decompressobj(wbits=31 if encoding == "gzip" else 15)
    try:
        out = d.decompress(body, limit + 1)
    except zlib.error as exc:
        raise ProtocolError(f"body is not valid {encoding} data: {exc}") from None
    if len(out) > limit:
        raise ProtocolError(f"decompressed body exceeds the {limit}-byte limit")
    if not d.eof:
        raise ProtocolError(f"{encoding} body is truncated")
    return out


def _parameters(where: str, obj: dict[str, Any]) -> dict[str, Any]:
    params = obj.get("parameters", {})
    if not isinstance(params, dict):
        raise ProtocolError(f"{where}: 'parameters' must be an object")
    return params


def _flag(where: str, params: dict[str, Any], key: str) -> bool:
    value = params.get(key, False)
    if not isinstance(value, bool):
        raise ProtocolError(f"{where}: parameter '{key}' must be true or false, got {value!r}")
    return value


def _shape(where: str, shape: Any) -> tuple[int, ...]:
    if not isinstance(shape, list) or any(isinstance(d, bool) or not isinstance(d, int) or d < 0 for d in shape):
        raise ProtocolError(f"{where}: 'shape' must be a list of non-negative integers, got {shape!r}")
    return tuple(shape)


def _header(raw: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"malformed request JSON: {exc}") from None
    except RecursionError:
        raise ProtocolError("malformed request JSON: nested too deeply") from None
    if not isinstance(doc, dict):
        raise ProtocolError("the request must be a JSON object")
    return doc


def decode_infer_request(body: bytes, header_length: str | None) -> InferRequest:
    """Parses an infer request body (JSON or JSON + binary tensors) into numpy arrays."""
    if header_length is None:
        json_end = len(body)
    else:
        try:
            json_end = int(header_length)
        except ValueError:
            raise ProtocolError(f"{HEADER_LENGTH} must be an integer, got {header_length!r}") from None
        if not 0 < json_end <= len(body):
            raise ProtocolError(f"{HEADER_LENGTH} is {json_end} but the body has {len(body)} bytes")
    doc = _header(body[:json_end])
    unknown = set(doc) - {"id", "inputs", "outputs", "parameters"}
    if unknown:
        raise ProtocolError(f"unknown request fields {sorted(unknown)}")
    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise ProtocolError("'id' must be a string")
    params = _parameters("request", doc)
    for unsupported in ("sequence_id", "priority"):
        if params.get(unsupported):
            raise ProtocolError(f"request parameter '{unsupported}' is not supported by this server")
    timeout = params.get("timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 0):
        raise ProtocolError(f"request parameter 'timeout' must be microseconds (an integer >= 0), got {timeout!r}")

    raw_inputs = doc.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise ProtocolError("'inputs' must be a non-empty list")
    view = memoryview(body)
    offset = json_end
    inputs: dict[str, np.ndarray] = {}
    for i, item in enumerate(raw_inputs):
        if not isinstance(item, dict):
            raise ProtocolError(f"inputs[{i}] must be an object")
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise ProtocolError(f"inputs[{i}]: 'name' must be a non-empty string")
        where = f"input '{name}'"
        if name in inputs:
            raise ProtocolError(f"{where} is given twice")
        datatype = item.get("datatype")
        if datatype == "BYTES":
            raise ProtocolError(f"{where}: datatype BYTES is not supported (engine models take numeric tensors)")
        if datatype not in KSERVE_TO_NUMPY:
            raise ProtocolError(f"{where}: unknown datatype {datatype!r} (one of {sorted(KSERVE_TO_NUMPY)})")
        dtype = _WIRE_DTYPE[datatype]
        shape = _shape(where, item.get("shape"))
        count = math.prod(shape)
        tparams = _parameters(where, item)
        if "shared_memory_region" in tparams:
            raise ProtocolError(f"{where}: shared memory is not supported by this server")
        size = tparams.get("binary_data_size")
        if size is not None:
            if header_length is None:
                raise ProtocolError(f"{where} has binary_data_size but the request has no {HEADER_LENGTH} header")
            if isinstance(size, bool) or not isinstance(size, int) or size < 0:
                raise ProtocolError(f"{where}: binary_data_size must be an integer >= 0, got {size!r}")
            if "data" in item:
                raise ProtocolError(f"{where} has both 'data' and binary_data_size")
            if size != count * dtype.itemsize:
                raise ProtocolError(f"{where}: binary_data_size {size} does not match shape {list(shape)} of "
                                    f"{datatype} ({count * dtype.itemsize} bytes)")
            if offset + size > len(body):
                raise ProtocolError(f"{where}: binary data truncated ({len(body) - offset} of {size} bytes left "
                                    f"in the body)")
            arr = np.frombuffer(view[offset:offset + size], dtype=dtype).reshape(shape)
            offset += size
        elif "data" in item:
            arr = _json_data(where, item["data"], dtype, datatype, count)
            arr = arr.reshape(shape)
        else:
            raise ProtocolError(f"{where} has neither 'data' nor parameters.binary_data_size")
        inputs[name] = arr
    if offset != len(body):
        raise ProtocolError(f"the body has {len(body) - offset} bytes after the last binary input (declared "
                            f"{offset - json_end} bytes of binary data)")

    outputs = None
    binary_default = _flag("request", params, "binary_data_output")
    if "outputs" in doc:
        raw_outputs = doc["outputs"]
        if not isinstance(raw_outputs, list):
            raise ProtocolError("'outputs' must be a list")
        outputs = []
        for j, item in enumerate(raw_outputs):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise ProtocolError(f"outputs[{j}] must be an object with a 'name'")
            oparams = _parameters(f"output '{item['name']}'", item)
            if oparams.get("classification"):
                raise ProtocolError(f"output '{item['name']}': the classification extension is not supported")
            binary = oparams.get("binary_data", binary_default)
            if not isinstance(binary, bool):
                raise ProtocolError(f"output '{item['name']}': binary_data must be true or false")
            outputs.append(RequestedOutput(item["name"], binary))
    return InferRequest(request_id, inputs, outputs, binary_default, timeout, params)


def _json_data(where: str, data: Any, dtype: np.dtype, datatype: str, count: int) -> np.ndarray:
    if not isinstance(data, list):
        data = [data]
    try:
        raw = np.array(data)  # numpy's own inference first: a cast would hide 1.5 -> 1 or 300 -> 44 (uint8)
    except (ValueError, TypeError, OverflowError) as exc:
        raise ProtocolError(f"{where}: 'data' is not a regular array of {datatype} values ({exc})") from None
    if raw.size != count:
        raise ProtocolError(f"{where}: 'data' has {raw.size} elements but shape needs {count}")
    if count == 0:
        return np.zeros(0, dtype=dtype)
    kind = raw.dtype.kind
    allowed = "b" if datatype == "BOOL" else "iu" if dtype.kind in "iu" else "iuf"
    if kind not in allowed:
        got = {"b": "booleans", "i": "integers", "u": "integers", "f": "floats"}.get(kind, "non-numbers")
        raise ProtocolError(f"{where}: 'data' holds {got}, not {datatype} values")
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        if raw.min() < info.min or raw.max() > info.max:
            raise ProtocolError(f"{where}: 'data' has values outside the {datatype} range")
    return raw.astype(dtype)


def encode_infer_response(model_name: str, model_version: int, request_id: str | None,
                          outputs: list[tuple[str, np.ndarray, bool]]) -> tuple[bytes, dict[str, str]]:
    """(body, headers) of an infer response; outputs are (name, array, as binary)."""
    doc: dict[str, Any] = {"model_name": model_name, "model_version": str(model_version)}
    if request_id is not None:
        doc["id"] = request_id
    tensors, blobs = [], []
    for name, arr, binary in outputs:
        datatype = _DATATYPE_OF.get(arr.dtype) or NUMPY_TO_KSERVE[arr.dtype.name]
        t: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(arr.shape)}
        if binary:
            # the wire is little-endian; a big-endian array (not made by the engine) is swapped first
            raw = (arr if arr.dtype.byteorder != ">" else arr.astype(arr.dtype.newbyteorder("<"))).tobytes()
            t["parameters"] = {"binary_data_size": len(raw)}
            blobs.append(raw)
        else:
            t["data"] = arr.ravel().tolist()
        tensors.append(t)
    doc["outputs"] = tensors
    head = json.dumps(doc, separators=(",", ":")).encode()
    if not blobs:
        return head, {"content-type": JSON_TYPE}
    return b"".join([head, *blobs]), {"content-type": BINARY_TYPE, HEADER_LENGTH: str(len(head))}
