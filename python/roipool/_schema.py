"""The attribute schema of every roipool op and alias node, read from ``libroipool_core``.

Torch-free (ctypes only), so ``roipool.runtime.ort`` can check models without torch.
Nothing here keeps a copy of the core's tables: op attributes come from
``roipool_op_attribute``, aliases (docs/mmdeploy.md) from ``roipool_alias_*``.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from roipool._libs import CORE_LIBRARY, find_library

if TYPE_CHECKING:
    import onnx

__all__ = ["Alias", "AliasAttribute", "aliases", "available", "check_node_attributes",
           "node_attributes"]

DOMAIN = "roipool"
TYPE_NAMES = ("int", "float", "string", "ints", "floats")
#: Attributes TensorRT's ONNX parser reads to find a plugin; every node may carry them.
LOOKUP_KEYS = frozenset({"plugin_namespace", "plugin_version"})
_NUM_OPS = 9


@dataclass(frozen=True)
class AliasAttribute:
    """One attribute of an alias: its name, ONNX type and whether it has a default."""

    name: str
    type: str
    required: bool


@dataclass(frozen=True)
class Alias:
    """An op of another toolkit that roipool's libraries serve (``roipool/aliases.h``)."""

    index: int
    name: str
    domains: tuple[str, ...]
    plugin_namespace: str
    plugin_version: str
    #: The roipool op (ONNX op_type) it runs.
    op_type: str
    max_inputs: int
    attributes: tuple[AliasAttribute, ...]


@functools.cache
def _library() -> ctypes.CDLL | None:
    path = find_library(CORE_LIBRARY)
    if path is None:
        return None
    lib = ctypes.CDLL(str(path))
    text, i32 = ctypes.c_char_p, ctypes.c_int32
    out_text, out_i32 = ctypes.POINTER(text), ctypes.POINTER(i32)
    lib.roipool_op_attribute.argtypes = [i32, i32, out_text, out_i32]
    lib.roipool_op_attribute.restype = i32
    lib.roipool_op_name.argtypes = [i32]
    lib.roipool_op_name.restype = text
    lib.roipool_alias_count.restype = i32
    lib.roipool_alias_info.argtypes = [i32, out_text, out_text, out_text, out_text, out_i32,
                                       out_i32]
    lib.roipool_alias_info.restype = i32
    lib.roipool_alias_attribute.argtypes = [i32, i32, out_text, out_i32, out_i32]
    lib.roipool_alias_attribute.restype = i32
    return lib


def available() -> bool:
    """Whether ``libroipool_core`` (and so the schema) was found."""
    return _library() is not None


def _require() -> ctypes.CDLL:
    lib = _library()
    if lib is None:
        raise RuntimeError(f"{CORE_LIBRARY} was not found; build roipool or set "
                           "ROIPOOL_LIBRARY_DIR")
    return lib


def _op_attributes(lib: ctypes.CDLL, op: int) -> Iterator[tuple[str, str]]:
    name, kind = ctypes.c_char_p(), ctypes.c_int32()
    index = 0
    while lib.roipool_op_attribute(op, index, ctypes.byref(name), ctypes.byref(kind)) == 0:
        yield name.value.decode(), TYPE_NAMES[kind.value]
        index += 1


@functools.cache
def aliases() -> tuple[Alias, ...]:
    """Every alias of the core's table, in table order."""
    lib = _require()
    text, i32 = ctypes.c_char_p, ctypes.c_int32
    table = []
    for index in range(lib.roipool_alias_count()):
        name, domains, namespace, version = text(), text(), text(), text()
        op, max_inputs = i32(), i32()
        lib.roipool_alias_info(index, ctypes.byref(name), ctypes.byref(domains),
                               ctypes.byref(namespace), ctypes.byref(version), ctypes.byref(op),
                               ctypes.byref(max_inputs))
        attributes = []
        attr_name, kind, has_default = text(), i32(), i32()
        while lib.roipool_alias_attribute(index, len(attributes), ctypes.byref(attr_name),
                                          ctypes.byref(kind), ctypes.byref(has_default)) == 0:
            attributes.append(AliasAttribute(attr_name.value.decode(), TYPE_NAMES[kind.value],
                                             not has_default.value))
        table.append(Alias(index, name.value.decode(), tuple(domains.value.decode().split(",")),
                           namespace.value.decode(), version.value.decode(),
                           lib.roipool_op_name(op.value).decode(), max_inputs.value,
                           tuple(attributes)))
    return tuple(table)


@functools.cache
def node_attributes() -> dict[tuple[str, str], frozenset[str]]:
    """``(domain, op_type) -> attribute names`` of every node roipool's libraries serve."""
    lib = _require()
    nodes = {(DOMAIN, lib.roipool_op_name(op).decode()):
             frozenset(name for name, _ in _op_attributes(lib, op)) for op in range(_NUM_OPS)}
    for alias in aliases():
        for domain in alias.domains:
            nodes[(domain, alias.name)] = frozenset(a.name for a in alias.attributes)
    return nodes


def check_node_attributes(model: onnx.ModelProto) -> None:
    """Raise ValueError naming the first attribute of a roipool or alias node (subgraphs
    included) that its op does not define (SPEC section 6; ``plugin_namespace`` and
    ``plugin_version`` excepted). The complete check ONNX Runtime's custom-op API leaves
    to the caller (docs/onnxruntime.md)."""
    known = node_attributes()
    pending = [model.graph]
    while pending:
        graph = pending.pop()
        for node in graph.node:
            names = known.get((node.domain, node.op_type))
            for attr in node.attribute:
                pending.extend([attr.g] if attr.HasField("g") else [])
                pending.extend(attr.graphs)
                if names is not None and attr.name not in names and attr.name not in LOOKUP_KEYS:
                    raise ValueError(f"node {node.name!r}: {node.op_type}: attribute "
                                     f"'{attr.name}' is not an attribute of this op")
