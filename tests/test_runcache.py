"""Resuming long runs: a step's result is stored under a key of its inputs and reused only for the same key."""
import torch

from pdedenoise.runcache import RunCache, fingerprint


def test_json_is_computed_once_per_key(tmp_path):
    cache, calls = RunCache(tmp_path), []

    def compute(v):
        calls.append(v)
        return {"value": v}

    assert cache.json("a", lambda: compute(1)) == {"value": 1}
    assert cache.json("a", lambda: compute(2)) == {"value": 1}  # reused, not recomputed
    assert cache.json("b", lambda: compute(3)) == {"value": 3}
    assert calls == [1, 3]
    assert not list(tmp_path.glob(".*partial"))


def test_no_folder_stores_nothing(tmp_path):
    cache, calls = RunCache(None), []
    for v in (1, 2):
        assert cache.json("a", lambda v=v: calls.append(v) or v) == v
    assert calls == [1, 2]


def test_trained_model_and_record_come_back(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)

    def train():
        with torch.no_grad():
            model.weight.fill_(0.5)
        return {"seconds": 1.5, "loss_curve": [3.0, 2.0]}

    cache = RunCache(tmp_path)
    rec = cache.trained("k", model, train)
    fresh = torch.nn.Linear(3, 2)
    again = cache.trained("k", fresh, lambda: (_ for _ in ()).throw(AssertionError("retrained")))
    assert again == rec and torch.equal(fresh.weight, model.weight)
    assert fingerprint(fresh) == fingerprint(model)
    other = torch.nn.Linear(3, 2)
    assert fingerprint(other) != fingerprint(model)


def test_chapter3_evaluate_reuses_rows_and_notices_new_parameters(tmp_path, monkeypatch):
    from pdedenoise.papers.valdivia2024 import analysis

    clean = torch.rand(2, 1, 16, 16) * 255
    model = torch.nn.Conv2d(1, 1, 3, padding=1, bias=False).requires_grad_(False)
    with torch.no_grad():
        model.weight.fill_(1 / 9)
    cache = RunCache(tmp_path)
    first = analysis.evaluate({"box": model}, clean, 25, 0, None, cache)
    calls = []
    monkeypatch.setattr(analysis, "restore", lambda m, x, batch=8: calls.append(1) or m(x))
    again = analysis.evaluate({"box": model}, clean, 25, 0, None, cache)
    assert calls == [] and again.equals(first)
    with torch.no_grad():
        model.weight.mul_(0.5)
    analysis.evaluate({"box": model}, clean, 25, 0, None, cache)
    assert calls == [1]  # changed parameters: a new key, computed again


def test_keys_carry_the_code_version(tmp_path):
    """A changed source hash gives a different key (the stored step is computed again); the same source the same key."""
    from pdedenoise import runcache

    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.py").write_text("x = 1\n")
    (src / "sub" / "b.py").write_text("y = 2\n")
    (src / "notes.txt").write_text("not code")
    first = runcache.source_hash(src)
    assert runcache.source_hash(src) == first  # same source, same hash
    (src / "notes.txt").write_text("still not code")
    assert runcache.source_hash(src) == first
    (src / "sub" / "b.py").write_text("y = 3\n")
    changed = runcache.source_hash(src)
    assert changed != first
    (src / "c.py").write_text("")
    assert runcache.source_hash(src) != changed  # a new file counts

    old, new, same = RunCache(tmp_path / "c", code=first), RunCache(tmp_path / "c", code=changed), \
        RunCache(tmp_path / "c", code=first)
    assert old.full_key("k") != new.full_key("k") and old.full_key("k") == same.full_key("k")
    calls = []
    assert old.json("k", lambda: calls.append(1) or "old") == "old"
    assert same.json("k", lambda: calls.append(2) or "again") == "old"  # same code: reused
    assert new.json("k", lambda: calls.append(3) or "new") == "new"  # other code: computed again
    assert calls == [1, 3]
    model = torch.nn.Linear(2, 1)
    old.trained("m", model, lambda: {"run": "old"})
    assert new.trained("m", torch.nn.Linear(2, 1), lambda: {"run": "new"}) == {"run": "new"}


def test_default_code_version_is_the_package_sources():
    from pdedenoise import runcache

    assert RunCache(None).code == runcache.code_version() == runcache.source_hash(runcache.PACKAGE_DIR)
    assert runcache.code_version() is runcache.code_version()  # computed once per process
    from types import SimpleNamespace

    from pdedenoise.leaderboard import analysis

    ctx = SimpleNamespace(sigma=25, train=(torch.zeros(2, 1, 8, 8),), tune=(torch.zeros(1, 1, 8, 8),),
                          steps={"adam": 3}, batch=2, seed=0)
    assert analysis.budget(ctx)["code"] == runcache.code_version()  # the leaderboard's fitted states too
