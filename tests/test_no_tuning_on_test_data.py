"""No tuning on test data: every step that chooses a setting (the learning-rate probe, the baselines' grids, the
leaderboard's tuning pairs) reads only the training pool, never a test split (BSDS500 val, BSD68, Set12). The data
registry records every file a step asks for; the test splits are :data:`pdedenoise.data.registry.TEST_SPLITS`."""
from __future__ import annotations

import importlib.util

import pytest

from pdedenoise.checkout import repo_root
from pdedenoise.data import registry


def _probe_module():
    path = repo_root() / "tools" / "record_valdivia_lr_probe.py"
    spec = importlib.util.spec_from_file_location("record_valdivia_lr_probe", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _reads(step):
    with registry.record_reads() as seen:
        step()
    assert seen, "the step read no data: the guard would see nothing"
    return seen


def test_the_guard_sees_a_read_of_a_test_split():
    from pdedenoise.leaderboard import protocol as LP
    from pdedenoise.papers.valdivia2024 import protocol as VP

    assert registry.reads_of_test_splits(_reads(lambda: VP.val_crops(1, 32)))
    assert registry.reads_of_test_splits(_reads(lambda: LP.test_images("Set12", 1)))
    assert registry.reads_of_test_splits(_reads(lambda: LP.test_images("BSD68", 1)))


def test_the_learning_rate_probe_is_scored_on_held_out_training_images():
    probe = _probe_module()
    seen = _reads(lambda: probe.probe(n_train=2, crop=32, n_val=2, sigma=25, seed=0, steps=1, labels=("FoE-S",),
                                      settings=(("adam", 1e-2),), log=lambda row: None))
    assert registry.reads_of_test_splits(seen) == []
    assert {r.split("/")[0] for d, r in seen if d == "BSDS500"} <= {"train", "test"}


def test_the_probes_two_parts_of_the_training_pool_are_disjoint():
    from pdedenoise.papers.valdivia2024 import protocol as VP

    fit = {r for _, r in _reads(lambda: VP.train_crops(2, 16, part="fit"))}
    tune = {r for _, r in _reads(lambda: VP.train_crops(2, 16, part="tune"))}
    assert len(tune) == VP.TUNING_IMAGES and fit.isdisjoint(tune)


@pytest.mark.parametrize("step", ["leaderboard tuning pairs", "chapter 2 baseline grids", "chapter 3 training pairs",
                                  "chapter 4 training crops"])
def test_tuning_and_training_data_never_come_from_a_test_split(step):
    if step == "leaderboard tuning pairs":
        from pdedenoise.leaderboard import analysis as LA

        run = lambda: LA.fit_context("ci", 25, seed=0, progress=False)
    elif step == "chapter 2 baseline grids":
        from pdedenoise.papers.barbeiro2020 import protocol as BP

        run = lambda: BP.train_crops(2, 16, part="tune")
    elif step == "chapter 3 training pairs":
        from pdedenoise.papers.valdivia2024 import analysis as VA

        run = lambda: VA.training_pairs(2, 16, 25, 0)
    else:
        from pdedenoise.papers.arridge2020 import protocol as AP

        run = lambda: AP.bsds_crops("train", 16, 2)
    assert registry.reads_of_test_splits(_reads(run)) == []
