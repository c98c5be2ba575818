"""Width-branch SubNetAct encoding: the same control inputs as supernet.onnx, but WeightSlice is
done at export time. Every width choice a served subnet uses gets constant pre-sliced weights,
and `If` chains on the width controls pick the branch. Constant weights let onnxruntime pre-pack
them and use its NCHWc convolutions, which sliced (run-time) weights lose.

Per stage s the graph is one If chain over w[s]. Each branch holds the whole stage with constant
weights of width w[s]: the first block's input-side layers (conv1, projection) sit in an inner
If chain over w[s-1]; later blocks keep LayerSelect `If(depth[s] > j)`. The stem lives in stage
0's branches and the head in stage 2's. SubnetNorm stays a per-subnet Gather of (scale, shift)
rows, stored per width so that no slicing happens at run time.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from onnx_graphs import (FLOAT, Builder, block, classifier, control_inputs, image_input,
                         make_model, resize, stem)


class ScopedBuilder(Builder):
    """Builder for an If branch: its constants live in the branch (so onnxruntime treats them as
    the branch's own initializers) under names unique to the branch."""

    def const(self, name: str, value: np.ndarray) -> str:
        full = self.prefix + name
        if full not in self.consts:
            self.consts[full] = value
            self.inits.append(numpy_helper.from_array(value, full))
        return full


class BranchParams:
    """Constant pre-sliced weights for a known width per stage; per-subnet BN via Gather."""

    def __init__(self, weights, tables, widths: dict[int, int]):
        self.w, self.tables, self.widths = weights, tables, widths

    def width(self, g: Builder, s: int) -> int:
        return self.widths[s]

    def conv_bn(self, g: Builder, x: str, wname: str, bn: str, cout: int, cin: int, stride: int,
                pad: int) -> str:
        w = np.ascontiguousarray(self.w[wname][:cout, :cin])
        k = int(w.shape[-1])
        y = g.op("Conv", [x, g.const(f"{wname}.{cout}x{cin}", w)], "conv", kernel_shape=[k, k],
                 strides=[stride, stride], pads=[pad] * 4)
        return self.norm(g, y, bn, cout)

    def norm(self, g: Builder, y: str, bn: str, c: int) -> str:
        scale_t, shift_t = self.tables[bn]
        s = scale_t.shape[0]
        sc = g.const(f"{bn}.scale{c}", np.ascontiguousarray(scale_t[:, :c]).reshape(s, c, 1, 1))
        sh = g.const(f"{bn}.shift{c}", np.ascontiguousarray(shift_t[:, :c]).reshape(s, c, 1, 1))
        y = g.op("Mul", [y, g.op("Gather", [sc, "sidx"], "scale", axis=0)], "scaled")
        return g.op("Add", [y, g.op("Gather", [sh, "sidx"], "shift", axis=0)], "shifted")

    def linear(self, g: Builder, pooled: str, wname: str, bname: str, cin: int) -> str:
        wt = np.ascontiguousarray(self.w[wname][:, :cin].T).astype(np.float32)
        y = g.op("MatMul", [pooled, g.const(f"{wname}.T{cin}", wt)], "fc")
        return g.op("Add", [y, g.const(bname, self.w[bname])], "fcb")


class FoldedParams(BranchParams):
    """One subnet's weights with its SubnetNorm folded into the convolutions (constant scale and
    shift), as in its static graph: onnxruntime fuses these fully (NCHWc, no reorders)."""

    def __init__(self, weights, tables, widths: dict[int, int], row: int, tag: str):
        super().__init__(weights, tables, widths)
        self.row, self.tag = row, tag

    def conv_bn(self, g: Builder, x: str, wname: str, bn: str, cout: int, cin: int, stride: int,
                pad: int) -> str:
        scale, shift = (t[self.row, :cout] for t in self.tables[bn])
        w = (self.w[wname][:cout, :cin] * scale[:, None, None, None]).astype(np.float32)
        k = int(w.shape[-1])
        return g.op("Conv", [x, g.const(f"{self.tag}.{wname}", w), g.const(f"{self.tag}.{bn}.b", shift.astype(np.float32))],
                    "conv", kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4)


def branch_graph(bb: Builder, outs: list[str]) -> onnx.GraphProto:
    """An If branch: the builder's nodes and initializers, no inputs, `outs` as outputs."""
    return helper.make_graph(bb.nodes, bb.prefix.rstrip("_"), [],
                             [helper.make_tensor_value_info(o, FLOAT, None) for o in outs], bb.inits)


def branch_outputs(bb: Builder, names: list[str]) -> list[str]:
    """Fresh outputs produced inside the branch (a branch may not output outer-scope names)."""
    return [bb.op_into("Identity", [n], bb.fresh("out")) for n in names]


def if_chain(g: Builder, options: list, cond_of, body, n_out: int, hint: str) -> list[str]:
    """Nested If nodes choosing `body(branch_builder, option)` for the option whose condition
    holds (the last option is the final else). Returns the output names in `g`."""

    def build(b: Builder, opts: list) -> list[str]:
        if len(opts) == 1:
            return body(b, opts[0])
        tb = ScopedBuilder(prefix=f"{b.prefix}{hint}{opts[0]}_", consts={})
        eb = ScopedBuilder(prefix=f"{b.prefix}{hint}not{opts[0]}_", consts={})
        touts = branch_outputs(tb, body(tb, opts[0]))
        eouts = branch_outputs(eb, build(eb, opts[1:]))
        outs = [b.fresh(hint) for _ in range(n_out)]
        b.nodes.append(helper.make_node("If", [cond_of(opts[0])], outs,
                                        then_branch=branch_graph(tb, touts), else_branch=branch_graph(eb, eouts)))
        return outs

    return build(g, options)


def if_tree(g: Builder, options: list, key: str, key_of, body, n_out: int, hint: str) -> list[str]:
    """Like if_chain, but a balanced binary tree of If nodes on the int64 value `key`: option o is
    taken when key == key_of(o) (options sorted by key_of). Depth is ceil(log2(n))."""

    def build(b: Builder, opts: list) -> list[str]:
        if len(opts) == 1:
            return body(b, opts[0])
        mid = len(opts) // 2
        pivot = key_of(opts[mid])
        lo = ScopedBuilder(prefix=f"{b.prefix}{hint}lt{pivot}_", consts={})
        hi = ScopedBuilder(prefix=f"{b.prefix}{hint}ge{pivot}_", consts={})
        louts = branch_outputs(lo, build(lo, opts[:mid]))
        houts = branch_outputs(hi, build(hi, opts[mid:]))
        cond = b.op("Less", [key, b.i64([pivot])], f"{hint}lt{pivot}")
        outs = [b.fresh(hint) for _ in range(n_out)]
        b.nodes.append(helper.make_node("If", [cond], outs, then_branch=branch_graph(lo, louts), else_branch=branch_graph(hi, houts)))
        return outs

    return build(g, options)


class Branches:
    """Builds width branches for one graph: the control-derived conditions live in `g` (the
    graph's top level) and every branch references them from the enclosing scope."""

    def __init__(self, g: Builder, arch, weights, tables, catalogue):
        self.g, self.arch, self.weights, self.tables = g, arch, weights, tables
        self.catalogue = catalogue
        g.op_into("Squeeze", ["subnet", g.i64([0])], "sidx")
        self.eq: dict = {}
        self.deeper: dict = {}

    def is_width(self, s: int, w: int) -> str:
        if (s, w) not in self.eq:
            g = self.g
            ws = g.op("Slice", ["width", g.i64([s]), g.i64([s + 1]), g.i64([0])], f"w{s}")
            self.eq[s, w] = g.op("Equal", [ws, g.i64([w])], f"is_w{s}_{w}")
        return self.eq[s, w]

    def width_value(self, s: int) -> str:
        """width[s] as an int64 [1] tensor at the graph's top level."""
        if ("w", s) not in self.eq:
            g = self.g
            self.eq["w", s] = g.op("Slice", ["width", g.i64([s]), g.i64([s + 1]), g.i64([0])], f"wv{s}")
        return self.eq["w", s]

    def runs_block(self, s: int, j: int) -> str:
        if (s, j) not in self.deeper:
            g = self.g
            ds = g.op("Slice", ["depth", g.i64([s]), g.i64([s + 1]), g.i64([0])], f"d{s}")
            self.deeper[s, j] = g.op("Greater", [ds, g.i64([j])], f"run_s{s}b{j}")
        return self.deeper[s, j]

    def widths(self, s: int, j: int = 0) -> list[int]:
        """Widths of stage s used by catalogue subnets that run block (s, j)."""
        return sorted({n.width[s] for n in self.catalogue if n.depth[s] > j})

    def params(self, s: int, w: int) -> BranchParams:
        return BranchParams(self.weights, self.tables, {s: w})

    def block_at(self, b: Builder, s: int, j: int, w: int, h: str) -> str:
        """Block (s, j) at width w on input h. Stage 0's first block includes the stem; later
        stages' first blocks pick their input-side weights with an inner chain over w[s-1]."""
        p = self.params(s, w)
        if s == 0 and j == 0:
            return block(b, p, stem(b, p, h), 0, 0, w)
        if j > 0:
            return block(b, p, h, s, j, w)
        pre = f"stages.{s}.0"
        prev = sorted({n.width[s - 1] for n in self.catalogue if n.width[s] == w and n.depth[s] > 0})

        def inner(bb: Builder, cin: int) -> list[str]:
            r = bb.op("Relu", [p.conv_bn(bb, h, f"{pre}.conv1", f"{pre}.bn1", w, cin, 2, 1)], "relu")
            return [r, p.conv_bn(bb, h, f"{pre}.proj", f"{pre}.bnp", w, cin, 2, 0)]

        r, sc = if_chain(b, prev, lambda c: self.is_width(s - 1, c), inner, 2, f"s{s}in")
        y = p.conv_bn(b, r, f"{pre}.conv2", f"{pre}.bn2", w, w, 1, 1)
        return b.op("Relu", [b.op("Add", [y, sc], "res")], "block_out")

    def depth_if(self, b: Builder, s: int, j: int, w: int, h: str) -> str:
        """LayerSelect inside a width branch: block (s, j) runs iff depth[s] > j."""
        tb = ScopedBuilder(prefix=f"{b.prefix}b{j}_", consts={})
        out = branch_outputs(tb, [self.block_at(tb, s, j, w, h)])
        eb = ScopedBuilder(prefix=f"{b.prefix}skip{j}_", consts={})
        skip = branch_outputs(eb, [h])
        return b.op("If", [self.runs_block(s, j)], f"h_s{s}b{j}", then_branch=branch_graph(tb, out),
                    else_branch=branch_graph(eb, skip))


def folded_network(b: Builder, arch, weights, tables, net, row: int, h: str) -> str:
    """Subnet `net` (catalogue row `row`) as a static network on the resized image h."""
    p = FoldedParams(weights, tables, dict(enumerate(net.width)), row, f"n{row}")
    x = stem(b, p, h)
    cin = net.width[0]
    for s in range(arch.num_stages):
        for j in range(net.depth[s]):
            x = block(b, p, x, s, j, cin)
            cin = net.width[s]
    return classifier(b, p, x, "head.weight", "head.bias", cin)


def folded_switch(g: Builder, catalogue, folded: list[int], build_folded, build_shared, n_out: int,
                  hint: str) -> list[str]:
    """If the subnet is one of `folded` (catalogue rows), run its own folded leaf (a balanced If
    tree on the subnet index), else the shared width branches."""
    if not folded:
        return build_shared(g)
    flags = np.zeros(len(catalogue), dtype=bool)
    flags[folded] = True
    is_folded = g.op("Gather", [g.const(f"{hint}_folded_flags", flags), "sidx"], f"{hint}_is_folded", axis=0)
    tb = ScopedBuilder(prefix=f"{hint}F_", consts={})
    eb = ScopedBuilder(prefix=f"{hint}S_", consts={})
    touts = branch_outputs(tb, if_tree(tb, sorted(folded), "sidx", lambda r: r, build_folded, n_out, f"{hint}n"))
    eouts = branch_outputs(eb, build_shared(eb))
    outs = [g.fresh(hint) for _ in range(n_out)]
    g.nodes.append(helper.make_node("If", [is_folded], outs, then_branch=branch_graph(tb, touts),
                                    else_branch=branch_graph(eb, eouts)))
    return outs


def branched_graph(arch, weights, tables, catalogue, folded: list[int] | None = None) -> onnx.ModelProto:
    """The whole network: one If chain per stage over that stage's width. Subnets listed in
    `folded` (catalogue rows) instead run their own folded static leaf."""
    g = Builder()
    br = Branches(g, arch, weights, tables, catalogue)
    last = arch.num_stages - 1
    x = resize(g, "image", "resolution")

    def shared(b: Builder) -> list[str]:
        h = x
        for s in range(arch.num_stages):
            def body(bb: Builder, w: int, s=s, h=h) -> list[str]:
                out = br.block_at(bb, s, 0, w, h)
                for j in range(1, arch.max_depth(s)):
                    out = br.depth_if(bb, s, j, w, out)
                if s == last:
                    out = classifier(bb, br.params(s, w), out, "head.weight", "head.bias", w)
                return [out]
            (h,) = if_chain(b, br.widths(s), lambda w, s=s: br.is_width(s, w), body, 1, f"s{s}w")
        return [h]

    def one(b: Builder, row: int) -> list[str]:
        return [folded_network(b, arch, weights, tables, catalogue[row], row, x)]

    (logits,) = folded_switch(g, catalogue, folded or [], one, shared, 1, "whole")
    g.op_into("Identity", [logits], "logits")
    return make_model(
        g, [image_input()] + control_inputs(["subnet", "resolution", "depth", "width"], arch.num_stages),
        [helper.make_tensor_value_info("logits", FLOAT, ["N", arch.num_classes])], "supernet_branched")


def branched_stage_graph(arch, weights, tables, catalogue, s: int, j: int,
                         folded: list[int] | None = None) -> onnx.ModelProto:
    """Block position (s, j) with its ramp, width-branched: hidden -> (hidden_out, ramp_logits).
    Same inputs and outputs as the sliced stage graph of onnx_graphs.stage_graph. Subnets listed
    in `folded` that run this block get their own folded leaf."""
    g = Builder()
    br = Branches(g, arch, weights, tables, catalogue)
    first = s == 0 and j == 0
    x = resize(g, "image", "resolution") if first else "hidden"

    def ramp_of(b: Builder, p, h: str, w: int) -> str:
        return classifier(b, p, h, f"ramps.{s}.{j}.fc.weight", f"ramps.{s}.{j}.fc.bias", w)

    def shared(b: Builder) -> list[str]:
        def body(bb: Builder, w: int) -> list[str]:
            h = br.block_at(bb, s, j, w, x)
            return [h, ramp_of(bb, br.params(s, w), h, w)]
        return if_tree(b, br.widths(s, j), br.width_value(s), lambda w: w, body, 2, f"s{s}b{j}w")

    def one(b: Builder, row: int) -> list[str]:
        net = catalogue[row]
        p = FoldedParams(weights, tables, dict(enumerate(net.width)), row, f"n{row}")
        w = net.width[s]
        h = stem(b, p, x) if first else x
        cin = w if j > 0 else (net.width[s - 1] if s > 0 else net.width[0])
        h = block(b, p, h, s, j, cin)
        return [h, ramp_of(b, p, h, w)]

    here = [r for r in (folded or []) if catalogue[r].depth[s] > j]
    h, ramp = folded_switch(g, catalogue, here, one, shared, 2, f"s{s}b{j}")
    g.op_into("Identity", [h], "hidden_out")
    g.op_into("Identity", [ramp], "ramp_logits")
    inputs = ([image_input()] + control_inputs(["subnet", "resolution", "width"], arch.num_stages)) if first else \
        ([helper.make_tensor_value_info("hidden", FLOAT, ["N", "C", "H", "W"])] +
         control_inputs(["subnet", "width"], arch.num_stages))
    return make_model(g, inputs, [
        helper.make_tensor_value_info("hidden_out", FLOAT, ["N", "C", "H", "W"]),
        helper.make_tensor_value_info("ramp_logits", FLOAT, ["N", arch.num_classes])], f"s{s}b{j}_branched")
