"""Build the supernet's ONNX graphs directly with onnx.helper (opset 17).

torch.onnx.export cannot express a conv whose kernel is sliced at run time and bakes the depth
into the trace, so the three encodings are written by hand:

  * SubNetAct graph  -- one graph; control inputs choose the subnet. WeightSlice = `Slice` of the
    constant weights with run-time `ends`; LayerSelect = one `If` per optional block;
    SubnetNorm = `Gather` of per-subnet (scale, shift) rows from BN tables.
  * stage graphs     -- the same operators, one graph per block position (stem folded into the
    first, downsampling into each stage's first), each returning its hidden state and its ramp's
    logits, plus a head graph returning the final logits.
  * static graphs    -- one per subnet: pre-sliced constant weights with that subnet's BN folded
    into the convolutions, fixed depth; the reference the other two are checked against.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
INT64 = TensorProto.INT64
FLOAT = TensorProto.FLOAT


class Builder:
    """Accumulates nodes and initializers; names are unique per builder prefix."""

    def __init__(self, prefix: str = "", consts: dict | None = None):
        self.prefix = prefix
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        # constants are shared between a graph and its If-branches (outer-scope references)
        self.consts = consts if consts is not None else {}
        self.memo: dict[str, str] = {}  # per-graph cache of derived control values
        self._n = 0

    def fresh(self, hint: str) -> str:
        self._n += 1
        return f"{self.prefix}{hint}_{self._n}"

    def const(self, name: str, value: np.ndarray) -> str:
        if name not in self.consts:
            self.consts[name] = value
            self.inits.append(numpy_helper.from_array(value, name))
        return name

    def i64(self, values: list[int]) -> str:
        key = "c_i64_" + "_".join(str(v).replace("-", "m") for v in values)
        return self.const(key, np.array(values, dtype=np.int64))

    def op(self, op_type: str, inputs: list[str], hint: str | None = None, **attrs) -> str:
        out = self.fresh(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def op_into(self, op_type: str, inputs: list[str], out: str, **attrs) -> str:
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out


def bn_scale_shift(gamma: np.ndarray, beta: np.ndarray, mean: np.ndarray, var: np.ndarray,
                   eps: float) -> tuple[np.ndarray, np.ndarray]:
    scale = gamma / np.sqrt(var + eps)
    return scale.astype(np.float32), (beta - mean * scale).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Parameter providers: the same network code emits either run-time slices (SubNetAct) or
# pre-sliced constants (static).
# --------------------------------------------------------------------------------------------

class DynamicParams:
    """SubNetAct operators. `width` and `subnet` are graph inputs; every weight is one constant
    holding the supernet's maximum tensor."""

    def __init__(self, weights: dict[str, np.ndarray], tables: dict[str, tuple[np.ndarray, np.ndarray]]):
        self.w = weights
        self.tables = tables  # BN name -> (scale[S, C], shift[S, C])

    def width(self, g: Builder, s: int) -> str:
        key = f"width{s}"
        if key not in g.memo:
            g.memo[key] = g.op("Slice", ["width", g.i64([s]), g.i64([s + 1]), g.i64([0])], f"w{s}")
        return g.memo[key]

    def conv_bn(self, g: Builder, x: str, wname: str, bn: str, cout: str, cin: str,
                stride: int, pad: int) -> str:
        """WeightSlice: W[:cout, :cin]; SubnetNorm: the subnet's row of the BN tables."""
        w = g.const(wname, self.w[wname])
        ends = g.op("Concat", [cout, cin], "ends", axis=0)
        ws = g.op("Slice", [w, g.i64([0, 0]), ends, g.i64([0, 1])], "wslice")
        k = int(self.w[wname].shape[-1])
        y = g.op("Conv", [x, ws], "conv", kernel_shape=[k, k], strides=[stride, stride],
                 pads=[pad] * 4)
        return self.norm(g, y, bn, cout)

    def norm(self, g: Builder, y: str, bn: str, c: str) -> str:
        scale_t, shift_t = self.tables[bn]
        out = y
        for kind, table in (("scale", scale_t), ("shift", shift_t)):
            t = g.const(f"{bn}.{kind}_table", table)
            row = g.op("Gather", [t, "subnet"], f"{kind}row", axis=0)           # [1, Cmax]
            row = g.op("Slice", [row, g.i64([0]), c, g.i64([1])], f"{kind}sl")  # [1, c]
            row = g.op("Unsqueeze", [row, g.i64([2, 3])], f"{kind}4d")         # [1, c, 1, 1]
            out = g.op("Mul" if kind == "scale" else "Add", [out, row], kind)
        return out

    def linear(self, g: Builder, pooled: str, wname: str, bname: str, cin: str) -> str:
        wt = g.const(wname + ".T", np.ascontiguousarray(self.w[wname].T))  # [Cmax, classes]
        ws = g.op("Slice", [wt, g.i64([0]), cin, g.i64([0])], "fcslice")
        y = g.op("MatMul", [pooled, ws], "fc")
        return g.op("Add", [y, g.const(bname, self.w[bname])], "fcb")


class StaticParams:
    """One subnet's pre-sliced constants with its BN folded into the convolutions."""

    def __init__(self, weights: dict[str, np.ndarray], stats: dict[str, tuple[np.ndarray, np.ndarray]],
                 eps: float, widths: tuple[int, ...], key: str):
        self.w, self.stats, self.eps, self.widths, self.key = weights, stats, eps, widths, key

    def width(self, g: Builder, s: int) -> int:
        return self.widths[s]

    def conv_bn(self, g: Builder, x: str, wname: str, bn: str, cout: int, cin: int,
                stride: int, pad: int) -> str:
        w = self.w[wname][:cout, :cin]
        mean, var = self.stats[bn]
        scale, shift = bn_scale_shift(self.w[bn + ".weight"][:cout], self.w[bn + ".bias"][:cout],
                                      mean[:cout], var[:cout], self.eps)
        wf = (w * scale[:, None, None, None]).astype(np.float32)
        k = int(w.shape[-1])
        wc = g.const(f"{self.key}.{wname}", wf)
        bc = g.const(f"{self.key}.{bn}.b", shift)
        return g.op("Conv", [x, wc, bc], "conv", kernel_shape=[k, k], strides=[stride, stride],
                    pads=[pad] * 4)

    def linear(self, g: Builder, pooled: str, wname: str, bname: str, cin: int) -> str:
        wt = np.ascontiguousarray(self.w[wname][:, :cin].T).astype(np.float32)
        y = g.op("MatMul", [pooled, g.const(f"{self.key}.{wname}.T", wt)], "fc")
        return g.op("Add", [y, g.const(f"{self.key}.{bname}", self.w[bname])], "fcb")


# --------------------------------------------------------------------------------------------
# Network pieces shared by all encodings
# --------------------------------------------------------------------------------------------

def resize(g: Builder, image: str, res) -> str:
    """Elastic resolution: bilinear, half-pixel centres (= torch interpolate, align_corners=False).
    `res` is the name of an int64 [2] tensor (dynamic) or an int (static)."""
    if isinstance(res, int):
        if res == 28:
            return image
        res = g.i64([res, res])
    shape = g.op("Shape", [image], "shape")
    nc = g.op("Slice", [shape, g.i64([0]), g.i64([2]), g.i64([0])], "nc")
    sizes = g.op("Concat", [nc, res], "sizes", axis=0)
    return g.op("Resize", [image, "", "", sizes], "resized", mode="linear",
                coordinate_transformation_mode="half_pixel")


def stem(g: Builder, p, x: str) -> str:
    w0 = p.width(g, 0)
    cin = g.i64([1]) if isinstance(w0, str) else 1
    return g.op("Relu", [p.conv_bn(g, x, "stem", "stem_bn", w0, cin, 1, 1)], "stem_out")


def block(g: Builder, p, x: str, s: int, j: int, cin) -> str:
    """Residual block (s, j). `cin` is the input's channel count (tensor name or int)."""
    w = p.width(g, s)
    pre = f"stages.{s}.{j}"
    stride = 2 if j == 0 else 1
    h = g.op("Relu", [p.conv_bn(g, x, f"{pre}.conv1", f"{pre}.bn1", w, cin, stride, 1)], "relu")
    h = p.conv_bn(g, h, f"{pre}.conv2", f"{pre}.bn2", w, w, 1, 1)
    sc = p.conv_bn(g, x, f"{pre}.proj", f"{pre}.bnp", w, cin, stride, 0) if j == 0 else x
    return g.op("Relu", [g.op("Add", [h, sc], "res")], "block_out")


def classifier(g: Builder, p, h: str, wname: str, bname: str, cin) -> str:
    pooled = g.op("Flatten", [g.op("GlobalAveragePool", [h], "gap")], "pooled", axis=1)
    return p.linear(g, pooled, wname, bname, cin)


def make_model(g: Builder, inputs: list, outputs: list, name: str) -> onnx.ModelProto:
    graph = helper.make_graph(g.nodes, name, inputs, outputs, g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="slackserve-export")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def image_input(name: str = "image"):
    return helper.make_tensor_value_info(name, FLOAT, ["N", 1, 28, 28])


def control_inputs(names: list[str], num_stages: int):
    dims = {"subnet": [1], "resolution": [2], "depth": [num_stages], "width": [num_stages]}
    return [helper.make_tensor_value_info(n, INT64, dims[n]) for n in names]


# --------------------------------------------------------------------------------------------
# The three encodings
# --------------------------------------------------------------------------------------------

def subnetact_graph(arch, weights, tables) -> onnx.ModelProto:
    g = Builder()
    p = DynamicParams(weights, tables)
    h = stem(g, p, resize(g, "image", "resolution"))
    cin = p.width(g, 0)
    for s in range(arch.num_stages):
        h = block(g, p, h, s, 0, cin)
        cin = p.width(g, s)
        for j in range(1, arch.max_depth(s)):
            # LayerSelect: block (s, j) runs iff depth[s] > j
            d = g.op("Slice", ["depth", g.i64([s]), g.i64([s + 1]), g.i64([0])], f"d{s}")
            cond = g.op("Greater", [d, g.i64([j])], f"run_s{s}b{j}")
            then_g = Builder(prefix=f"s{s}b{j}_then_", consts=g.consts)
            out_then = block(then_g, p, h, s, j, cin)
            else_g = Builder(prefix=f"s{s}b{j}_else_", consts=g.consts)
            out_else = else_g.op("Identity", [h], "skip")
            g.inits.extend(then_g.inits + else_g.inits)
            branch_out = lambda n: [helper.make_tensor_value_info(n, FLOAT, None)]  # noqa: E731
            then_graph = helper.make_graph(then_g.nodes, f"s{s}b{j}_then", [], branch_out(out_then))
            else_graph = helper.make_graph(else_g.nodes, f"s{s}b{j}_else", [], branch_out(out_else))
            h = g.op("If", [cond], f"h_s{s}b{j}", then_branch=then_graph, else_branch=else_graph)
    g.op_into("Identity", [classifier(g, p, h, "head.weight", "head.bias", cin)], "logits")
    return make_model(
        g, [image_input()] + control_inputs(["subnet", "resolution", "depth", "width"], arch.num_stages),
        [helper.make_tensor_value_info("logits", FLOAT, ["N", arch.num_classes])], "supernet")


def stage_graph(arch, weights, tables, s: int, j: int) -> onnx.ModelProto:
    """Block position (s, j) as its own graph: hidden -> (hidden_out, ramp_logits)."""
    g = Builder()
    p = DynamicParams(weights, tables)
    if s == 0 and j == 0:
        x = stem(g, p, resize(g, "image", "resolution"))
        inputs = [image_input()] + control_inputs(["subnet", "resolution", "width"], arch.num_stages)
    else:
        x = "hidden"
        inputs = [helper.make_tensor_value_info("hidden", FLOAT, ["N", "C", "H", "W"])] + \
            control_inputs(["subnet", "width"], arch.num_stages)
    if j == 0:
        cin = p.width(g, s - 1) if s > 0 else p.width(g, 0)
    else:
        cin = p.width(g, s)
    h = g.op_into("Identity", [block(g, p, x, s, j, cin)], "hidden_out")
    g.op_into("Identity", [classifier(g, p, h, f"ramps.{s}.{j}.fc.weight", f"ramps.{s}.{j}.fc.bias",
                                      p.width(g, s))], "ramp_logits")
    return make_model(g, inputs, [
        helper.make_tensor_value_info("hidden_out", FLOAT, ["N", "C", "H", "W"]),
        helper.make_tensor_value_info("ramp_logits", FLOAT, ["N", arch.num_classes])], f"s{s}b{j}")


def head_graph(arch, weights, tables) -> onnx.ModelProto:
    g = Builder()
    p = DynamicParams(weights, tables)
    last = arch.num_stages - 1
    g.op_into("Identity", [classifier(g, p, "hidden", "head.weight", "head.bias", p.width(g, last))],
              "logits")
    return make_model(g, [helper.make_tensor_value_info("hidden", FLOAT, ["N", "C", "H", "W"])] +
                      control_inputs(["width"], arch.num_stages),
                      [helper.make_tensor_value_info("logits", FLOAT, ["N", arch.num_classes])], "head")


def static_graph(arch, weights, stats, net) -> onnx.ModelProto:
    g = Builder()
    p = StaticParams(weights, stats, arch.bn_eps, net.width, "w")
    h = stem(g, p, resize(g, "image", net.resolution))
    cin = net.width[0]
    for s in range(arch.num_stages):
        for j in range(net.depth[s]):
            h = block(g, p, h, s, j, cin)
            cin = net.width[s]
    g.op_into("Identity", [classifier(g, p, h, "head.weight", "head.bias", cin)], "logits")
    return make_model(g, [image_input()],
                      [helper.make_tensor_value_info("logits", FLOAT, ["N", arch.num_classes])],
                      f"static_{net.key}")
