"""The thread policy: environment overrides, the solver's single thread, restoring the caller's setting."""
import pytest
import torch

from pdedenoise import diffusion, threads


def test_configure_honours_the_environment(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv(threads.NUM_THREADS_ENV, "1")
        assert threads.configure() == 1 and torch.get_num_threads() == 1
        monkeypatch.setenv(threads.NUM_THREADS_ENV, "zero")
        with pytest.raises(ValueError, match="PDEDENOISE_NUM_THREADS"):
            threads.configure()
        monkeypatch.delenv(threads.NUM_THREADS_ENV)
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        assert threads.default_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_the_solver_runs_on_its_threads_and_restores_the_callers(monkeypatch):
    torch.set_num_threads(2)
    seen = []
    real = diffusion.blocked._evolve_group
    monkeypatch.setattr(diffusion.blocked, "_evolve_group",
                        lambda *a, **k: seen.append(torch.get_num_threads()) or real(*a, **k))
    diffusion.perona_malik(torch.rand(1, 1, 16, 16), 0.1, 0.2, 2)
    assert seen == [1] and torch.get_num_threads() == 2
    monkeypatch.setenv(threads.SOLVER_THREADS_ENV, "2")
    seen.clear()
    diffusion.perona_malik(torch.rand(1, 1, 16, 16), 0.1, 0.2, 2)
    assert seen == [2]
