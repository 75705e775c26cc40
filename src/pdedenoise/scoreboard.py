"""The scoreboard's arithmetic: verdict counts over comparison tables and claims, and the book's overview tables.

The records themselves (published numbers, comparisons, claims) are :mod:`pdedenoise.records`.
"""
from __future__ import annotations

from typing import Iterable, Mapping

import pandas as pd

from .records import CLAIM_VERDICTS, VERDICTS, Claim, claims_frame, predates_rules


def _evidence_rows(t: pd.DataFrame) -> pd.DataFrame:
    """The rows of a comparison table that count as reproductions (not those marked ``check``)."""
    return t[~t["check"].fillna(False).astype(bool)] if "check" in t else t


def summary(tables: Iterable[pd.DataFrame]) -> pd.Series:
    """Count of each verdict over several comparison tables (rows marked ``check`` are not counted)."""
    verdicts = pd.concat([_evidence_rows(t)["verdict"] for t in tables], ignore_index=True)
    return verdicts.value_counts().reindex(list(VERDICTS), fill_value=0)


def claim_summary(claims: Iterable[Claim | Mapping]) -> pd.Series:
    """Count of each claim verdict (:data:`pdedenoise.records.CLAIM_VERDICTS`)."""
    return claims_frame(claims)["verdict"].value_counts().reindex(list(CLAIM_VERDICTS), fill_value=0)


# --------------------------------------------------------------------------- the book's scoreboard

#: readable names of the long single-experiment runs (results/medium/04_diffnet_long_<job>.json)
RUN_LABELS = {"04_diffnet_long_discs": "long run: Exp. 1 at the paper's protocol",
              "04_diffnet_long_nonoise": "long run: Exp. 2, no noise",
              "04_diffnet_long_1pct": "long run: Exp. 2, 1% noise"}
SCALE_ORDER = {"full": 0, "medium": 1, "ci": 2}


def collect(root=None) -> list[dict]:
    """Every results file with comparison tables or claims, as records: paper, run, scale, provenance, tables,
    claims (``predates_rules``: stored before claims carried their rule and tolerance). Recorded scales (full, medium) come before ci; files that cannot be read are reported, not fatal."""
    import json

    from .papers import PAPERS
    from .results import SCALES, results_dir

    by_chapter = {p.chapter: p for p in PAPERS if p.chapter}
    out = []
    for scale in sorted(SCALES, key=SCALE_ORDER.get):
        folder = results_dir(scale, root)
        for path in sorted(folder.glob("[!_]*.json")) if folder.exists() else []:
            try:
                res = json.loads(path.read_text())
            except (OSError, ValueError) as exc:
                out.append({"paper": None, "run": path.stem, "scale": scale, "error": f"{path.name}: {exc}"})
                continue
            tables = {k: pd.DataFrame(v) for k, v in (res.get("tables") or {}).items() if v}
            claims = res.get("claims") or []
            rejudged = current_claims(path.stem, scale, res) if claims else None
            claims = claims if rejudged is None else rejudged
            if not tables and not claims:
                continue
            paper = next((p for chapter, p in by_chapter.items() if path.stem.startswith(chapter)), None)
            out.append({"paper": paper.title if paper else None, "run": RUN_LABELS.get(path.stem, f"chapter ({scale})"),
                        "scale": scale, "provenance": res.get("provenance", {}), "tables": tables, "claims": claims,
                        "checks": set(res.get("check_only_tables", [])), "name": path.stem,
                        "fallback": on_fallback_data(res), "rejudged": rejudged is not None,
                        "predates_rules": predates_rules(c for c in claims if isinstance(c, Mapping))})
    return out


#: chapters whose pages judge a recorded run's evidence again under the current rules (their ``claims_from_results``)
REJUDGED = {"02_cross_diffusion": "barbeiro2020", "03_learned_diffusivities": "valdivia2024"}


def current_claims(name: str, scale: str, result: Mapping) -> list[dict] | None:
    """The claims of a recorded run (``medium`` or ``full``) of a chapter in :data:`REJUDGED`, judged again from its
    stored evidence by the current rules, as the chapter's page does: the scoreboard then says what the page says
    even when the rules changed after the run was recorded. None where the chapter does not re-judge, for ``ci`` runs
    (a page's own run already stores the claims it showed), and where the record lacks the evidence (then its stored
    claims stand)."""
    import importlib

    if scale == "ci" or name not in REJUDGED:
        return None
    analysis = importlib.import_module(f"pdedenoise.papers.{REJUDGED[name]}.analysis")
    try:
        return [c.to_dict() for c in analysis.claims_from_results(result)]
    except (KeyError, TypeError, ValueError):
        return None


def on_fallback_data(result: Mapping) -> bool:
    """Whether a results payload was computed on substitute images (the paper's data were unavailable): the
    chapters say so with ``fallback_data`` (chapters 2-4), ``paper_images`` (chapter 1) or their data line."""
    return bool(result.get("fallback_data")) or result.get("paper_images") is False or \
        "(fallback)" in str(result.get("data", ""))


def paper_overview(records: list[dict]) -> pd.DataFrame:
    """One row per paper of the book: claim verdicts (from the chapter's own claims, which already take the
    largest recorded evidence) and the scales of that evidence, or "not yet attempted"."""
    from .papers import PAPERS

    rows = []
    for paper in PAPERS:
        attempted = [r for r in records if r.get("paper") == paper.title and r.get("claims")]
        mine = [r for r in attempted if not r.get("fallback")]  # substitute images are no evidence about a paper
        if not mine:
            evidence = "only on substitute images (not on the paper's data)" if attempted else "not yet attempted"
            rows.append({"paper": paper.title, **{v: "—" for v in CLAIM_VERDICTS}, "evidence": evidence})
            continue
        best = min(mine, key=lambda r: SCALE_ORDER[r["scale"]])
        counts = claim_summary(best["claims"]).to_dict()
        rows.append({"paper": paper.title, **counts, "evidence": "; ".join(sorted({c["scale"] for c in best["claims"]}))})
    return pd.DataFrame(rows)


def runs_overview(records: list[dict]) -> pd.DataFrame:
    """One row per recorded or regenerated run with tables: verdict counts (tables that only check the pipeline,
    e.g. a ci-scale training run, are counted apart, and so is every table of a run on substitute images), scale,
    commit, date and machine."""
    rows = []
    for r in records:
        if r.get("error") or not r.get("tables"):
            continue
        prov = r["provenance"]
        verdicts = [t for name, t in r["tables"].items() if name not in r["checks"]]
        checks = sum(len(t) if name in r["checks"] else len(t) - len(_evidence_rows(t))
                     for name, t in r["tables"].items())
        counts = summary(verdicts).to_dict() if verdicts else {v: 0 for v in VERDICTS}
        if r.get("fallback"):  # substitute images: nothing here is a comparison with the paper
            checks += sum(counts.values())
            counts = {v: 0 for v in VERDICTS}
        rows.append({"paper": r["paper"], "run": r["run"] + (" — not on the paper's data" if r.get("fallback") else ""),
                     "scale": r["scale"], **counts, "pipeline checks": checks,
                     "commit": str(prov.get("commit") or ""), "date": str(prov.get("date", ""))[:10],
                     "machine": prov.get("device", "")})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- when each recording was made

#: the scales whose results are recordings kept in the repository (``ci`` results are made by each build)
RECORDED_SCALES = ("medium", "full")


def recordings(root=None) -> pd.DataFrame:
    """Every recorded results file (``results/medium/*.json``, ``results/full/*.json``): file, scale, the commit it
    was recorded at (``-dirty``: with changes not yet committed), the date it started and finished, the machine,
    and whether its claims (the leaderboard's: its findings) carry their rule and tolerance (the current format) or
    predate them. Files that cannot be read are listed with the reason in ``format``."""
    import json

    from .results import results_dir

    rows = []
    for scale in RECORDED_SCALES:
        folder = results_dir(scale, root)
        for path in sorted(folder.glob("[!_]*.json")) if folder.exists() else []:
            try:
                res = json.loads(path.read_text())
            except (OSError, ValueError) as exc:
                rows.append({"file": path.name, "scale": scale, "commit": "", "date": "", "finished": "",
                             "machine": "", "claims": f"unreadable ({type(exc).__name__})"})
                continue
            prov = res.get("provenance", {}) or {}
            claims = res.get("claims") or res.get("findings") or []  # the leaderboard's claims are its findings
            fmt = ("none" if not claims else
                   "with rule and tolerance" if all(isinstance(c, Mapping) and "rule" in c and "tolerance" in c
                                                    for c in claims) else "without rule and tolerance")
            rows.append({"file": path.name, "scale": scale, "commit": str(prov.get("commit") or "unknown"),
                         "date": str(prov.get("date", ""))[:10], "finished": str(prov.get("finished", ""))[:10],
                         "machine": prov.get("device", ""), "claims": fmt})
    return pd.DataFrame(rows, columns=["file", "scale", "commit", "date", "finished", "machine", "claims"])


def one_commit_line(frame: pd.DataFrame, scale: str = "medium") -> str:
    """Whether the chapter records of ``scale`` in :func:`recordings` (the files with claims) were made at one
    commit, as one line, with the experiment records beside them (gap experiments, probes, long runs: files
    without claims of their own, each with its own commit in the table): ``"chapter records at one commit: yes
    (commit abc1234, 5 files); 9 experiment records at 4 commits"``, or ``"chapter records at one commit: no (2
    commits: abc1234: 3 files, def5678: 1 file)"`` (most files first); ``"no recordings"`` when there are
    none."""
    rows = frame[frame.scale == scale] if not frame.empty else frame
    if rows.empty:
        return "no recordings"
    chapters = rows[rows.claims.isin(["with rule and tolerance", "without rule and tolerance"])]
    others = rows.drop(chapters.index)
    if chapters.empty:
        line = "chapter records: none"
    else:
        counts = chapters.commit.value_counts(sort=False)
        counts = counts.iloc[sorted(range(len(counts)), key=lambda i: (-counts.iloc[i], counts.index[i]))]
        if len(counts) == 1:
            line = f"chapter records at one commit: yes (commit {counts.index[0]}, {len(chapters)} files)"
        else:
            parts = ", ".join(f"{c}: {n} file{'s' if n != 1 else ''}" for c, n in counts.items())
            line = f"chapter records at one commit: no ({len(counts)} commits: {parts})"
    if len(others):
        n = others.commit.nunique()
        line += (f"; {len(others)} experiment record{'s' if len(others) != 1 else ''} at {n} "
                 f"commit{'s' if n != 1 else ''}")
    return line
