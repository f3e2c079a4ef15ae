"""Reserved column names (rmsjax/_engine/columns.py): refused as axes and as metrics."""

import sys

import jax
import optuna
import pytest

import rmsjax
from rmsjax._engine import columns

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import _staged_helpers as helpers  # noqa: E402

KEY = jax.random.key(0)
RULE = rmsjax.pbt("loss", mode="min", interval=1, fraction=0.5)
NAMES = ["config_id", "seed", "diverged", "budget", "pruned", "copies"]


def test_every_column_to_pandas_adds_is_reserved():
    # Issue 22: a `seed=[3, 5]` axis showed the seed column's [0, 0, 0, 0] in to_pandas().
    trainer = rmsjax.Trainer(helpers.init, helpers.advance)
    space = rmsjax.grid(learning_rate=[0.1, 0.2], decay=[0.9])
    plain = rmsjax.sweep(lambda h, k: {"loss": h["learning_rate"]}, space, key=KEY,
                         progress=False).to_pandas()  # fmt: skip
    staged = rmsjax.sweep(trainer, space, key=KEY, budget=2, progress=False).to_pandas()
    pbt = rmsjax.sweep(trainer, space, key=KEY, budget=2, progress=False,
                       pbt=RULE).to_pandas()  # fmt: skip
    added = set()
    for frame in (plain, staged, pbt):
        added |= {c for c in frame.columns if c not in {"learning_rate", "decay"}}
        added -= {"loss", "score", "x", "loss_curve", "score_curve"}
    assert added == set(columns.RESERVED)


@pytest.mark.parametrize("name", NAMES)
def test_an_axis_named_like_a_column_is_refused_when_the_space_is_built(name):
    column = "configuration id" if name == "config_id" else name
    message = f"axis '{name}' is the name of the {column} column of the result's to_pandas"
    with pytest.raises(ValueError, match=message):
        rmsjax.grid(learning_rate=[0.1], **{name: [3, 5]})
    if name != "seed":  # sample's own argument `seed`, never an axis
        with pytest.raises(ValueError, match=f"sample axis '{name}' .*reserved column names: "
                           "config_id, seed, diverged, budget, pruned, copies"):  # fmt: skip
            rmsjax.sample(2, **{name: rmsjax.uniform(0.0, 1.0)})
    with pytest.raises(ValueError, match=f"optuna_search axis '{name}'"):
        rmsjax.optuna_search(rmsjax.Trainer(helpers.init, helpers.advance),
                             optuna.create_study(), n_trials=1, key=KEY, budget=1, metric="loss",
                             space={name: rmsjax.uniform(0.0, 1.0)}, progress=False)  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("kind", ["train_fn", "staged", "pbt"])
def test_a_metric_named_like_a_column_is_refused_before_training(name, kind):
    trained = []

    def advance(carry, hparams, key):
        carry, metrics = helpers.advance(carry, hparams, key)
        jax.debug.callback(lambda: trained.append(1))
        return carry, {**metrics, name: metrics["loss"]}

    def train_fn(hparams, key):
        jax.debug.callback(lambda: trained.append(1))
        return {"loss": hparams["learning_rate"], name: hparams["decay"]}

    space = rmsjax.grid(learning_rate=[0.1, 0.2], decay=[0.9])
    who = "train_fn .*" if kind == "train_fn" else "Trainer.advance"
    column = "configuration id" if name == "config_id" else name
    with pytest.raises(ValueError, match=f"{who} returns a metric named '{name}', the name of the "
                       f"{column} column"):  # fmt: skip
        if kind == "train_fn":
            rmsjax.sweep(train_fn, space, key=KEY, progress=False)
        else:
            pbt = RULE if kind == "pbt" else None
            rmsjax.sweep(rmsjax.Trainer(helpers.init, advance), space, key=KEY, budget=2,
                         progress=False, pbt=pbt)  # fmt: skip
    assert not trained


def test_a_curve_named_like_an_axis_is_refused():
    # PBTResult.to_pandas adds loss_curve, which replaced an axis of that name.
    space = rmsjax.grid(learning_rate=[0.1, 0.2], decay=[0.9], loss_curve=[1.0])
    with pytest.raises(ValueError, match="scalar metric 'loss', whose per-unit curve 'loss_curve' "
                       "is also the name of a hyperparameter axis"):  # fmt: skip
        rmsjax.sweep(rmsjax.Trainer(helpers.init, helpers.advance), space, key=KEY, budget=2,
                     progress=False, pbt=RULE)  # fmt: skip
