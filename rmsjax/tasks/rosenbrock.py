"""Rosenbrock's banana-shaped valley from ``(-1.5, 2.5)``, minimum at ``(1, 1)``."""

from rmsjax import data
from rmsjax.tasks.objective import ObjectiveTask

TASK = ObjectiveTask(
    name="rosenbrock",
    description="Rosenbrock's banana-shaped valley from (-1.5, 2.5), minimum at (1, 1)",
    loader=lambda data_dir, **options: data.get_problem("rosenbrock"),
    defaults={"learning_rate": 0.01, "decay": 0.9},
    epochs=1000,
    sweep_space={"learning_rate": (1e-3, 3e-3, 1e-2, 3e-2, 1e-1), "decay": (0.9, 0.99)},
    sgd_learning_rate=1e-3,  # gradient descent at 1e-3, the step that stays stable in the valley
)
