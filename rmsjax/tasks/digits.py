"""scikit-learn's 8x8 digits (embedded, offline) with an MLP 64-64-10: the main job."""

from rmsjax import data
from rmsjax.tasks.classifier import ClassifierTask

TASK = ClassifierTask(
    name="digits",
    description="scikit-learn's 8x8 digits, MLP 64-64-10 ReLU",
    loader=lambda data_dir, **options: data.load_digits(**options),
    data_options={"seed": 0},
    model={"type": "mlp", "hidden": (64,), "activation": "relu"},
    loss="softmax_cross_entropy",
    validation=0.2,
    defaults={"learning_rate": 1e-3, "decay": 0.9},
    epochs=30,
    batch_size=32,
    sweep_space={"learning_rate": (1e-4, 3e-4, 1e-3, 3e-3, 1e-2), "decay": (0.9, 0.99)},
)
