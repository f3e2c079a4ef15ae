"""Learning-rate-free building blocks: the RMS scaling and the small transforms around it.

Every numeric hyperparameter here is converted to the computation dtype (at least float32) before
any arithmetic, and only ever used inside ``jnp`` math. So the same code runs under ``jit``,
``vmap`` and :func:`optax.inject_hyperparams`; a sweep over hyperparameters never recompiles, and
a Python float gives bitwise the same numbers as the equal float32 array.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rmsjax._src import validation

ArrayLike = jax.typing.ArrayLike
ScalarOrSchedule = ArrayLike | Callable[[jax.Array], jax.Array]


class ScaleByRmsState(NamedTuple):
    """State of :func:`scale_by_rms` (uncentered)."""

    # int32 scalar, the number of updates so far; None unless `bias_correction` needs it (a
    # counter costs an extra kernel launch per step, measurable on small parameters).
    count: jax.Array | None
    nu: optax.Updates  # running mean of squared gradients, one array per parameter


class ScaleByCenteredRmsState(NamedTuple):
    """State of :func:`scale_by_rms` with ``centered=True``."""

    count: jax.Array | None  # as in ScaleByRmsState
    mu: optax.Updates  # running mean of gradients, one array per parameter
    nu: optax.Updates  # running mean of squared gradients, one array per parameter


class TraceState(NamedTuple):
    """State of the momentum buffer (the field name follows :class:`optax.TraceState`)."""

    trace: optax.Params  # momentum buffer, one array per parameter


class ScaleByLearningRateState(NamedTuple):
    """State of a scheduled learning rate."""

    count: jax.Array  # int32 scalar: the step at which the schedule is evaluated next


def compute_dtype(dtype: Any) -> np.dtype:
    """The dtype moments are computed in: ``dtype`` promoted to at least float32."""
    return jnp.promote_types(dtype, jnp.float32)


def _as(value: ArrayLike, dtype: Any) -> jax.Array:
    return jnp.asarray(value, dtype=dtype)


def _load(x: jax.Array, dtype: Any) -> jax.Array:
    """``x.astype(dtype)``; from bfloat16 to float32 as the exact 16-bit shift it is."""
    if x.dtype == jnp.bfloat16 and dtype == jnp.float32:
        wide = jax.lax.bitcast_convert_type(x, jnp.uint16).astype(jnp.uint32) << 16
        return jax.lax.bitcast_convert_type(wide, jnp.float32)
    return x.astype(dtype)


def _store(x: jax.Array, dtype: Any) -> jax.Array:
    """``x.astype(dtype)``; from float32 to bfloat16 with integer ops (round to nearest even).

    The same bits as XLA's conversion, but XLA's CPU backend converts element by element while
    these integer ops vectorise, which keeps a bfloat16 second moment from costing more time
    than its halved memory traffic saves.
    """
    if x.dtype == jnp.float32 and dtype == jnp.bfloat16:
        bits = jax.lax.bitcast_convert_type(x, jnp.uint32)
        rounded = bits + (jnp.uint32(0x7FFF) + ((bits >> 16) & jnp.uint32(1)))
        out = jax.lax.bitcast_convert_type((rounded >> 16).astype(jnp.uint16), jnp.bfloat16)
        return jnp.where(jnp.isnan(x), jnp.asarray(jnp.nan, jnp.bfloat16), out)
    return x.astype(dtype)


def _map_unzip(n: int, fn: Callable[..., tuple], tree: Any, *rest: Any) -> tuple:
    """``jax.tree.map(fn, tree, *rest)`` for an ``fn`` returning ``n``-tuples: ``n`` trees."""
    treedef = jax.tree.structure(tree)
    leaves = treedef.flatten_up_to(jax.tree.map(fn, tree, *rest))
    return tuple(treedef.unflatten([leaf[i] for leaf in leaves]) for i in range(n))


def _abs_sq(x: jax.Array) -> jax.Array:
    if jnp.iscomplexobj(x):
        return jnp.real(x) ** 2 + jnp.imag(x) ** 2
    return x * x


def _real_dtype(dtype: Any) -> np.dtype:
    return jnp.finfo(dtype).dtype


def scale_by_rms(
    decay: ArrayLike = 0.9,
    eps: ArrayLike = 1e-8,
    *,
    eps_in_sqrt: bool = False,
    initial_scale: ArrayLike = 0.0,
    centered: bool = False,
    bias_correction: bool = False,
    nu_dtype: Any = None,
) -> optax.GradientTransformation:
    r"""Divide updates by the root of a running mean of their squares (RMSprop, without a rate).

    With gradient :math:`g_t`, decay :math:`\rho`, and :math:`\nu_0` = ``initial_scale``:

    .. math::

        \nu_t = \rho\,\nu_{t-1} + (1 - \rho)\,g_t^2, \qquad
        u_t = \frac{g_t}{\sqrt{\nu_t} + \epsilon}
        \quad\text{or, with ``eps_in_sqrt``,}\quad
        u_t = \frac{g_t}{\sqrt{\nu_t + \epsilon}}.

    With ``centered=True`` the running mean :math:`\mu_t = \rho\,\mu_{t-1} + (1-\rho)\,g_t` is kept
    too and :math:`\nu_t` is replaced by the running variance :math:`\max(\nu_t - \mu_t^2, 0)`
    (Graves, 2013). The clamp at zero means rounding never yields a NaN, where PyTorch and optax
    can return one. With ``bias_correction=True`` both moments are divided by
    :math:`1 - \rho^t` first, as Adam does.

    Conventions: ``eps`` goes outside the root by default (Hinton's lecture, PyTorch); pass
    ``eps_in_sqrt=True`` for the optax, Keras and TF1 convention. The accumulator starts at
    ``initial_scale`` (0 in PyTorch, Keras and optax; 1 in TF1).

    Low precision: moments are computed in at least float32 (so a small ``eps`` never underflows
    and a zero gradient gives a zero update, not NaN) and updates are cast back to the gradient's
    dtype. ``nu_dtype`` stores the second moment in another dtype, e.g. ``jnp.bfloat16`` to halve
    its memory; it is still computed in float32.

    Args:
      decay: :math:`\rho`, the decay rate of the running means, in [0, 1).
      eps: :math:`\epsilon`, added to the denominator, at least 0.
      eps_in_sqrt: add ``eps`` inside the square root instead of outside it.
      initial_scale: the value the second moment starts at.
      centered: divide by the running standard deviation instead of the running RMS.
      bias_correction: divide the moments by :math:`1 - \rho^t`.
      nu_dtype: dtype to store the second moment in; default: the parameter dtype promoted to at
        least float32.

    Every numeric argument may be a Python float or a JAX scalar, traced or not. Concrete values
    are checked here and raise :class:`ValueError`; traced values cannot be checked and pass
    through unchecked.

    Returns:
      An :class:`optax.GradientTransformation` whose state is a :class:`ScaleByRmsState` (or
      :class:`ScaleByCenteredRmsState`).

    Example:
      >>> import jax.numpy as jnp, optax, rmsjax
      >>> tx = rmsjax.scale_by_rms(decay=0.9)
      >>> state = tx.init({"w": jnp.zeros(2)})
      >>> updates, state = tx.update({"w": jnp.array([2.0, -0.5])}, state)
      >>> updates["w"]  # g / sqrt(0.1 g^2) = sign(g) * sqrt(10)
      Array([ 3.16..., -3.16...], dtype=float32)
      >>> optax.tree_utils.tree_get(state, "nu")["w"]
      Array([0.4  , 0.025], dtype=float32)

    References:
      Hinton, Srivastava, Swersky, *Neural Networks for Machine Learning*, lecture 6e (2012).
      Graves, *Generating Sequences With Recurrent Neural Networks*, arXiv:1308.0850 (2013).
    """
    validation.check_interval("decay", decay, 0.0, 1.0)
    validation.check_nonnegative("eps", eps)
    validation.check_real("initial_scale", initial_scale)
    validation.check_bool("eps_in_sqrt", eps_in_sqrt)
    validation.check_bool("centered", centered)
    validation.check_bool("bias_correction", bias_correction)
    if nu_dtype is not None:
        try:
            nu_dtype = jnp.dtype(nu_dtype)
        except TypeError as err:
            raise ValueError(f"`nu_dtype` must be a floating dtype, got {nu_dtype!r}") from err
        if not jnp.issubdtype(nu_dtype, jnp.floating):
            raise ValueError(f"`nu_dtype` must be a floating dtype, got {nu_dtype!r}")

    def init_fn(params):
        def nu_init(p):
            dtype = nu_dtype if nu_dtype is not None else _real_dtype(compute_dtype(p.dtype))
            return jnp.full(jnp.shape(p), _as(initial_scale, compute_dtype(dtype)), dtype)

        def mu_init(p):
            return jnp.zeros(jnp.shape(p), compute_dtype(p.dtype))

        count = jnp.zeros([], jnp.int32) if bias_correction else None
        nu = jax.tree.map(nu_init, params)
        if centered:
            return ScaleByCenteredRmsState(count=count, mu=jax.tree.map(mu_init, params), nu=nu)
        return ScaleByRmsState(count=count, nu=nu)

    def update_fn(updates, state, params=None):
        del params
        count = optax.safe_increment(state.count) if bias_correction else None

        def leaf(g, nu, mu=None):
            cdt = compute_dtype(g.dtype)
            rdt = _real_dtype(cdt)
            rho, epsilon = _as(decay, rdt), _as(eps, rdt)
            gc = g.astype(cdt)
            nu_new = _store(rho * _load(nu, rdt) + (1 - rho) * _abs_sq(gc), nu.dtype)
            # The step uses the second moment as stored (rounded, with a narrow `nu_dtype`): then
            # XLA reads the old one once and can update its buffer in place.
            nu_hat = _load(nu_new, rdt)
            if centered:
                mu_new = rho * mu.astype(cdt) + (1 - rho) * gc
                mu_hat = mu_new
            if bias_correction:
                correction = 1 - rho ** count.astype(rdt)
                nu_hat = nu_hat / correction
                if centered:
                    mu_hat = mu_new / correction
            if centered:
                nu_hat = jnp.maximum(nu_hat - _abs_sq(mu_hat), 0)
            if eps_in_sqrt:
                u = gc * jax.lax.rsqrt(nu_hat + epsilon)
            else:
                u = gc / (jnp.sqrt(nu_hat) + epsilon)
            out = (u.astype(g.dtype), nu_new)
            if centered:
                out += (mu_new.astype(mu.dtype),)
            return out

        if centered:
            new_updates, nu, mu = _map_unzip(3, leaf, updates, state.nu, state.mu)
            return new_updates, ScaleByCenteredRmsState(count=count, mu=mu, nu=nu)
        new_updates, nu = _map_unzip(2, leaf, updates, state.nu)
        return new_updates, ScaleByRmsState(count=count, nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)


def scale_by_learning_rate(learning_rate: ScalarOrSchedule) -> optax.GradientTransformation:
    """Multiply updates by ``-learning_rate`` (a scalar or an optax schedule of the step count).

    Unlike :func:`optax.scale_by_learning_rate`, the product is computed in at least float32 and
    cast back to the update's dtype, so a float32 learning rate never changes a bfloat16 update's
    dtype, and a Python float and a float32 array give the same bits.
    """
    if callable(learning_rate):

        def init_fn(params):
            del params
            return ScaleByLearningRateState(count=jnp.zeros([], jnp.int32))

        def update_fn(updates, state, params=None):
            del params
            lr = learning_rate(state.count)
            updates = jax.tree.map(lambda g: _scale(g, -_as(lr, _cdt(g))), updates)
            return updates, ScaleByLearningRateState(count=optax.safe_increment(state.count))

        return optax.GradientTransformation(init_fn, update_fn)

    validation.check_nonnegative("learning_rate", learning_rate)

    def init_fn(params):
        del params
        return optax.EmptyState()

    def update_fn(updates, state, params=None):
        del params
        return jax.tree.map(lambda g: _scale(g, -_as(learning_rate, _cdt(g))), updates), state

    return optax.GradientTransformation(init_fn, update_fn)


def _cdt(g):
    return _real_dtype(compute_dtype(g.dtype))


def _scale(g, s):
    return (g.astype(compute_dtype(g.dtype)) * s).astype(g.dtype)


def trace(momentum: ArrayLike, nesterov: bool = False) -> optax.GradientTransformation:
    r"""Momentum: :math:`m_t = \beta m_{t-1} + u_t`, emitting :math:`m_t` (or, with Nesterov,
    :math:`u_t + \beta m_t`).

    The buffer is kept in the parameter dtype promoted to at least float32. The state is a
    :class:`TraceState`, whose ``trace`` field matches :class:`optax.TraceState`.
    """
    validation.check_interval("momentum", momentum, 0.0, 1.0)

    def init_fn(params):
        return TraceState(
            trace=jax.tree.map(lambda p: jnp.zeros(jnp.shape(p), compute_dtype(p.dtype)), params)
        )

    def update_fn(updates, state, params=None):
        del params

        def leaf(g, m):
            cdt = jnp.promote_types(m.dtype, compute_dtype(g.dtype))
            beta = _as(momentum, _real_dtype(cdt))
            gc = g.astype(cdt)
            m_new = gc + beta * m.astype(cdt)
            out = gc + beta * m_new if nesterov else m_new
            return out.astype(g.dtype), m_new.astype(m.dtype)

        new_updates, trace = _map_unzip(2, leaf, updates, state.trace)
        return new_updates, TraceState(trace=trace)

    return optax.GradientTransformation(init_fn, update_fn)


def _require_params(params, what):
    if params is None:
        raise ValueError(f"{what} needs the parameters: call `update(updates, state, params)`")


def add_l2(weight_decay: ArrayLike) -> optax.GradientTransformation:
    r"""Coupled weight decay (an L2 penalty): :math:`g \leftarrow g + \lambda\,\theta`.

    This is PyTorch's ``weight_decay`` for RMSprop (and Adam): the decay term goes through the
    RMS scaling. For decoupled decay see :func:`decoupled_weight_decay`.
    """
    validation.check_nonnegative("weight_decay", weight_decay)
    skip = validation.is_python_zero(weight_decay)

    def init_fn(params):
        del params
        return optax.EmptyState()

    def update_fn(updates, state, params=None):
        if skip:
            return updates, state
        _require_params(params, "weight_decay")

        def leaf(g, p):
            cdt = compute_dtype(g.dtype)
            return (g.astype(cdt) + _as(weight_decay, _cdt(g)) * p.astype(cdt)).astype(g.dtype)

        return jax.tree.map(leaf, updates, params), state

    return optax.GradientTransformation(init_fn, update_fn)


def decoupled_weight_decay(
    weight_decay: ArrayLike, learning_rate: ScalarOrSchedule
) -> optax.GradientTransformation:
    r"""Keras-style decoupled decay: :math:`u \leftarrow u - \theta\lambda\eta`.

    Keras 3 shrinks each variable by ``variable * weight_decay * learning_rate`` before applying
    the optimizer's step, with the gradient taken at the old variable; as an update that is this
    term added to the step. A schedule is evaluated at the same step count as the learning rate.
    """
    validation.check_nonnegative("weight_decay", weight_decay)
    scheduled = callable(learning_rate)
    if not scheduled:
        validation.check_nonnegative("learning_rate", learning_rate)

    def init_fn(params):
        del params
        return ScaleByLearningRateState(count=jnp.zeros([], jnp.int32))

    def update_fn(updates, state, params=None):
        _require_params(params, "weight_decay")
        lr = learning_rate(state.count) if scheduled else learning_rate

        def leaf(u, p):
            cdt = compute_dtype(u.dtype)
            rdt = _real_dtype(cdt)
            # (wd * lr) first: Keras multiplies (p * wd) * lr, but XLA folds a product of two
            # compile-time constants, so only this order gives the same bits for float and array.
            decay = p.astype(cdt) * (_as(weight_decay, rdt) * _as(lr, rdt))
            return (u.astype(cdt) - decay).astype(u.dtype)

        new_state = ScaleByLearningRateState(count=optax.safe_increment(state.count))
        return jax.tree.map(leaf, updates, params), new_state

    return optax.GradientTransformation(init_fn, update_fn)


def negate() -> optax.GradientTransformation:
    """Flip the sign of the updates (``maximize=True``: ascend instead of descend)."""
    return optax.stateless(lambda updates, params=None: jax.tree.map(jnp.negative, updates))
