"""Nested model selection: which candidate setting each final run uses, chosen on validation data only.

The selection experiment (experiments/configs/orl-selection.toml) runs every candidate with protocol
"validation": trained on the training part of a split (identification) or fold (verification), scored on
validation data carved out of that training part, on each inner fold the configuration's [cross] lists
(inner cross-validation: identify, each person's 1st, 2nd, ... last training image validates in turn; verify,
the test people of the next, second next, ... fold). Candidates are grouped by task and method (group
"identify-cnn", "verify-cnn", ...). The rule, per group and per split or fold (seed): the candidate with the
highest mean validation accuracy (identify) or the lowest mean validation EER (verify) over the inner folds is
chosen; a tie goes to the candidate declared first in the configuration (the simplest). Each split or fold is
chosen for on its own validation data: the images of one split's validation are test images of other splits
(and a fold's validation people are another fold's test people), so a choice pooled over splits would have seen
test data.

The final run of a split or fold is the chosen candidate with protocol "test" and selected_by
"EXPERIMENT:GROUP:CANDIDATE", declared in orl-faces.toml as variant "nested-CANDIDATE" (the base candidate:
"nested-GROUP") with the seeds that
chose it (final_variants; tests/test_faces_selection.py checks the two agree).

orl_selection.csv: per group, seed and candidate its validation score and whether it was chosen, and per
group and candidate the mean over seeds and how often it was chosen (seed "mean").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from experiments.provenance import of_runs, write_csv_atomic

SCORE = {"identify": ("accuracy", "max"), "verify": ("eer", "min")}
TABLE = "orl_selection"


def group_of(config: dict) -> str:
    return f"{config['task']}-{config['method']}"


def candidates(exp) -> dict:
    """group -> [candidate variant names, in declaration order (the tie order)]."""
    out = {}
    for name, cfg in exp.runs.items():
        out.setdefault(group_of(cfg), []).append(name)
    return out


def selected_by(exp, group: str, candidate: str) -> str:
    return f"{exp.name}:{group}:{candidate}"


def final_name(group: str, candidate: str) -> str:
    """The final variant's name in orl-faces.toml ("base" is every experiment's, so the group names it)."""
    return f"nested-{group}" if candidate == "base" else f"nested-{candidate}"


def choose(scores: dict, order: list, higher_is_better: bool) -> str:
    """The candidate with the best score; among equal scores the one earliest in `order`."""
    sign = 1.0 if higher_is_better else -1.0
    return max(order, key=lambda c: (sign * scores[c], -order.index(c)))


def runs_table(exp, out) -> pd.DataFrame:
    """The selection runs in out's table (in results/: the experiment's declared, full runs only)."""
    from experiments.runner import plan

    path = out.table(exp.table)
    if not path.exists():
        return pd.DataFrame()
    rows = pd.read_csv(path)
    if out.official:
        rows = rows[rows["run_id"].isin({s.run_id for s in plan(exp)}) & ~rows["quick"].astype(bool)]
    return rows


def candidate_scores(exp, by_id: pd.DataFrame, candidate: str, seed: int, metric: str,
                     quick: bool = False) -> list | None:
    """The validation scores of a candidate on a split or fold, one per inner fold (its configurations over
    [cross], in their quick versions for a smoke selection), found by run_id in `by_id` (the runs indexed by
    run_id); None until every one has run."""
    from experiments.runner import run_id

    ids = [run_id(exp.kind.name, seed, exp.kind.quick(c) if quick else c) for c in exp.configs_of(candidate)]
    return [(i, float(by_id.loc[i, metric])) for i in ids] if by_id.index.isin(ids).sum() == len(ids) else None


def selection_table(exp, rows: pd.DataFrame, source: str) -> pd.DataFrame:
    """One row per (group, seed, candidate) with its mean validation score over the inner folds and the
    choice, then per (group, candidate) the means over seeds."""
    table = []
    by_id = rows.astype({"run_id": str}).drop_duplicates("run_id").set_index("run_id")
    quick = bool(len(rows)) and "quick" in rows and bool(rows["quick"].astype(bool).all())  # a smoke selection
    for group, names in candidates(exp).items():
        metric, best = SCORE[exp.runs[names[0]]["task"]]
        for seed in sorted(set().union(*(exp.seeds_of(c) for c in names))):
            scores = {c: candidate_scores(exp, by_id, c, seed, metric, quick) for c in names
                      if seed in exp.seeds_of(c)}
            if len(scores) < len(names) or any(v is None for v in scores.values()):
                continue  # a seed is chosen for only once every candidate has run on it, on every inner fold
            mean = {c: float(np.mean([v for _, v in scores[c]])) for c in names}
            winner = choose(mean, names, best == "max")
            for c in names:
                table.append({"group": group, "seed": str(seed), "candidate": c, "metric": metric,
                              "validation_score": mean[c], "inner_folds": len(scores[c]),
                              "inner_scores": ";".join(f"{v:.6g}" for _, v in scores[c]), "chosen": c == winner,
                              "selected_by": selected_by(exp, group, c) if c == winner else "",
                              "run_id": ";".join(i for i, _ in scores[c]),
                              "commit": ";".join(sorted({str(by_id.loc[i, "commit"]) for i, _ in scores[c]}))})
    if not table:
        return pd.DataFrame()
    table = pd.DataFrame(table)
    means = pd.DataFrame([{"group": g, "seed": "mean", "candidate": c, "metric": t["metric"].iloc[0],
                           "validation_score": t["validation_score"].mean(), "chosen": False,
                           "times_chosen": int(t["chosen"].sum()), "seeds": len(t), "selected_by": "",
                           "run_id": "", "commit": ""}
                          for (g, c), t in table.groupby(["group", "candidate"], sort=False)])
    # for comparison only: the candidate a pooled rule (best mean over the seeds) would have taken
    best = means.groupby("group", sort=False)["validation_score"]
    means["best_mean"] = np.where(means["metric"] == "eer", means["validation_score"] == best.transform("min"),
                                  means["validation_score"] == best.transform("max"))
    table = pd.concat([table, means], ignore_index=True)
    table[["times_chosen", "seeds", "inner_folds"]] = table[["times_chosen", "seeds", "inner_folds"]].astype("Int64")
    settings = {c: {k: exp.runs[c].get(k, "") for k in exp.varied} for c in exp.runs}
    table = table.assign(**{k: [settings[c][k] for c in table["candidate"]] for k in exp.varied})
    return table.assign(**of_runs(rows, source))


def final_variants(exp, table: pd.DataFrame) -> dict:
    """variant name -> (its full final configuration, the seeds that chose it): the declarations orl-faces.toml
    must hold for the nested final runs."""
    chosen = table[(table["seed"] != "mean") & table["chosen"].astype(bool)]
    out = {}
    for (group, c), t in chosen.groupby(["group", "candidate"], sort=False):
        cfg = {**exp.runs[c], "protocol": "test", "selected_by": selected_by(exp, group, c)}
        out[final_name(group, c)] = (cfg, sorted(int(s) for s in t["seed"]))
    return out


def toml_of(variants: dict, base: dict) -> str:
    """The [variants.*] tables of `variants`, each overriding only what differs from `base` (orl-faces' base)."""
    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return f'"{v}"'
        return str(v)
    lines = []
    for name, (cfg, seeds) in variants.items():
        lines.append(f"[variants.{name}]")
        lines += [f"{k} = {value(v)}" for k, v in cfg.items() if base.get(k) != v]
        lines += [f"seeds = {seeds}", ""]
    return "\n".join(lines)


def report(exp, out, specs=None) -> dict:
    """results/orl_selection.csv from the selection runs; the final variants it implies are printed."""
    from experiments.config import get_experiment

    rows = runs_table(exp, out)
    if not len(rows):
        return {}
    table = selection_table(exp, rows, out.shown(out.table(exp.table)))
    if not len(table):
        return {}
    write_csv_atomic(table, out.table(TABLE))
    final = get_experiment("orl-faces")
    print(f"selection: {out.shown(out.table(TABLE))}; the final runs it implies (orl-faces.toml):\n"
          + toml_of(final_variants(exp, table), final.runs["base"]))
    return {"selection": table}


def check_declared(selection: pd.DataFrame, exp, final_exp) -> list[str]:
    """Disagreements between a selection table and the nested variants declared in the final experiment."""
    want = final_variants(exp, selection)
    have = {v for v, cfg in final_exp.runs.items() if cfg["selected_by"].startswith(f"{exp.name}:")}
    problems = [f"{v}: chosen but not declared" for v in want if v not in final_exp.runs]
    problems += [f"{v}: declared but chosen for no seed" for v in have - set(want)]
    for v, (cfg, seeds) in want.items():
        if v in final_exp.runs and final_exp.runs[v] != cfg:
            diff = {k: (final_exp.runs[v].get(k), cfg.get(k)) for k in set(cfg) | set(final_exp.runs[v])
                    if final_exp.runs[v].get(k) != cfg.get(k)}
            problems.append(f"{v}: declared settings differ from the candidate's (declared, chosen): {diff}")
        if v in final_exp.runs and sorted(final_exp.seeds_of(v)) != seeds:
            problems.append(f"{v}: seeds {sorted(final_exp.seeds_of(v))} declared, chosen for {seeds}")
    return problems

