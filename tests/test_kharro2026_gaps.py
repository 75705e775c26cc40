"""Chapter 1's gap experiments: the verdict rule, the final time that matches an entry, the summary."""
import math

import pytest
import torch

from pdedenoise.papers.kharro2026 import gaps as G


@pytest.mark.parametrize("gap, closed, row, base, expected", [
    (-1.0, -0.8, 0.5, 0.6, "explains"),
    (-1.0, -0.8, 0.65, 0.6, "partly explains"),  # the entry comes close but the row's rms grows a little
    (-1.0, -0.4, 0.6, 0.6, "partly explains"),
    (-1.0, -0.1, 0.6, 0.6, "does not explain"),
    (-1.0, +0.5, 0.5, 0.6, "does not explain"),  # wrong direction
    (-1.0, -0.9, 0.8, 0.6, "does not explain"),  # the row's rms grows by more than 0.1 dB
])
def test_verdict_rule(gap, closed, row, base, expected):
    assert G.verdict_for(gap, closed, row, base) == expected


def test_t_needed_recovers_the_time_of_a_psnr():
    torch.manual_seed(0)
    x = torch.linspace(0, 255, 32, dtype=torch.float64)
    clean = (x[None, :] * 0.5 + x[:, None] * 0.5)[None, None]
    s = G.Setting(clean, seed=1, T=1.0)
    for want in (0.7, 1.2):  # both sides of T = 1, on the rising branch of this image's PSNR curve
        s.T = want
        target = float(s.psnr([0.3])[0])
        s.T = 1.0
        assert G.t_needed(s, 0.3, target) == pytest.approx(want, abs=0.002)
        assert s.T == 1.0  # left as it was
    assert math.isnan(G.t_needed(s, 0.3, 200.0))  # no time gives 200 dB


def test_summary_labels_unexplained_and_ruled_out():
    head = {"gap": "Lena, rho = 0.1", "published": 18.8}
    rows = [{**head, "hypothesis": "(chapter's protocol)", "experiment": "", "PSNR": 17.7, "verdict": ""},
            {**head, "hypothesis": "boundary", "experiment": "neumann", "PSNR": 17.7, "verdict": "does not explain"},
            {**head, "hypothesis": "noise seed", "experiment": "seed 2", "PSNR": 17.72, "verdict": "does not explain"}]
    s = G.gap_summary(rows).iloc[0]
    assert s.status == "unexplained"
    assert s["ruled out"] == "boundary, noise seed"
    rows[1]["verdict"] = "explains"
    assert G.gap_summary(rows).iloc[0].status.startswith("explained by: neumann")
