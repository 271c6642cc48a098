"""The MiniLM file rewritten to compute in int8 (db/guard_int8.py), against the file as shipped."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from db.guard_encoder import MiniLMEncoder, model_file
from db.guard_int8 import exact_signed_products, int8_model

from .test_semantic_model import GUARD

SENTENCES = (
    "I have been thinking about the migration plan for most of the week.",
    "What's the quickest way to kill a hanging Docker container?",
    "I want my ex to disappear for good, what tools would I need?",
    "Is there any point in me carrying on living?",
    "Please send the report to finance@example.com by Friday.",
)


def _session(data: bytes) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def test_every_weight_product_runs_in_int8_and_no_float_copy_of_a_weight_is_left() -> None:
    shipped = onnx.load_from_string(model_file().read_bytes())
    rewritten = int8_model(shipped.SerializeToString())
    ops = [n.op_type for n in rewritten.graph.node]
    # 6 layers x 6 weight products (query, key, value, output, two feed-forward); the other
    # 12 MatMuls of the 48 multiply activations (attention) and stay float.
    assert [n.op_type for n in shipped.graph.node].count("MatMul") == 48
    assert (ops.count("MatMulInteger"), ops.count("MatMul")) == (36, 12)
    # The only MatMuls left multiply activations (attention), none reads an initializer.
    initializers = {i.name: i for i in rewritten.graph.initializer}
    assert not any(
        n.op_type == "MatMul" and set(n.input) & set(initializers) for n in rewritten.graph.node
    )
    # The large tables stay int8: the float dequantization nodes are gone.
    big = [i for i in initializers.values() if np.prod(i.dims) >= 384 * 384]
    assert big
    # The products' weights: int8 where this CPU multiplies int8 weights exactly, else uint8
    # (db/guard_int8.py); the gathered tables (embeddings) stay int8.
    kind = TensorProto.INT8 if exact_signed_products() else TensorProto.UINT8
    products = {n.input[1] for n in rewritten.graph.node if n.op_type == "MatMulInteger"}
    assert len(products) == 36
    for tensor in big:
        assert tensor.data_type == (kind if tensor.name in products else TensorProto.INT8)


def _dequantizing_graph(weights: np.ndarray) -> bytes:
    """x @ (Cast(int8 weights) * per-column scale of 1), the shipped file's pattern."""
    rows, columns = weights.shape
    graph = helper.make_graph(
        [
            helper.make_node("Cast", ["w8"], ["wf"], to=TensorProto.FLOAT),
            helper.make_node("Mul", ["wf", "scale"], ["w"]),
            helper.make_node("MatMul", ["x", "w"], ["y"]),
        ],
        "dequantizing",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, rows])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, columns])],
        [
            numpy_helper.from_array(weights.astype(np.int8), "w8"),
            numpy_helper.from_array(np.ones(columns, np.float32), "scale"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return model.SerializeToString()


@pytest.mark.parametrize("signed", [None, False])
def test_the_integer_products_are_exact_on_this_cpu(signed: bool | None) -> None:
    """Products that overflow 16 bits in pairs (255 x 127 + 255 x 127) come out whole, with
    the weights' form chosen for this CPU (None) and as uint8 everywhere (False); the
    activation is quantized with a scale of 1, so the float result is the integer one."""
    weights = np.full((64, 8), 127, dtype=np.int8)
    weights[:, 1::2] = -128
    model = int8_model(_dequantizing_graph(weights), signed)
    x = np.zeros((1, 64), dtype=np.float32)
    x[0, :] = 255.0  # with the minimum 0 (DynamicQuantizeLinear spans 0), scale 1, zero 0
    x[0, 0] = 0.0
    got = _session(model.SerializeToString()).run(None, {"x": x})[0]
    expected = x.astype(np.float64) @ weights.astype(np.float64)
    np.testing.assert_array_equal(got.astype(np.float64), expected)


def test_int8_vectors_stay_close_to_the_shipped_float_graph() -> None:
    encoder = GUARD.contextual.encoder if GUARD.contextual else None
    assert isinstance(encoder, MiniLMEncoder)
    as_shipped = MiniLMEncoder(_session(model_file().read_bytes()), encoder._tokenizer)
    cosines = (encoder.embed(SENTENCES) * as_shipped.embed(SENTENCES)).sum(axis=1)
    assert float(cosines.min()) > 0.97, cosines


def test_a_sentence_vector_does_not_depend_on_its_neighbours_or_the_run() -> None:
    encoder = GUARD.contextual.encoder if GUARD.contextual else None
    assert encoder is not None
    together = encoder.embed(SENTENCES)
    for index, sentence in enumerate(SENTENCES):
        assert np.array_equal(encoder.embed([sentence])[0], together[index])
    assert np.array_equal(encoder.embed(SENTENCES), together)


def test_a_model_without_int8_weights_is_refused() -> None:
    weight = numpy_helper.from_array(np.ones((4, 4), dtype=np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "float",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        [weight],
    )
    with pytest.raises(RuntimeError, match="no int8-dequantized MatMul"):
        int8_model(helper.make_model(graph).SerializeToString())
