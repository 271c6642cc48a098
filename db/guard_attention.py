"""Runs each layer's self-attention and GELU of the guard's encoder as one kernel each.

The exported MiniLM graph spells attention out in ~27 small operators per layer (views and
transposes of Q, K and V, the mask's Where, the scaled MatMul, Softmax, an IsNaN guard, the
MatMul by V and the transposes back) and the exact GELU in five (Div, Erf, Add, Mul, Mul).
On the short sentences the guard reads (10-40 word pieces) an operator costs more in
dispatch than in arithmetic, so these rewrites, made in memory after db/guard_int8.py's,
put onnxruntime's own fused kernels in their place (com.microsoft MultiHeadAttention, which
also adds the Q, K and V biases, and Gelu: what its transformer optimizer emits). Measured
on one core: 12, 19 and 62 word pieces in 1.34, 1.82 and 5.17 ms instead of 1.60, 2.12 and
6.42 ms. The products are the same but summed in another order, so a quantized activation
can round one step the other way: on bench/engine_golden.py's 1,993 texts
(`--numbers-may-move`) no decision, finding, rule or span changed and no number moved by
more than 0.02.

What the attention rewrite relies on, and why it holds: the encoder runs one unpadded
sentence at a time (db/guard_encoder.py), so the attention mask is all ones and its
additive term is zero; the graph scales Q and K by head_size^-1/4 each, which
MultiHeadAttention's default scale (head_size^-1/2) applies once.
"""

from __future__ import annotations

import re

import numpy as np
import onnx
from onnx import helper, numpy_helper

from db.guard_int8 import prune

NUM_HEADS = 12
_BIAS = re.compile(r"^inner\.encoder\.layer\.(\d+)\.attention\.self\.(query|key|value)\.bias$")
_OUTPUT_BIAS = "inner.encoder.layer.{}.attention.output.dense.bias"


def _producers(graph: onnx.GraphProto) -> dict[str, onnx.NodeProto]:
    return {output: node for node in graph.node for output in node.output}


def _consumers(graph: onnx.GraphProto) -> dict[str, list[onnx.NodeProto]]:
    found: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            found.setdefault(name, []).append(node)
    return found


def _attention_output(graph: onnx.GraphProto, layer: int) -> str:
    """The tensor the layer's output projection quantizes: the attention's result."""
    producers = _producers(graph)
    (add,) = [n for n in graph.node if n.op_type == "Add" and _OUTPUT_BIAS.format(layer) in n.input]
    product = producers[next(i for i in add.input if i != _OUTPUT_BIAS.format(layer))]
    integer = producers[producers[product.input[0]].input[0]]  # Mul <- Cast <- MatMulInteger
    quantize = producers[integer.input[0]]
    if integer.op_type != "MatMulInteger" or quantize.op_type != "DynamicQuantizeLinear":
        raise RuntimeError(f"model.onnx: layer {layer}'s output projection is not int8")
    return str(quantize.input[0])


def _between(graph: onnx.GraphProto, starts: set[str], end: str) -> list[onnx.NodeProto]:
    """The nodes on some path from a tensor in `starts` to `end`."""
    consumers, producers = _consumers(graph), _producers(graph)
    downstream: set[int] = set()
    frontier = list(starts)
    while frontier:
        for node in consumers.get(frontier.pop(), []):
            if id(node) not in downstream:
                downstream.add(id(node))
                frontier.extend(node.output)
    upstream: list[onnx.NodeProto] = []
    seen: set[int] = set()
    frontier = [end]
    while frontier:
        producer = producers.get(frontier.pop())
        if producer is None or id(producer) in seen or id(producer) not in downstream:
            continue
        seen.add(id(producer))
        upstream.append(producer)
        frontier.extend(producer.input)
    return upstream


def _read_outside(graph: onnx.GraphProto, span: list[onnx.NodeProto], end: str) -> bool:
    """Whether a tensor made inside `span`, other than `end`, is read by a node outside it."""
    inside = {id(node) for node in span}
    made = {output for node in span for output in node.output} - {end}
    consumers = _consumers(graph)
    outputs = {o.name for o in graph.output}
    return any(
        name in outputs or any(id(n) not in inside for n in consumers.get(name, []))
        for name in made
    )


def _constant(inits: dict[str, onnx.TensorProto], name: str) -> float | None:
    tensor = inits.get(name)
    if tensor is None:
        return None
    value = numpy_helper.to_array(tensor)
    return float(value) if value.size == 1 else None


def _gelu_input(
    node: onnx.NodeProto,
    producers: dict[str, onnx.NodeProto],
    readers: dict[str, int],
    inits: dict[str, onnx.TensorProto],
) -> tuple[str, list[onnx.NodeProto]] | None:
    """(x, the five nodes) when `node` ends x * (0.5 * (erf(x / sqrt 2) + 1)) and nothing
    else reads the four intermediate results, else None."""
    if node.op_type != "Mul":
        return None
    for x, rest in (node.input, reversed(node.input)):
        half = producers.get(rest)
        if half is None or half.op_type != "Mul":
            continue
        constants = [_constant(inits, name) for name in half.input]
        plus = producers.get(next((n for n in half.input if n not in inits), ""))
        if 0.5 not in constants or plus is None or plus.op_type != "Add":
            continue
        erf = producers.get(next((n for n in plus.input if n not in inits), ""))
        if 1.0 not in [_constant(inits, n) for n in plus.input] or erf is None:
            continue
        div = producers.get(erf.input[0]) if erf.op_type == "Erf" else None
        if div is None or div.op_type != "Div" or div.input[0] != x:
            continue
        if not np.isclose(_constant(inits, div.input[1]) or 0.0, np.sqrt(2.0)):
            continue
        span = [div, erf, plus, half, node]
        if all(readers.get(n.output[0], 0) == 1 for n in span[:-1]):
            return x, span
    return None


def fuse_gelu(model: onnx.ModelProto) -> None:
    """Replace each exact-erf GELU spelled in five operators by com.microsoft's Gelu, in place."""
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    producers = _producers(graph)
    readers = {name: len(nodes) for name, nodes in _consumers(graph).items()}
    for output in graph.output:  # read by whoever runs the graph
        readers[output.name] = readers.get(output.name, 0) + 1
    replaced: dict[int, onnx.NodeProto | None] = {}
    for node in graph.node:
        found = _gelu_input(node, producers, readers, inits)
        if found is None:
            continue
        x, span = found
        for part in span:
            replaced[id(part)] = None
        replaced[id(node)] = helper.make_node(
            "Gelu", [x], [node.output[0]], name=f"{node.name}_fused", domain="com.microsoft"
        )
    kept = [replaced.get(id(n), n) for n in graph.node]
    del graph.node[:]
    graph.node.extend(n for n in kept if n is not None)
    prune(graph)


def fuse_attention(model: onnx.ModelProto) -> None:
    """Replace each layer's attention subgraph by one MultiHeadAttention node, in place."""
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    projections: dict[int, dict[str, onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input if node.op_type == "Add" else ():
            if match := _BIAS.match(name):
                projections.setdefault(int(match[1]), {})[match[2]] = node
    if not projections:
        raise RuntimeError("model.onnx: no self-attention projections found")
    for layer, adds in sorted(projections.items()):
        if set(adds) != {"query", "key", "value"}:
            raise RuntimeError(f"model.onnx: layer {layer} lacks a Q, K or V projection")
        end = _attention_output(graph, layer)
        starts = {adds[part].output[0] for part in ("query", "key", "value")}
        span = _between(graph, starts, end) + list(adds.values())
        if _read_outside(graph, span, end):
            raise RuntimeError(f"model.onnx: layer {layer}'s attention has outside readers")
        inputs, biases = [], []
        for part in ("query", "key", "value"):
            bias = next(i for i in adds[part].input if i in inits)
            inputs.append(next(i for i in adds[part].input if i != bias))
            biases.append(numpy_helper.to_array(inits[bias]).astype(np.float32))
        packed = numpy_helper.from_array(np.concatenate(biases), f"layer{layer}_qkv_bias")
        graph.initializer.append(packed)
        fused = helper.make_node(
            "MultiHeadAttention",
            [*inputs, packed.name],
            [end],
            name=f"layer{layer}_attention",
            domain="com.microsoft",
            num_heads=NUM_HEADS,
        )
        removed = {id(node) for node in span}
        kept = []
        for node in graph.node:  # the fused node where the span's last node was
            if id(node) not in removed:
                kept.append(node)
            elif end in node.output:
                kept.append(fused)
        del graph.node[:]
        graph.node.extend(kept)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    prune(graph)
