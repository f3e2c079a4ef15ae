"""XOR, the four points of its truth table, with a 2-8-1 tanh network (full batch)."""

from rmsjax import data
from rmsjax.tasks.classifier import ClassifierTask

TASK = ClassifierTask(
    name="xor",
    description="XOR with a 2-8-1 tanh network and a sigmoid output (full batch)",
    loader=lambda data_dir, **options: data.load_xor(),
    model={"type": "mlp", "hidden": (8,), "activation": "tanh"},
    loss="sigmoid_binary_cross_entropy",
    defaults={"learning_rate": 0.01, "decay": 0.9},
    epochs=500,
    batch_size=4,
    sweep_space={"learning_rate": (1e-3, 3e-3, 1e-2, 3e-2, 1e-1), "decay": (0.9, 0.99)},
    sgd_learning_rate=0.5,
)
