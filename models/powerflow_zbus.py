"""Fixed-point (implicit Z-bus) power flow for radial grids with one slack: the batch solver's fast path.

With constant-power loads the voltages of the load buses solve
``Y_LL V_L = conj(S_L / V_L) - Y_LS V_S``. The iteration ``V_L <- Y_LL^-1 (conj(S_L / V_L^k) - Y_LS V_S)``
(Z-bus Gauss) converges linearly, by the relative voltage drop each step, and needs only the
sparse LU factors of ``Y_LL``, computed once per grid: for a low-voltage feeder tree they hold
about two entries per bus, so an iteration costs a few microseconds. Every step starts from the
no-load voltage, so the steps stay independent. The admittances are pandapower's own (its
``_ppc`` after the seeding power flow, ``makeYbus``), and so are the branch flows
``S_f = V_f conj(Y_ff V_f + Y_ft V_t)`` that give loadings and losses.

A step the iteration does not bring below its tolerance in ``max_iter`` iterations (a heavily
loaded grid near voltage collapse) is reported back, and the caller solves it with
Newton-Raphson.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final

import numba
import numpy as np
import numpy.typing as npt

from models.threads import second_thread

__all__ = ["ZBusSystem", "branch_results", "build_zbus", "kernel_system", "rows_kernel", "solve_rows", "solve_zbus"]

#: Largest voltage change of the last iteration at which a step counts as converged. [p.u.]
TOL_PU: Final[float] = 1e-12
#: Steps from which a batch is solved in two halves on two threads.
PARALLEL_MIN_STEPS: Final[int] = 2000
#: Iterations before a step is handed to Newton-Raphson.
MAX_ITER: Final[int] = 60

_REF: Final[int] = 3  # pypower bus type of the slack
_NONE: Final[int] = 4  # pypower bus type of an isolated bus


@dataclass(frozen=True)
class ZBusSystem:
    """A grid's factored load-bus admittances and branch admittances (pandapower's per-unit model)."""

    base_mva: float
    pq: npt.NDArray[np.int64]
    rhs0: npt.NDArray[np.complex128]
    v0: npt.NDArray[np.complex128]
    l_ptr: npt.NDArray[np.int64]
    l_idx: npt.NDArray[np.int64]
    l_val: npt.NDArray[np.complex128]
    l_inv_diag: npt.NDArray[np.complex128]
    u_ptr: npt.NDArray[np.int64]
    u_idx: npt.NDArray[np.int64]
    u_val: npt.NDArray[np.complex128]
    u_inv_diag: npt.NDArray[np.complex128]
    perm_r: npt.NDArray[np.int64]
    perm_c: npt.NDArray[np.int64]
    f_bus: npt.NDArray[np.int64]
    t_bus: npt.NDArray[np.int64]
    y_ff: npt.NDArray[np.complex128]
    y_ft: npt.NDArray[np.complex128]
    y_tf: npt.NDArray[np.complex128]
    y_tt: npt.NDArray[np.complex128]


def build_zbus(solver_net: Any, v_init: npt.NDArray[np.complex128], n_branch: int) -> ZBusSystem | None:
    """The fast path's system of a net after its seeding power flow, or None where it does not apply.

    It applies when pandapower's internal buses are the net's buses in order (a continuous bus
    index, no fused or isolated buses), there is exactly one slack and no voltage-controlled
    generator, and the branches are ``n_branch`` lines and transformers in the net's order.
    """
    from pandapower.pypower.makeYbus import makeYbus
    from scipy.sparse.linalg import splu

    ppc = getattr(solver_net, "_ppc", None)
    if ppc is None:
        return None
    bus, branch = ppc["bus"], ppc["branch"]
    kinds = bus[:, 1].astype(int)
    lookup = np.asarray(solver_net._pd2ppc_lookups["bus"])
    n_bus = len(solver_net.bus)
    if (
        len(bus) != len(v_init)
        or len(bus) != n_bus
        or not np.array_equal(lookup[:n_bus], np.arange(n_bus))
        or int((kinds == _REF).sum()) != 1
        or bool(((kinds != _REF) & (kinds != 1)).any())
        or len(branch) != n_branch
        or bool((kinds == _NONE).any())
    ):
        return None
    base_mva = float(ppc["baseMVA"])
    ybus, y_from, y_to = makeYbus(base_mva, bus, branch)
    ybus = ybus.tocsc()
    ref = int(np.flatnonzero(kinds == _REF)[0])
    pq = np.flatnonzero(kinds != _REF).astype(np.int64)
    y_ll = ybus[pq][:, pq].tocsc()
    y_ls = np.asarray(ybus[pq][:, [ref]].todense()).ravel()
    lu = splu(y_ll, permc_spec="COLAMD", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
    lower, upper = lu.L.tocsr(), lu.U.tocsr()
    lower.sort_indices()
    upper.sort_indices()
    l_ptr, l_idx, l_val, l_diag = _split_diagonal(lower)
    u_ptr, u_idx, u_val, u_diag = _split_diagonal(upper)
    f_bus = branch[:, 0].real.astype(np.int64)
    t_bus = branch[:, 1].real.astype(np.int64)
    rows = np.arange(len(branch))
    y_from, y_to = y_from.tocsr(), y_to.tocsr()
    return ZBusSystem(
        base_mva=base_mva,
        pq=pq,
        rhs0=np.ascontiguousarray(-y_ls * v_init[ref], dtype=np.complex128),
        v0=np.ascontiguousarray(v_init, dtype=np.complex128),
        l_ptr=l_ptr,
        l_idx=l_idx,
        l_val=l_val,
        l_inv_diag=np.asarray(1.0 / l_diag, dtype=np.complex128),
        u_ptr=u_ptr,
        u_idx=u_idx,
        u_val=u_val,
        u_inv_diag=np.asarray(1.0 / u_diag, dtype=np.complex128),
        perm_r=np.asarray(lu.perm_r, dtype=np.int64),
        perm_c=np.asarray(lu.perm_c, dtype=np.int64),
        f_bus=f_bus,
        t_bus=t_bus,
        y_ff=_entries(y_from, rows, f_bus),
        y_ft=_entries(y_from, rows, t_bus),
        y_tf=_entries(y_to, rows, f_bus),
        y_tt=_entries(y_to, rows, t_bus),
    )


def solve_zbus(
    system: ZBusSystem, p_mw: npt.NDArray[np.float64], q_mvar: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.complex128], npt.NDArray[np.bool_]]:
    """Bus voltages of every step (complex, p.u.) and which steps converged.

    ``p_mw`` and ``q_mvar`` are the net demand per bus in bus order, load-positive, shape
    (time, bus). A step that did not converge keeps its last iterate.
    """
    s = system
    p_pu, q_pu = np.ascontiguousarray(p_mw / s.base_mva), np.ascontiguousarray(q_mvar / s.base_mva)
    voltages = np.empty(p_pu.shape, dtype=np.complex128)
    converged = np.zeros(p_pu.shape[0], dtype=np.bool_)
    constants = (
        s.l_ptr,
        s.l_idx,
        s.l_val,
        s.l_inv_diag,
        s.u_ptr,
        s.u_idx,
        s.u_val,
        s.u_inv_diag,
        s.perm_r,
        s.perm_c,
        s.pq,
        s.rhs0,
        s.v0,
        TOL_PU,
        MAX_ITER,
    )
    _by_steps(lambda rows: _iterate(p_pu[rows], q_pu[rows], *constants, voltages[rows], converged[rows]), len(p_pu))
    return voltages, converged


def solve_rows(
    system: ZBusSystem,
    p_mw: npt.NDArray[np.float64],
    q_mvar: npt.NDArray[np.float64],
    branch: tuple[npt.NDArray[np.float64], ...],
) -> tuple[npt.NDArray[Any], ...]:
    """:func:`solve_zbus` and :func:`branch_results` of a few steps in one compiled call (the same numbers).

    For one step at a time, where the calls' overhead would outweigh the step. ``branch`` are
    ``(v1_kv, v2_kv, rating1_ka, rating2_ka)``. Returns the voltages, which steps converged, the
    branch loading [%] and the losses [kW], [kvar].
    """
    s = system
    p_pu, q_pu = np.ascontiguousarray(p_mw / s.base_mva), np.ascontiguousarray(q_mvar / s.base_mva)
    n_steps = p_pu.shape[0]
    voltages = np.empty(p_pu.shape, dtype=np.complex128)
    converged = np.zeros(n_steps, dtype=np.bool_)
    loading = np.empty((n_steps, s.f_bus.shape[0]), dtype=np.float32)
    p_loss_kw, q_loss_kvar = np.empty(n_steps), np.empty(n_steps)
    lu, start, ends, base_mva = kernel_system(s)
    rows_kernel(p_pu, q_pu, lu, start, ends, base_mva, branch, voltages, converged, loading, p_loss_kw, q_loss_kvar)
    return voltages, converged, loading, p_loss_kw, q_loss_kvar


def kernel_system(s: ZBusSystem) -> tuple[Any, ...]:
    """The system as :func:`rows_kernel` takes it: the LU factors, the start, the branch ends and the base [MVA]."""
    lu = (s.l_ptr, s.l_idx, s.l_val, s.l_inv_diag, s.u_ptr, s.u_idx, s.u_val, s.u_inv_diag, s.perm_r, s.perm_c)
    return lu, (s.pq, s.rhs0, s.v0), (s.f_bus, s.t_bus, s.y_ff, s.y_ft, s.y_tf, s.y_tt), s.base_mva


@numba.njit(cache=True, nogil=True)
def rows_kernel(
    p_pu: npt.NDArray[np.float64],
    q_pu: npt.NDArray[np.float64],
    lu: tuple[npt.NDArray[Any], ...],
    start: tuple[npt.NDArray[Any], ...],
    ends: tuple[npt.NDArray[Any], ...],
    base_mva: float,
    branch: tuple[npt.NDArray[np.float64], ...],
    voltages: npt.NDArray[np.complex128],
    converged: npt.NDArray[np.bool_],
    loading: npt.NDArray[np.float32],
    p_loss_kw: npt.NDArray[np.float64],
    q_loss_kvar: npt.NDArray[np.float64],
) -> None:  # pragma: no cover - compiled
    """:func:`_iterate` then :func:`_branches` on the same steps."""
    l_ptr, l_idx, l_val, l_inv, u_ptr, u_idx, u_val, u_inv, perm_r, perm_c = lu
    pq, rhs0, v0 = start
    _iterate(
        p_pu,
        q_pu,
        l_ptr,
        l_idx,
        l_val,
        l_inv,
        u_ptr,
        u_idx,
        u_val,
        u_inv,
        perm_r,
        perm_c,
        pq,
        rhs0,
        v0,
        TOL_PU,
        MAX_ITER,
        voltages,
        converged,
    )
    f_bus, t_bus, y_ff, y_ft, y_tf, y_tt = ends
    v1_kv, v2_kv, rating1_ka, rating2_ka = branch
    _branches(
        voltages,
        f_bus,
        t_bus,
        y_ff,
        y_ft,
        y_tf,
        y_tt,
        base_mva,
        v1_kv,
        v2_kv,
        rating1_ka,
        rating2_ka,
        loading,
        p_loss_kw,
        q_loss_kvar,
    )


def branch_results(
    system: ZBusSystem,
    v: npt.NDArray[np.complex128],
    v1_kv: npt.NDArray[np.float64],
    v2_kv: npt.NDArray[np.float64],
    rating1_ka: npt.NDArray[np.float64],
    rating2_ka: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Branch loading (larger end against its rating) and the grid's losses per step ([%], [kW], [kvar])."""
    s = system
    constants = (s.f_bus, s.t_bus, s.y_ff, s.y_ft, s.y_tf, s.y_tt, s.base_mva, v1_kv, v2_kv, rating1_ka, rating2_ka)
    loading = np.empty((v.shape[0], s.f_bus.shape[0]), dtype=np.float32)
    p_loss_kw, q_loss_kvar = np.empty(v.shape[0]), np.empty(v.shape[0])
    _by_steps(lambda rows: _branches(v[rows], *constants, loading[rows], p_loss_kw[rows], q_loss_kvar[rows]), len(v))
    return loading, p_loss_kw, q_loss_kvar


def _by_steps(kernel: Callable[[slice], None], n_steps: int) -> None:
    """Run ``kernel(rows)`` over all steps: the two halves at once on two cores (the kernels free the GIL).

    Every step is computed on its own, so the halves give the same numbers as one pass.
    """
    if n_steps < PARALLEL_MIN_STEPS or not second_thread():
        kernel(slice(0, n_steps))
        return
    half = n_steps // 2
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="power-flow") as pool:
        second = pool.submit(kernel, slice(half, n_steps))
        kernel(slice(0, half))
        second.result()


def _split_diagonal(matrix: Any) -> tuple[npt.NDArray[Any], ...]:
    """CSR arrays without the diagonal, and the diagonal."""
    diagonal = matrix.diagonal().astype(np.complex128)
    off = matrix.copy()
    off.setdiag(0)
    off.eliminate_zeros()
    off.sort_indices()
    return (
        off.indptr.astype(np.int64),
        off.indices.astype(np.int64),
        off.data.astype(np.complex128),
        diagonal,
    )


def _entries(matrix: Any, rows: npt.NDArray[np.int64], cols: npt.NDArray[np.int64]) -> npt.NDArray[np.complex128]:
    return np.asarray(matrix[rows, cols], dtype=np.complex128).ravel()


@numba.njit(cache=True, nogil=True)
def _iterate(
    p_pu: npt.NDArray[np.float64],
    q_pu: npt.NDArray[np.float64],
    l_ptr: npt.NDArray[np.int64],
    l_idx: npt.NDArray[np.int64],
    l_val: npt.NDArray[np.complex128],
    l_inv: npt.NDArray[np.complex128],
    u_ptr: npt.NDArray[np.int64],
    u_idx: npt.NDArray[np.int64],
    u_val: npt.NDArray[np.complex128],
    u_inv: npt.NDArray[np.complex128],
    perm_r: npt.NDArray[np.int64],
    perm_c: npt.NDArray[np.int64],
    pq: npt.NDArray[np.int64],
    rhs0: npt.NDArray[np.complex128],
    v0: npt.NDArray[np.complex128],
    tol: float,
    max_iter: int,
    voltages: npt.NDArray[np.complex128],
    converged: npt.NDArray[np.bool_],
) -> None:  # pragma: no cover - compiled
    """Fill ``voltages`` and ``converged`` (zeros) of the steps of ``p_pu``/``q_pu``."""
    n_steps, n_bus = p_pu.shape
    n = pq.shape[0]
    v_load = np.empty(n, dtype=np.complex128)
    work = np.empty(n, dtype=np.complex128)
    for t in range(n_steps):
        for i in range(n):
            v_load[i] = v0[pq[i]]
        for _ in range(max_iter):
            for i in range(n):  # injected current conj(S / V) = conj(S) V / |V|^2, S = -(p + jq)
                bus = pq[i]
                v = v_load[i]
                scale = 1.0 / (v.real * v.real + v.imag * v.imag)
                p, q = p_pu[t, bus], q_pu[t, bus]
                current = complex(-(p * v.real + q * v.imag) * scale, (q * v.real - p * v.imag) * scale)
                work[perm_r[i]] = current + rhs0[i]
            for i in range(n):  # L y = c, in place
                acc = work[i]
                for k in range(l_ptr[i], l_ptr[i + 1]):
                    acc -= l_val[k] * work[l_idx[k]]
                work[i] = acc * l_inv[i]
            for i in range(n - 1, -1, -1):  # U z = y, in place
                acc = work[i]
                for k in range(u_ptr[i], u_ptr[i + 1]):
                    acc -= u_val[k] * work[u_idx[k]]
                work[i] = acc * u_inv[i]
            change = 0.0
            for i in range(n):
                new = work[perm_c[i]]
                d = new - v_load[i]
                step = d.real * d.real + d.imag * d.imag
                if step > change:
                    change = step
                v_load[i] = new
            if change < tol * tol:
                converged[t] = True
                break
        for b in range(n_bus):
            voltages[t, b] = v0[b]
        for i in range(n):
            voltages[t, pq[i]] = v_load[i]


@numba.njit(cache=True, nogil=True)
def _branches(
    v: npt.NDArray[np.complex128],
    f_bus: npt.NDArray[np.int64],
    t_bus: npt.NDArray[np.int64],
    y_ff: npt.NDArray[np.complex128],
    y_ft: npt.NDArray[np.complex128],
    y_tf: npt.NDArray[np.complex128],
    y_tt: npt.NDArray[np.complex128],
    base_mva: float,
    v1_kv: npt.NDArray[np.float64],
    v2_kv: npt.NDArray[np.float64],
    rating1_ka: npt.NDArray[np.float64],
    rating2_ka: npt.NDArray[np.float64],
    loading: npt.NDArray[np.float32],
    p_loss_kw: npt.NDArray[np.float64],
    q_loss_kvar: npt.NDArray[np.float64],
) -> None:  # pragma: no cover - compiled
    """Fill the branch loadings and the losses of the steps of ``v``."""
    n_steps, n_branch = v.shape[0], f_bus.shape[0]
    sqrt3 = np.sqrt(3.0)
    for t in range(n_steps):
        loss = 0.0 + 0.0j
        for b in range(n_branch):
            v1 = v[t, f_bus[b]]
            v2 = v[t, t_bus[b]]
            s1 = v1 * (y_ff[b] * v1 + y_ft[b] * v2).conjugate() * base_mva
            s2 = v2 * (y_tf[b] * v1 + y_tt[b] * v2).conjugate() * base_mva
            i1_ka = abs(s1) / (sqrt3 * v1_kv[b] * max(abs(v1), 1e-9))
            i2_ka = abs(s2) / (sqrt3 * v2_kv[b] * max(abs(v2), 1e-9))
            loading[t, b] = max(i1_ka / rating1_ka[b], i2_ka / rating2_ka[b]) * 100.0
            loss += s1 + s2
        p_loss_kw[t] = loss.real * 1000.0
        q_loss_kvar[t] = loss.imag * 1000.0
