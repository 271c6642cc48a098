"""Attention and GELU as fused kernels (db/guard_attention.py), against the int8 graph unfused."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from db.guard_attention import fuse_attention, fuse_gelu
from db.guard_encoder import MiniLMEncoder, model_file
from db.guard_int8 import int8_model

from .test_guard_int8 import SENTENCES, _session
from .test_semantic_model import GUARD

LONG = " ".join(["The rollout waits for the error rates to settle before the writes move."] * 6)


def _ops(model: onnx.ModelProto) -> list[str]:
    return [n.op_type for n in model.graph.node]


def test_each_layer_runs_one_attention_and_one_gelu_kernel() -> None:
    model = int8_model(model_file().read_bytes())
    fuse_attention(model)
    fuse_gelu(model)
    ops = _ops(model)
    assert (ops.count("MultiHeadAttention"), ops.count("Gelu")) == (6, 6)
    # Nothing of the spelled-out attention or GELU is left; the weight products stay int8.
    for gone in ("Softmax", "Transpose", "Where", "IsNaN", "Erf", "Div", "MatMul"):
        assert gone not in ops, gone
    assert ops.count("MatMulInteger") == 36


def test_fused_vectors_match_the_unfused_int8_graph() -> None:
    encoder = GUARD.contextual.encoder if GUARD.contextual else None
    assert isinstance(encoder, MiniLMEncoder)
    unfused = MiniLMEncoder(
        _session(int8_model(model_file().read_bytes()).SerializeToString()), encoder._tokenizer
    )
    as_shipped = MiniLMEncoder(_session(model_file().read_bytes()), encoder._tokenizer)
    texts = [*SENTENCES, LONG]
    fused_vectors, unfused_vectors = encoder.embed(texts), unfused.embed(texts)
    float_vectors = as_shipped.embed(texts)
    # The same products in another order: a quantized activation may round one step the
    # other way, how often depending on the CPU's int8 kernels (with VNNI every cosine was
    # above 0.999; on an AVX2-only CPU one sentence's was 0.9968). So the two agree far more
    # closely than either does with the float graph (0.99 there), and fusing costs nothing
    # against it: each fused vector is as close to the float one as the unfused vector is.
    cosines = (fused_vectors * unfused_vectors).sum(axis=1)
    assert float(cosines.min()) > 0.995, cosines
    fused_error = 1 - (fused_vectors * float_vectors).sum(axis=1)
    unfused_error = 1 - (unfused_vectors * float_vectors).sum(axis=1)
    assert np.all(fused_error <= unfused_error + 0.001), (fused_error, unfused_error)
    assert not np.array_equal(fused_vectors, np.zeros_like(fused_vectors))


def _gelu_graph(divisor: float) -> onnx.ModelProto:
    constants = [
        numpy_helper.from_array(np.array(value, np.float32), name)
        for name, value in (("root2", divisor), ("one", 1.0), ("half", 0.5))
    ]
    nodes = [
        helper.make_node("Div", ["x", "root2"], ["scaled"]),
        helper.make_node("Erf", ["scaled"], ["erf"]),
        helper.make_node("Add", ["erf", "one"], ["plus"]),
        helper.make_node("Mul", ["half", "plus"], ["halved"]),
        helper.make_node("Mul", ["x", "halved"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "gelu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
        constants,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_gelu_is_fused_only_when_it_is_the_exact_erf_form() -> None:
    exact = _gelu_graph(float(np.sqrt(2.0)))
    x = np.linspace(-3, 3, 6, dtype=np.float32).reshape(2, 3)
    expected = _session(exact.SerializeToString()).run(None, {"x": x})[0]
    fuse_gelu(exact)
    exact.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    assert _ops(exact) == ["Gelu"]
    fused = _session(exact.SerializeToString()).run(None, {"x": x})[0]
    np.testing.assert_allclose(fused, expected, rtol=1e-6, atol=1e-6)
    other = _gelu_graph(2.0)  # not GELU: left as it is
    fuse_gelu(other)
    assert _ops(other) == ["Div", "Erf", "Add", "Mul", "Mul"]
    shared = _gelu_graph(float(np.sqrt(2.0)))  # an intermediate result read elsewhere
    shared.graph.output.append(helper.make_tensor_value_info("erf", TensorProto.FLOAT, [2, 3]))
    fuse_gelu(shared)
    assert _ops(shared)[:5] == ["Div", "Erf", "Add", "Mul", "Mul"]


def test_a_model_without_attention_projections_is_refused() -> None:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "none",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    with pytest.raises(RuntimeError, match="no self-attention projections"):
        fuse_attention(helper.make_model(graph))


def test_the_session_the_guard_builds_is_the_fused_one() -> None:
    encoder = GUARD.contextual.encoder if GUARD.contextual else None
    assert isinstance(encoder, MiniLMEncoder)
    fused = int8_model(model_file().read_bytes())
    fuse_attention(fused)
    fuse_gelu(fused)
    rebuilt = MiniLMEncoder(_session(fused.SerializeToString()), encoder._tokenizer)
    assert np.array_equal(rebuilt.embed(SENTENCES), encoder.embed(SENTENCES))
