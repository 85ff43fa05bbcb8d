"""Plain data across the sandbox's trust boundary (see sandbox.py).

The candidate program and the trusted test runner live in separate processes
and exchange only messages of this module: length-prefixed JSON in which
every value is tagged with its exact builtin type. Decoding builds values of
exactly those types (never a subclass, never an object with its own
`__eq__`), so whatever the trusted side compares is plain data it built
itself.

Standalone on purpose (standard library only): it is copied into both
sandboxes, which see nothing of the project.
"""

import json
import os

# The builtins this side uses, bound before the program runs: a program that
# patches the builtins module (legal, if odd) must not break its own answers.
from builtins import (  # fmt: skip
    bytearray,
    bytes,
    complex,
    dict,
    float,
    format,
    frozenset,
    int,
    len,
    list,
    set,
    str,
    tuple,
    type,
)

MAX_MESSAGE_BYTES = 64 << 20  # one message; larger is a protocol error
MAX_DEPTH = 100  # nesting of containers

# Tags of the encoding: exact type -> one-letter key of a single-key object.
# None, True and False are JSON's own null/true/false; str is a JSON string.
_SCALARS = {int: "i", float: "f", complex: "c", bytes: "b", bytearray: "a"}
_CONTAINERS = {list: "l", tuple: "t", set: "s", frozenset: "z", dict: "d"}


class WireError(Exception):
    """A message that is not well-formed plain data."""


def encode(value, depth=0):
    """A JSON-able form of `value`; TypeError if it is not exactly plain data."""
    if depth > MAX_DEPTH:
        raise ValueError("plain data nested too deeply")
    kind = type(value)
    if value is None or kind is bool or kind is str:
        return value
    if kind is int:
        return {"i": format(value, "x")}  # hex: no limit on digits, unlike str(int)
    if kind is float:
        return {"f": value.hex()}
    if kind is complex:
        return {"c": [value.real.hex(), value.imag.hex()]}
    if kind is bytes or kind is bytearray:
        return {_SCALARS[kind]: value.hex()}
    if kind is dict:
        return {"d": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in value.items()]}
    if kind in _CONTAINERS:
        return {_CONTAINERS[kind]: [encode(item, depth + 1) for item in value]}
    raise TypeError(f"{kind.__name__} is not plain data")


def decode(data, depth=0):
    """The value `data` encodes, built from exact builtin types; WireError otherwise."""
    if depth > MAX_DEPTH:
        raise WireError("nested too deeply")
    if data is None or data is True or data is False or type(data) is str:
        return data
    if type(data) is not dict or len(data) != 1:
        raise WireError(f"untagged {type(data).__name__}")
    ((tag, body),) = data.items()
    try:
        if tag == "i" and type(body) is str:
            return int(body, 16)
        if tag == "f" and type(body) is str:
            return float.fromhex(body)
        if tag == "c" and type(body) is list and len(body) == 2:
            return complex(float.fromhex(body[0]), float.fromhex(body[1]))
        if tag in ("b", "a") and type(body) is str:
            raw = bytes.fromhex(body)
            return raw if tag == "b" else bytearray(raw)
        if type(body) is not list:
            raise WireError(f"tag {tag!r} with a {type(body).__name__}")
        if tag == "d":
            out = {}
            for pair in body:
                if type(pair) is not list or len(pair) != 2:
                    raise WireError("dict item is not a pair")
                out[decode(pair[0], depth + 1)] = decode(pair[1], depth + 1)
            return out
        items = [decode(item, depth + 1) for item in body]
        if tag == "l":
            return items
        if tag == "t":
            return tuple(items)
        if tag == "s":
            return set(items)
        if tag == "z":
            return frozenset(items)
    except WireError:
        raise
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise WireError(f"bad {tag!r} value: {type(exc).__name__}") from None
    raise WireError(f"unknown tag {tag!r}")


def send(fd, message):
    """Write one message (a JSON-able dict) to `fd`."""
    payload = json.dumps(message, ensure_ascii=True, separators=(",", ":")).encode("ascii")
    if len(payload) > MAX_MESSAGE_BYTES:
        raise ValueError(f"message of {len(payload)} bytes is over {MAX_MESSAGE_BYTES}")
    data = len(payload).to_bytes(8, "big") + payload
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_exact(fd, size):
    chunks = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            raise EOFError("the other side closed the channel")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def receive(fd):
    """Read one message from `fd`: a dict; EOFError when closed, WireError when malformed."""
    size = int.from_bytes(_read_exact(fd, 8), "big")
    if size > MAX_MESSAGE_BYTES:
        raise WireError(f"message of {size} bytes is over {MAX_MESSAGE_BYTES}")
    try:
        message = json.loads(_read_exact(fd, size))
    except (ValueError, RecursionError) as exc:
        raise WireError(f"not JSON: {type(exc).__name__}") from None
    if type(message) is not dict:
        raise WireError("a message must be an object")
    return message
