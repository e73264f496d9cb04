"""Register-blocked SIMD micro-kernels for the direct convolution (direct.py), written as LLVM vector IR.

numba compiles loops over scalars; it does not keep a block of vector accumulators in registers across a
reduction (docs/speed.md: a direct convolution written as numba loops ran at 6-22 GFLOP/s, one written as
scalar statements for LLVM's SLP vectoriser at 6). These two kernels are numba intrinsics that emit the
loop themselves, with every accumulator an SSA value of vector type, so LLVM gives each its own register,
as a BLAS micro-kernel does. Each is inlined into a numba loop (direct.py) and reads raw addresses:

    broadcast(x, w, b, offs, nk, o, o_stride)   R rows x V vectors of W lanes:
        o[r, l] = b[r] + sum over i < nk of w[i R + r] x[offs[i] + l]           (l < V W)
    dot(a, a_stride, a_pitch, x, offs, x_pitch, rows, nvec, rest, o, o_stride)   Ra x Rb sums over rows of
        nvec W + rest lanes: o[a, b] += sum over u < rows, l < nvec W + rest of
                                        a[a a_stride + u a_pitch + l] x[offs[b] + u x_pitch + l]

broadcast is a GEMM column block whose B rows are shifted stretches of x (no im2col, no packing): one vector
load per W lanes of x serves R fused multiply-adds, one scalar broadcast per weight serves V. dot is the
transposed product (dE/dK), its Ra Rb accumulators summed across lanes once at the end, by halving; a row's
last `rest` lanes are read as a whole vector whose other lanes are selected to zero (the caller leaves room). W is
64 bytes' worth of lanes (16 float32, 8 float64): one AVX-512 register. Addresses and strides are in
elements of the dtype, offsets int64.
"""

from __future__ import annotations

import functools

import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

I32, I64 = ir.IntType(32), ir.IntType(64)
VECTOR_BYTES = 64


def wide_registers() -> bool:
    """Whether this CPU has AVX-512 (32 vector registers of 64 bytes), for which the kernels' blocks are sized;
    elsewhere LLVM splits each vector and spills, and im2col is the measured path."""
    from llvmlite import binding

    binding.initialize_native_target()
    return "+avx512f" in binding.get_host_cpu_features().flatten().split(",")


def lanes(dtype) -> int:
    """W: the lanes of one vector register of this dtype."""
    return VECTOR_BYTES // np.dtype(dtype).itemsize


def _types(dtype):
    fp = {np.dtype(np.float32): ir.FloatType(), np.dtype(np.float64): ir.DoubleType()}[np.dtype(dtype)]
    W = lanes(dtype)
    return fp, W, ir.VectorType(fp, W)


def _load_vector(builder, base, offset, vty):
    """The W lanes at base + offset (elements; unaligned)."""
    return builder.load(builder.bitcast(builder.gep(base, [offset]), vty.as_pointer()), align=1)


def _splat(builder, value, vty):
    one = builder.insert_element(ir.Constant(vty, ir.Undefined), value, ir.Constant(I32, 0))
    return builder.shuffle_vector(one, ir.Constant(vty, ir.Undefined), ir.Constant(ir.VectorType(I32, vty.count),
                                                                                   [0] * vty.count))


def _fma(builder, vty):
    name = f"llvm.fma.v{vty.count}{'f32' if isinstance(vty.element, ir.FloatType) else 'f64'}"
    return builder.module.declare_intrinsic(name, (), ir.FunctionType(vty, [vty, vty, vty]))


def _sum_lanes(builder, v, vty):
    """The sum of v's lanes, by halving (lane l + lane l + half, ...): a fixed order."""
    n = vty.count
    while n > 1:
        n //= 2
        half = ir.VectorType(vty.element, n)
        idx = ir.VectorType(I32, n)
        lo = builder.shuffle_vector(v, v, ir.Constant(idx, list(range(n))))
        hi = builder.shuffle_vector(v, v, ir.Constant(idx, list(range(n, 2 * n))))
        v, vty = builder.fadd(lo, hi), half
    return builder.extract_element(v, ir.Constant(I32, 0))


def _merge(builder, pre, before: list, end, after: list) -> list:
    """phi nodes joining the values `before` (from block pre) and `after` (from block end)."""
    out = []
    for a, b in zip(before, after):
        phi = builder.phi(a.type)
        phi.add_incoming(a, pre)
        phi.add_incoming(b, end)
        out.append(phi)
    return out


def _loop(builder, count, carried: list, body) -> list:
    """for i in range(count): carried = body(i, carried); the final carried values (the initial ones when
    count <= 0)."""
    fn, pre = builder.function, builder.block
    loop, after = fn.append_basic_block("simd_loop"), fn.append_basic_block("simd_after")
    builder.cbranch(builder.icmp_signed(">", count, ir.Constant(I64, 0)), loop, after)
    builder.position_at_end(loop)
    i = builder.phi(I64)
    i.add_incoming(ir.Constant(I64, 0), pre)
    phis = []
    for value in carried:
        phi = builder.phi(value.type)
        phi.add_incoming(value, pre)
        phis.append(phi)
    new = body(i, phis)
    nxt = builder.add(i, ir.Constant(I64, 1))
    end = builder.block
    i.add_incoming(nxt, end)
    for phi, value in zip(phis, new):
        phi.add_incoming(value, end)
    builder.cbranch(builder.icmp_signed("<", nxt, count), loop, after)
    builder.position_at_end(after)
    return _merge(builder, pre, carried, end, new)


def _when(builder, condition, carried: list, body) -> list:
    """carried = body(carried) if condition; the resulting values."""
    fn, pre = builder.function, builder.block
    then, join = fn.append_basic_block("simd_then"), fn.append_basic_block("simd_join")
    builder.cbranch(condition, then, join)
    builder.position_at_end(then)
    new = body(carried)
    end = builder.block
    builder.branch(join)
    builder.position_at_end(join)
    return _merge(builder, pre, carried, end, new)


@functools.cache
def broadcast(dtype, R: int, V: int):
    """The broadcast kernel for R output rows and V vectors of lanes (module docstring)."""
    fp, W, vty = _types(dtype)

    @intrinsic
    def kernel(typingctx, x, w, b, offs, nk, o, o_stride):
        sig = types.void(*(types.intp,) * 7)

        def codegen(context, builder, signature, args):
            x, w, b, offs, nk, o, o_stride = args
            x, w, b, o = (builder.inttoptr(a, fp.as_pointer()) for a in (x, w, b, o))
            offs = builder.inttoptr(offs, I64.as_pointer())
            fma = _fma(builder, vty)
            init = [_splat(builder, builder.load(builder.gep(b, [ir.Constant(I64, r)])), vty)
                    for r in range(R) for _ in range(V)]

            def body(i, acc):
                xi = builder.gep(x, [builder.load(builder.gep(offs, [i]))])
                xv = [_load_vector(builder, xi, ir.Constant(I64, W * j), vty) for j in range(V)]
                wi = builder.gep(w, [builder.mul(i, ir.Constant(I64, R))])
                new = []
                for r in range(R):
                    wv = _splat(builder, builder.load(builder.gep(wi, [ir.Constant(I64, r)])), vty)
                    new += [builder.call(fma, [wv, xv[j], acc[r * V + j]]) for j in range(V)]
                return new

            acc = _loop(builder, nk, init, body)
            for r in range(R):
                row = builder.gep(o, [builder.mul(o_stride, ir.Constant(I64, r))])
                for j in range(V):
                    ptr = builder.bitcast(builder.gep(row, [ir.Constant(I64, W * j)]), vty.as_pointer())
                    builder.store(acc[r * V + j], ptr, align=1)
            return context.get_dummy_value()

        return sig, codegen

    return kernel


@functools.cache
def dot(dtype, Ra: int, Rb: int):
    """The dot kernel for Ra rows of a and Rb offsets into x, over `rows` rows of nvec vectors and `rest` lanes
    (module docstring)."""
    fp, W, vty = _types(dtype)
    lane = ir.Constant(ir.VectorType(I64, W), list(range(W)))

    @intrinsic
    def kernel(typingctx, a, a_stride, a_pitch, x, offs, x_pitch, rows, nvec, rest, o, o_stride):
        sig = types.void(*(types.intp,) * 11)

        def codegen(context, builder, signature, args):
            a, a_stride, a_pitch, x, offs, x_pitch, rows, nvec, rest, o, o_stride = args
            a, x, o = (builder.inttoptr(p, fp.as_pointer()) for p in (a, x, o))
            offs = builder.inttoptr(offs, I64.as_pointer())
            fma = _fma(builder, vty)
            zero = ir.Constant(vty, [0.0] * W)
            firsts = [builder.gep(a, [builder.mul(a_stride, ir.Constant(I64, r))]) for r in range(Ra)]
            cols = [builder.gep(x, [builder.load(builder.gep(offs, [ir.Constant(I64, c)]))]) for c in range(Rb)]

            def step(a_rows, x_cols, at, acc, keep=None):
                av = [_load_vector(builder, row, at, vty) for row in a_rows]
                xv = [_load_vector(builder, col, at, vty) for col in x_cols]
                if keep is not None:  # a row's last lanes: the vector's lanes past them count as zeros
                    av, xv = ([builder.select(keep, v, zero) for v in vs] for vs in (av, xv))
                return [builder.call(fma, [av[r], xv[c], acc[r * Rb + c]]) for r in range(Ra) for c in range(Rb)]

            def row(u, acc):
                a_rows = [builder.gep(p, [builder.mul(u, a_pitch)]) for p in firsts]
                x_cols = [builder.gep(p, [builder.mul(u, x_pitch)]) for p in cols]
                acc = _loop(builder, nvec, acc,
                            lambda t, acc: step(a_rows, x_cols, builder.mul(t, ir.Constant(I64, W)), acc))
                keep = builder.icmp_signed("<", lane, _splat(builder, rest, ir.VectorType(I64, W)))
                at = builder.mul(nvec, ir.Constant(I64, W))
                return _when(builder, builder.icmp_signed(">", rest, ir.Constant(I64, 0)), acc,
                             lambda acc: step(a_rows, x_cols, at, acc, keep))

            acc = _loop(builder, rows, [zero] * (Ra * Rb), row)
            for r in range(Ra):
                out = builder.gep(o, [builder.mul(o_stride, ir.Constant(I64, r))])
                for c in range(Rb):
                    ptr = builder.gep(out, [ir.Constant(I64, c)])
                    builder.store(builder.fadd(builder.load(ptr), _sum_lanes(builder, acc[r * Rb + c], vty)), ptr)
            return context.get_dummy_value()

        return sig, codegen

    return kernel
