"""User-facing optimizers: :func:`rmsprop` and the framework presets, each an ``optax.chain``.

Where the frameworks differ:

=================  ==========  ===============  ===================  ========================
function           eps         accumulator ν₀   learning rate        weight decay
=================  ==========  ===============  ===================  ========================
``rmsprop``        outside √   0                inside momentum      L2 on the gradient
``torch_rmsprop``  outside √   0                outside momentum     L2 on the gradient
``keras_rmsprop``  inside √    0                inside momentum      decoupled, × lr
``tf1_rmsprop``    inside √    1                inside momentum      (none)
``optax.rmsprop``  inside √    0                inside momentum      (none)
=================  ==========  ===============  ===================  ========================

"Inside momentum" means the buffer accumulates ``lr * g / rms`` and the step is the buffer;
"outside" means the buffer accumulates ``g / rms`` and the step is ``lr * buffer``. The two agree
for a constant learning rate and differ when it changes during training.

Complex parameters: ``torch_rmsprop`` treats real and imaginary parts as separate parameters
(PyTorch's ``view_as_real``); the others keep one second moment of :math:`|g|^2` (optax's rule).
"""

from __future__ import annotations

from typing import Any

import chex
import optax

from rmsjax._src import transform, validation
from rmsjax._src.transform import ScalarOrSchedule


def rmsprop(
    learning_rate: ScalarOrSchedule = 0.01,
    decay: chex.Numeric = 0.9,
    eps: chex.Numeric = 1e-8,
    *,
    eps_in_sqrt: bool = False,
    initial_scale: chex.Numeric = 0.0,
    centered: bool = False,
    momentum: chex.Numeric | None = None,
    nesterov: bool = False,
    weight_decay: chex.Numeric = 0.0,
    bias_correction: bool = False,
    maximize: bool = False,
    nu_dtype: Any = None,
) -> optax.GradientTransformation:
    r"""RMSprop: gradient descent with each coordinate divided by its running RMS.

    With no arguments this is the rule of Hinton's lecture 6e as usually written in NumPy:

    .. math::

        \nu_t = \rho\,\nu_{t-1} + (1 - \rho)\,g_t^2, \qquad
        \theta_t = \theta_{t-1} - \eta\,\frac{g_t}{\sqrt{\nu_t} + \epsilon},
        \qquad \nu_0 = 0,\ \eta = 0.01,\ \rho = 0.9,\ \epsilon = 10^{-8}.

    Options, in the order they act on the gradient :math:`g`: ``maximize`` negates it;
    ``weight_decay`` :math:`\lambda` adds :math:`\lambda\theta` to it (coupled L2, as PyTorch);
    :func:`rmsjax.scale_by_rms` divides it by the RMS (``eps_in_sqrt``, ``initial_scale``,
    ``centered``, ``bias_correction``, ``nu_dtype`` are passed there); it is scaled by
    :math:`-\eta`; and with ``momentum`` :math:`\beta` a buffer
    :math:`m_t = \beta m_{t-1} + u_t` is kept and applied (``nesterov``:
    :math:`u_t + \beta m_t`). The learning rate is thus *inside* the momentum buffer, as in optax,
    Keras and TF1 (see :func:`torch_rmsprop` for PyTorch's order).

    With ``eps_in_sqrt=True`` this matches :func:`optax.rmsprop` for every combination of its
    options. Complex parameters follow optax's convention too: one real second moment per
    entry, the running mean of :math:`|g|^2` (see :func:`torch_rmsprop` for PyTorch's).

    Args:
      learning_rate: :math:`\eta` >= 0, or an optax schedule (a function of the step count).
      decay: :math:`\rho` in [0, 1).
      eps: :math:`\epsilon` >= 0.
      eps_in_sqrt: put ``eps`` inside the square root (optax, Keras, TF1) instead of outside.
      initial_scale: the value the second moment starts at (TF1 uses 1).
      centered: divide by the running standard deviation (Graves, 2013).
      momentum: :math:`\beta` in [0, 1), or None for no momentum buffer. Any value other than
        None, ``0.0`` or an array included, keeps a buffer, so a sweep can include zero.
      nesterov: use Nesterov momentum; needs ``momentum``.
      weight_decay: :math:`\lambda` >= 0, the coupled L2 coefficient. ``update`` then needs
        ``params``.
      bias_correction: divide the moments by :math:`1 - \rho^t`.
      maximize: ascend the objective instead of descending it.
      nu_dtype: dtype to store the second moment in (e.g. ``jnp.bfloat16``, which is rounded
        stochastically so that it keeps decaying: see :func:`rmsjax.scale_by_rms`).

    Every numeric argument may be a Python float or a JAX scalar, traced or not, so the optimizer
    can be built inside a function that is ``jit``-ed and ``vmap``-ed over its hyperparameters.
    Concrete bad values raise :class:`rmsjax.HyperparameterError` (a ``ValueError``) naming the
    argument; traced values cannot be checked and pass through.

    Returns:
      An :class:`optax.GradientTransformation`.

    Example:
      >>> import jax, jax.numpy as jnp, optax, rmsjax
      >>> params = {"x": jnp.array(5.0)}
      >>> opt = optax.chain(optax.clip_by_global_norm(10.0), rmsjax.rmsprop(0.1))
      >>> state = opt.init(params)
      >>> for _ in range(3):
      ...     grads = jax.grad(lambda p: p["x"] ** 2)(params)
      ...     updates, state = opt.update(grads, state, params)
      ...     params = optax.apply_updates(params, updates)
      >>> params["x"]
      Array(4.2..., dtype=float32)

    References:
      Hinton, Srivastava, Swersky, *Neural Networks for Machine Learning*, lecture 6e (2012).
      Graves, *Generating Sequences With Recurrent Neural Networks*, arXiv:1308.0850 (2013).
    """
    validation.check_rate("learning_rate", learning_rate)
    if momentum is not None:
        validation.check_interval("momentum", momentum, 0.0, 1.0)
    validation.check_bool("nesterov", nesterov)
    validation.check_nonnegative("weight_decay", weight_decay)
    validation.check_bool("maximize", maximize)
    if nesterov and momentum is None:
        raise validation.HyperparameterError(
            "nesterov", nesterov, "`nesterov`=True needs `momentum`, got momentum=None"
        )
    return optax.chain(
        transform.negate() if maximize else optax.identity(),
        transform.add_l2(weight_decay),
        transform.scale_by_rms(
            decay,
            eps,
            eps_in_sqrt=eps_in_sqrt,
            initial_scale=initial_scale,
            centered=centered,
            bias_correction=bias_correction,
            nu_dtype=nu_dtype,
        ),
        transform.scale_by_learning_rate(learning_rate),
        transform.trace(momentum, nesterov) if momentum is not None else optax.identity(),
    )


def torch_rmsprop(
    lr: ScalarOrSchedule = 0.01,
    alpha: chex.Numeric = 0.99,
    eps: chex.Numeric = 1e-8,
    weight_decay: chex.Numeric = 0.0,
    momentum: chex.Numeric = 0.0,
    centered: bool = False,
    maximize: bool = False,
) -> optax.GradientTransformation:
    r"""``torch.optim.RMSprop``, with its argument names, defaults and semantics.

    .. math::

        g &\leftarrow \pm g + \lambda\theta, \qquad
        \nu_t = \alpha\nu_{t-1} + (1-\alpha) g^2, \qquad
        d_t = \sqrt{\nu_t} + \epsilon \quad(\text{centered: } \sqrt{\nu_t - \mu_t^2} + \epsilon)

        b_t &= \beta b_{t-1} + g / d_t, \qquad \theta_t = \theta_{t-1} - \eta_t b_t.

    PyTorch's conventions: eps outside the root, accumulator starting at zero, weight decay added
    to the gradient, and the learning rate *outside* the momentum buffer, so trajectories still
    match when the learning rate changes every step (``lr`` may be an optax schedule, the
    counterpart of a ``torch.optim.lr_scheduler`` stepped once per step). As in PyTorch,
    ``momentum=0`` keeps no buffer; unlike PyTorch, centered variance is clamped at zero.

    Complex parameters are treated as PyTorch treats them (``torch.view_as_real``): the real and
    imaginary parts are two real parameters, each with its own second moment (and running mean
    when centered). The state's ``nu`` for a complex leaf of shape ``s`` has shape ``s + (2,)``.
    (:func:`rmsprop` instead keeps one second moment of :math:`|g|^2`, as optax does.)

    Example:
      >>> import jax.numpy as jnp, optax, rmsjax
      >>> opt = rmsjax.torch_rmsprop(lr=0.01, momentum=0.9)
      >>> params = jnp.ones(3)
      >>> updates, _ = opt.update(jnp.full(3, 0.5), opt.init(params), params)
      >>> updates  # -lr / sqrt(1 - alpha) on the first step
      Array([-0.1, -0.1, -0.1], dtype=float32)

    References:
      PyTorch documentation and source of ``torch.optim.RMSprop``.
      Hinton, Srivastava, Swersky, *Neural Networks for Machine Learning*, lecture 6e (2012);
      Graves, *Generating Sequences With Recurrent Neural Networks*, arXiv:1308.0850 (2013),
      for ``centered=True``.
    """
    validation.check_rate("lr", lr)
    validation.check_interval("alpha", alpha, 0.0, 1.0)
    validation.check_nonnegative("eps", eps)
    validation.check_nonnegative("weight_decay", weight_decay)
    validation.check_interval("momentum", momentum, 0.0, 1.0)
    validation.check_bool("centered", centered)
    validation.check_bool("maximize", maximize)
    return optax.chain(
        transform.negate() if maximize else optax.identity(),
        transform.add_l2(weight_decay),
        transform.split_complex(
            transform.scale_by_rms(alpha, eps, eps_in_sqrt=False, centered=centered)
        ),
        _momentum_unless_python_zero(momentum),
        transform.scale_by_learning_rate(lr),
    )


def keras_rmsprop(
    learning_rate: ScalarOrSchedule = 0.001,
    rho: chex.Numeric = 0.9,
    momentum: chex.Numeric = 0.0,
    epsilon: chex.Numeric = 1e-7,
    centered: bool = False,
    weight_decay: chex.Numeric | None = None,
) -> optax.GradientTransformation:
    r"""Keras 3's ``keras.optimizers.RMSprop``, with its argument names and defaults.

    .. math::

        \nu_t = \rho\nu_{t-1} + (1-\rho) g^2, \qquad
        m_t = \beta m_{t-1} + \frac{\eta g}{\sqrt{\nu_t + \epsilon}}, \qquad
        \theta_t = \theta_{t-1} - \theta_{t-1}\lambda\eta - m_t.

    Keras's conventions: eps inside the root, accumulator starting at zero, the learning rate
    inside the momentum buffer, and decoupled weight decay: before each step Keras shrinks every
    variable by ``variable * weight_decay * learning_rate`` and then applies the step computed
    from the gradient at the old variable. ``momentum=0`` keeps no buffer, as in Keras.

    Complex parameters follow optax's convention (one real second moment of :math:`|g|^2` per
    entry); parity with Keras is tested for real parameters only.

    Example:
      >>> import jax.numpy as jnp, rmsjax
      >>> opt = rmsjax.keras_rmsprop(learning_rate=0.1, weight_decay=0.5)
      >>> params = jnp.array([2.0])
      >>> updates, _ = opt.update(jnp.array([0.0]), opt.init(params), params)
      >>> updates  # no gradient: only the decay, -2.0 * 0.5 * 0.1
      Array([-0.1], dtype=float32)

    References:
      Keras 3 source, ``keras/src/optimizers/rmsprop.py`` and ``base_optimizer.py``.
      Hinton, Srivastava, Swersky, *Neural Networks for Machine Learning*, lecture 6e (2012);
      Graves, *Generating Sequences With Recurrent Neural Networks*, arXiv:1308.0850 (2013),
      for ``centered=True``.
    """
    _check_preset(("learning_rate", learning_rate), ("rho", rho), momentum, epsilon, centered)
    if weight_decay is not None:
        validation.check_nonnegative("weight_decay", weight_decay)
    return optax.chain(
        transform.scale_by_rms(rho, epsilon, eps_in_sqrt=True, centered=centered),
        transform.scale_by_learning_rate(learning_rate),
        _momentum_unless_python_zero(momentum),
        (
            transform.decoupled_weight_decay(weight_decay, learning_rate)
            if weight_decay is not None
            else optax.identity()
        ),
    )


def tf1_rmsprop(
    learning_rate: ScalarOrSchedule,
    decay: chex.Numeric = 0.9,
    momentum: chex.Numeric = 0.0,
    epsilon: chex.Numeric = 1e-10,
    centered: bool = False,
) -> optax.GradientTransformation:
    r"""TF1's ``tf.compat.v1.train.RMSPropOptimizer`` (the ``ApplyRMSProp`` kernel).

    .. math::

        ms_t = \rho\, ms_{t-1} + (1-\rho) g^2,\quad ms_0 = 1, \qquad
        mom_t = \beta\, mom_{t-1} + \frac{\eta g}{\sqrt{ms_t + \epsilon}}, \qquad
        \theta_t = \theta_{t-1} - mom_t.

    Centered: the denominator is :math:`\sqrt{ms_t - mg_t^2 + \epsilon}` with
    :math:`mg_t = \rho\,mg_{t-1} + (1-\rho) g`. The accumulator starting at one (not zero) makes
    the first steps small; this is the rule behind many published image-model recipes.

    Complex parameters follow optax's convention (one real second moment of :math:`|g|^2` per
    entry); parity with TF1's kernel is tested for real parameters only.

    Example:
      >>> import jax.numpy as jnp, rmsjax
      >>> opt = rmsjax.tf1_rmsprop(learning_rate=0.1)
      >>> params = jnp.zeros(1)
      >>> updates, _ = opt.update(jnp.array([1.0]), opt.init(params), params)
      >>> updates  # -0.1 / sqrt(0.9 + 0.1): the accumulator starts at one
      Array([-0.1], dtype=float32)

    References:
      TensorFlow, ``tensorflow/core/kernels/training_ops.cc`` (``ApplyRMSProp``,
      ``ApplyCenteredRMSProp``) and ``tensorflow/python/training/rmsprop.py``.
      Hinton, Srivastava, Swersky, *Neural Networks for Machine Learning*, lecture 6e (2012);
      Graves, *Generating Sequences With Recurrent Neural Networks*, arXiv:1308.0850 (2013),
      for ``centered=True``.
    """
    _check_preset(("learning_rate", learning_rate), ("decay", decay), momentum, epsilon, centered)
    return optax.chain(
        transform.scale_by_rms(
            decay, epsilon, eps_in_sqrt=True, initial_scale=1.0, centered=centered
        ),
        transform.scale_by_learning_rate(learning_rate),
        _momentum_unless_python_zero(momentum),
    )


def _momentum_unless_python_zero(momentum: chex.Numeric) -> optax.GradientTransformation:
    """A momentum buffer, left out only for a Python zero (see `validation.is_python_zero`)."""
    validation.check_interval("momentum", momentum, 0.0, 1.0)
    if validation.is_python_zero(momentum):
        return optax.identity()
    return transform.trace(momentum)


def _check_preset(rate: tuple, decay: tuple, momentum, epsilon, centered) -> None:
    """The checks the Keras and TF1 presets share, in their order (``rate`` and ``decay``:
    each ``(argument name, value)``)."""
    validation.check_rate(*rate)
    validation.check_interval(*decay, 0.0, 1.0)
    validation.check_interval("momentum", momentum, 0.0, 1.0)
    validation.check_nonnegative("epsilon", epsilon)
    validation.check_bool("centered", centered)
