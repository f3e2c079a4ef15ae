"""Learning-rate-free building blocks: the RMS scaling and the small transforms around it.

Every numeric hyperparameter here is converted to the computation dtype (at least float32) before
any arithmetic, and only ever used inside ``jnp`` math. So the same code runs under ``jit``,
``vmap`` and :func:`optax.inject_hyperparams`; a sweep over hyperparameters never recompiles, and
a Python float gives bitwise the same numbers as the equal float32 array.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax

from rmsjax._src import doublefloat, stochastic_rounding, validation
from rmsjax._src.leaves import (
    abs_sq,
    as_dtype,
    check_trainable,
    compute_dtype,
    map_unzip,
    map_unzip_indexed,
    real_dtype,
)

# A hyperparameter: a Python number or a JAX scalar, traced or not; or an optax schedule of it.
ScalarOrSchedule = chex.Numeric | Callable[[chex.Numeric], chex.Numeric]


class ScaleByRmsState(NamedTuple):
    """State of :func:`scale_by_rms` (uncentered, no bias correction)."""

    nu: chex.ArrayTree  # running mean of squared gradients, one array per parameter


class ScaleByRmsWithCountState(NamedTuple):
    """State of :func:`scale_by_rms` with ``bias_correction=True``."""

    count: chex.Array  # int32 scalar, the number of updates so far
    nu: chex.ArrayTree  # as in ScaleByRmsState


class ScaleByCenteredRmsState(NamedTuple):
    """State of :func:`scale_by_rms` with ``centered=True``."""

    mu: chex.ArrayTree  # running mean of gradients, one array per parameter
    nu: chex.ArrayTree  # running mean of squared gradients, one array per parameter


class ScaleByCenteredRmsWithCountState(NamedTuple):
    """State of :func:`scale_by_rms` with ``centered=True`` and ``bias_correction=True``."""

    count: chex.Array  # int32 scalar, the number of updates so far
    mu: chex.ArrayTree  # as in ScaleByCenteredRmsState
    nu: chex.ArrayTree  # as in ScaleByCenteredRmsState


class TraceState(NamedTuple):
    """State of the momentum buffer (the field name follows :class:`optax.TraceState`)."""

    trace: chex.ArrayTree  # momentum buffer, one array per parameter


class ScaleByLearningRateState(NamedTuple):
    """State of a scheduled learning rate."""

    count: chex.Array  # int32 scalar: the step at which the schedule is evaluated next


def _step_inputs(updates, state, counted: bool, stochastic: bool):
    """What both update rules start a step with: the checked gradient's step count (None when
    uncounted), an empty cache of bias corrections, and the stochastic rounding bits (None)."""
    check_trainable(updates, "gradient")
    count = optax.safe_increment(state.count) if counted else None
    bits = stochastic_rounding.rounding_bits(count, state.nu) if stochastic else None
    return count, {}, bits


def _debias(corrections: dict, decay: chex.Numeric, count: jax.Array, rdt: Any) -> jax.Array:
    """``1 - decay**count`` (doublefloat.one_minus_power) in ``rdt``, once per dtype and step."""
    if rdt not in corrections:
        corrections[rdt] = doublefloat.one_minus_power(as_dtype(decay, rdt), count)
    return corrections[rdt]


def _rms_divide(g: jax.Array, ms: jax.Array, eps: jax.Array, eps_in_sqrt: bool) -> jax.Array:
    """``g / (sqrt(ms) + eps)`` or ``g / sqrt(ms + eps)``; a zero gradient gives a zero update.

    The guard matters only for ``eps=0`` with a zero second moment, where the quotient is 0/0;
    it is one select per element in a memory-bound loop.
    """
    if eps_in_sqrt:
        u = g * jax.lax.rsqrt(ms + eps)
    else:
        u = g / (jnp.sqrt(ms) + eps)
    return jnp.where(g == 0, g, u)


def scale_by_rms(
    decay: chex.Numeric = 0.9,
    eps: chex.Numeric = 1e-8,
    *,
    eps_in_sqrt: bool = False,
    initial_scale: chex.Numeric = 0.0,
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
    :math:`1 - \rho^t` first, as Adam does; that factor is computed to within one float32 ulp
    for every step count (``optax``'s ``1 - rho**t`` loses up to 80 ulps at :math:`\rho = 0.999`).

    Conventions: ``eps`` goes outside the root by default (Hinton's lecture, PyTorch); pass
    ``eps_in_sqrt=True`` for the optax, Keras and TF1 convention. The accumulator starts at
    ``initial_scale`` (0 in PyTorch, Keras and optax; 1 in TF1). A complex gradient enters the
    second moment as :math:`|g|^2` (optax's convention), so :math:`\nu` is real.

    A zero gradient gives a zero update, even with ``eps=0`` and a zero second moment (where
    PyTorch and optax compute 0/0 = NaN). Parameters must be floating or complex: an integer
    leaf raises a ``TypeError`` naming it (leave it out with :func:`optax.masked`).

    Low precision: moments are computed in at least float32 (so a small ``eps`` never underflows)
    and updates are cast back to the gradient's dtype. ``nu_dtype`` stores the second moment in
    another dtype, e.g. ``jnp.bfloat16`` to halve its memory; it is still computed in float32.

    bfloat16 keeps 8 significant bits. Rounded to nearest, a stored :math:`\nu` could no longer
    fall once :math:`(1 - \rho)\,\nu` is below half its spacing (from :math:`\rho \approx 0.996`
    on): it would stay near the largest value it reached, and the steps would be too small. So
    a bfloat16 :math:`\nu` is rounded *stochastically*, up or down with the probabilities that
    make it unbiased. The random bits are a hash of the step count and the element's position
    (in a leaf of up to 65,536 elements) or of the step count, the leaf's position and the value
    rounded (in a larger leaf), so no key is needed and ``jit``, ``vmap`` and a resume from a
    saved state give the same bits; for this the state keeps a ``count`` (a
    ``...WithCountState``). In a larger leaf, programs whose float32 moments differ in the last
    bit (op by op against jitted, say) round differently more often than to nearest: see
    ``rmsjax._src.stochastic_rounding.stochastic_round_bfloat16``. The price is noise: over
    10,000 steps of normal gradients whose scale changes, the stored :math:`\nu` was off from
    float32's by 0.5%, 4.4% and 3.3% on average at :math:`\rho` = 0.9, 0.999 and 0.9999 (the
    update by 0.2%, 2.2% and 1.7%), with no bias beyond 0.2% (see ``tests/test_rmsprop.py``).
    Where a gradient stays zero for thousands of steps, the relative noise of the decaying
    :math:`\nu` grows like a random walk. float16 (11 significant bits) is rounded to nearest, as
    float32 is; it freezes the same way from :math:`\rho \approx 0.9995` on.

    Args:
      decay: :math:`\rho`, the decay rate of the running means, in [0, 1).
      eps: :math:`\epsilon`, added to the denominator, at least 0.
      eps_in_sqrt: add ``eps`` inside the square root instead of outside it.
      initial_scale: the value the second moment starts at.
      centered: divide by the running standard deviation instead of the running RMS.
      bias_correction: divide the moments by :math:`1 - \rho^t`.
      nu_dtype: dtype to store the second moment in; default: the parameter dtype promoted to at
        least float32. bfloat16 is rounded stochastically (see above).

    Every numeric argument may be a Python float or a JAX scalar, traced or not. Concrete values
    are checked here and raise :class:`rmsjax.HyperparameterError` (a ``ValueError``); traced
    values cannot be checked and pass through unchecked.

    Returns:
      An :class:`optax.GradientTransformation` whose state is a :class:`ScaleByRmsState`
      (:class:`ScaleByCenteredRmsState` when centered; the ``...WithCountState`` variants, with
      a step ``count``, under bias correction or with a bfloat16 ``nu_dtype``).

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
    nu_dtype = validation.check_dtype("nu_dtype", nu_dtype)
    stochastic = stochastic_rounding.rounds_stochastically(nu_dtype)
    if centered:
        return _scale_by_centered_rms(
            decay, eps, eps_in_sqrt, initial_scale, bias_correction, nu_dtype
        )
    counted = bias_correction or stochastic

    def init_fn(params):
        check_trainable(params)
        nu = _nu_init(params, initial_scale, nu_dtype)
        if counted:
            return ScaleByRmsWithCountState(count=jnp.zeros([], jnp.int32), nu=nu)
        return ScaleByRmsState(nu=nu)

    def update_fn(updates, state, params=None):
        del params
        count, corrections, bits = _step_inputs(updates, state, counted, stochastic)

        def leaf(index, g, nu):
            gc, rho, epsilon = _leaf_inputs(g, decay, eps)
            nu_new, nu_hat = _second_moment(gc, nu, rho, bits[index] if stochastic else None)
            if bias_correction:
                nu_hat = nu_hat / _debias(corrections, decay, count, rho.dtype)
            return _rms_divide(gc, nu_hat, epsilon, eps_in_sqrt).astype(g.dtype), nu_new

        new_updates, nu = map_unzip_indexed(2, leaf, updates, state.nu)
        if counted:
            return new_updates, ScaleByRmsWithCountState(count=count, nu=nu)
        return new_updates, ScaleByRmsState(nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)


def _scale_by_centered_rms(
    decay, eps, eps_in_sqrt, initial_scale, bias_correction, nu_dtype
) -> optax.GradientTransformation:
    """:func:`scale_by_rms` with ``centered=True``: divide by the running standard deviation."""
    stochastic = stochastic_rounding.rounds_stochastically(nu_dtype)
    counted = bias_correction or stochastic

    def init_fn(params):
        check_trainable(params)
        nu = _nu_init(params, initial_scale, nu_dtype)
        mu = jax.tree.map(lambda p: jnp.zeros(jnp.shape(p), compute_dtype(p.dtype)), params)
        if counted:
            count = jnp.zeros([], jnp.int32)
            return ScaleByCenteredRmsWithCountState(count=count, mu=mu, nu=nu)
        return ScaleByCenteredRmsState(mu=mu, nu=nu)

    def update_fn(updates, state, params=None):
        del params
        count, corrections, bits = _step_inputs(updates, state, counted, stochastic)

        def leaf(index, g, nu, mu):
            gc, rho, epsilon = _leaf_inputs(g, decay, eps)
            nu_new, nu_hat = _second_moment(gc, nu, rho, bits[index] if stochastic else None)
            mu_new = rho * mu.astype(gc.dtype) + (1 - rho) * gc
            mu_hat = mu_new
            if bias_correction:
                correction = _debias(corrections, decay, count, rho.dtype)
                nu_hat, mu_hat = nu_hat / correction, mu_new / correction
            variance = jnp.maximum(nu_hat - abs_sq(mu_hat), 0)
            u = _rms_divide(gc, variance, epsilon, eps_in_sqrt)
            return u.astype(g.dtype), nu_new, mu_new.astype(mu.dtype)

        new_updates, nu, mu = map_unzip_indexed(3, leaf, updates, state.nu, state.mu)
        if counted:
            return new_updates, ScaleByCenteredRmsWithCountState(count=count, mu=mu, nu=nu)
        return new_updates, ScaleByCenteredRmsState(mu=mu, nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)


def _nu_init(params: chex.ArrayTree, initial_scale: chex.Numeric, nu_dtype: Any) -> chex.ArrayTree:
    def leaf(p):
        dtype = nu_dtype if nu_dtype is not None else real_dtype(compute_dtype(p.dtype))
        return jnp.full(jnp.shape(p), as_dtype(initial_scale, compute_dtype(dtype)), dtype)

    return jax.tree.map(leaf, params)


def _leaf_inputs(g: jax.Array, decay: chex.Numeric, eps: chex.Numeric) -> tuple:
    """The gradient in its computation dtype, and ``decay`` and ``eps`` in the real one."""
    cdt = compute_dtype(g.dtype)
    rdt = real_dtype(cdt)
    return g.astype(cdt), as_dtype(decay, rdt), as_dtype(eps, rdt)


def _second_moment(
    gc: jax.Array,
    nu: jax.Array,
    rho: jax.Array,
    bits: Callable[[jax.Array], jax.Array] | None = None,
) -> tuple[jax.Array, jax.Array]:
    """The new second moment as stored (in ``nu.dtype``) and as the step reads it.

    The step uses the second moment as stored (rounded, with a narrow ``nu_dtype``): then XLA
    reads the old one once and can update its buffer in place. With ``bits`` (bfloat16 storage:
    a function from the exact moment to its random bits) the rounding is stochastic, see
    :func:`stochastic_rounding.stochastic_round_bfloat16`; without, to nearest.
    """
    exact = rho * nu.astype(rho.dtype) + (1 - rho) * abs_sq(gc)
    if bits is None:
        nu_new = exact.astype(nu.dtype)
    else:
        nu_new = stochastic_rounding.stochastic_round_bfloat16(exact, bits(exact))
    return nu_new, nu_new.astype(rho.dtype)


def split_complex(inner: optax.GradientTransformation) -> optax.GradientTransformation:
    """Apply ``inner`` to complex leaves as pairs of reals (PyTorch's ``view_as_real``).

    Each complex leaf of shape ``s`` reaches ``inner`` as a real array of shape ``s + (2,)``
    (real and imaginary parts), and its update comes back as complex. An RMS scaling then keeps
    one second moment per part, as PyTorch's optimizers do, instead of one for :math:`|g|^2`.
    """

    def to_real(x):
        return jnp.stack([jnp.real(x), jnp.imag(x)], -1) if jnp.iscomplexobj(x) else x

    def init_fn(params):
        return inner.init(jax.tree.map(to_real, params))

    def update_fn(updates, state, params=None):
        real_params = None if params is None else jax.tree.map(to_real, params)
        new, state = inner.update(jax.tree.map(to_real, updates), state, real_params)

        def back(u, g):
            return jax.lax.complex(u[..., 0], u[..., 1]) if jnp.iscomplexobj(g) else u

        return jax.tree.map(back, new, updates), state

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
            updates = jax.tree.map(lambda g: _scale(g, -as_dtype(lr, _cdt(g))), updates)
            return updates, ScaleByLearningRateState(count=optax.safe_increment(state.count))

        return optax.GradientTransformation(init_fn, update_fn)

    validation.check_nonnegative("learning_rate", learning_rate)

    def init_fn(params):
        del params
        return optax.EmptyState()

    def update_fn(updates, state, params=None):
        del params
        return jax.tree.map(lambda g: _scale(g, -as_dtype(learning_rate, _cdt(g))), updates), state

    return optax.GradientTransformation(init_fn, update_fn)


def _cdt(g):
    return real_dtype(compute_dtype(g.dtype))


def _scale(g, s):
    return (g.astype(compute_dtype(g.dtype)) * s).astype(g.dtype)


def trace(momentum: chex.Numeric, nesterov: bool = False) -> optax.GradientTransformation:
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
            beta = as_dtype(momentum, real_dtype(cdt))
            gc = g.astype(cdt)
            m_new = gc + beta * m.astype(cdt)
            out = gc + beta * m_new if nesterov else m_new
            return out.astype(g.dtype), m_new.astype(m.dtype)

        new_updates, trace = map_unzip(2, leaf, updates, state.trace)
        return new_updates, TraceState(trace=trace)

    return optax.GradientTransformation(init_fn, update_fn)


def _require_params(params, what):
    if params is None:
        raise ValueError(f"{what} needs the parameters: call `update(updates, state, params)`")


def add_l2(weight_decay: chex.Numeric) -> optax.GradientTransformation:
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
            return (g.astype(cdt) + as_dtype(weight_decay, _cdt(g)) * p.astype(cdt)).astype(g.dtype)

        return jax.tree.map(leaf, updates, params), state

    return optax.GradientTransformation(init_fn, update_fn)


def decoupled_weight_decay(
    weight_decay: chex.Numeric, learning_rate: ScalarOrSchedule
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
            rdt = real_dtype(cdt)
            # (wd * lr) first: Keras multiplies (p * wd) * lr, but XLA folds a product of two
            # compile-time constants, so only this order gives the same bits for float and array.
            decay = p.astype(cdt) * (as_dtype(weight_decay, rdt) * as_dtype(lr, rdt))
            return (u.astype(cdt) - decay).astype(u.dtype)

        new_state = ScaleByLearningRateState(count=optax.safe_increment(state.count))
        return jax.tree.map(leaf, updates, params), new_state

    return optax.GradientTransformation(init_fn, update_fn)


def negate() -> optax.GradientTransformation:
    """Flip the sign of the updates (``maximize=True``: ascend instead of descend)."""
    return optax.stateless(lambda updates, params=None: jax.tree.map(jnp.negative, updates))
