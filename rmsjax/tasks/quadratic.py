"""The bowl ``x^2 + y^2`` from ``(5, 2.5)``: RMSprop takes steps of about ``learning_rate``."""

from rmsjax import data
from rmsjax.tasks.objective import ObjectiveTask

TASK = ObjectiveTask(
    name="quadratic",
    description="the bowl x^2 + y^2 from (5, 2.5), where RMSprop takes fixed-size steps",
    loader=lambda data_dir, **options: data.get_problem("quadratic"),
    defaults={"learning_rate": 0.1, "decay": 0.9},
    epochs=100,
    sweep_space={"learning_rate": (0.01, 0.03, 0.1, 0.3, 1.0), "decay": (0.9, 0.99)},
    sgd_learning_rate=0.1,
)
