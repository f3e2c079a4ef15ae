"""MNIST handwritten digits with an MLP 784-128-10 (IDX files in ``data_dir``, or tfds)."""

from rmsjax import data
from rmsjax.tasks.classifier import ClassifierTask

TASK = ClassifierTask(
    name="mnist",
    description="MNIST handwritten digits, MLP 784-128-10 ReLU",
    loader=data.load_mnist,
    needs_data_dir=True,
    tfds=("mnist", "storage.googleapis.com"),
    model={"type": "mlp", "hidden": (128,), "activation": "relu"},
    loss="softmax_cross_entropy",
    validation=0.2,
    defaults={"learning_rate": 1e-3, "decay": 0.9},
    epochs=20,
    batch_size=128,
    sweep_space={"learning_rate": (3e-4, 1e-3, 3e-3), "decay": (0.9, 0.99)},
)
