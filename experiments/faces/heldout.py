"""The recogniser tested as a user would use it, on ORL people that no model trained or calibrated on.

The embedder's 8 test people (embedder.people()["test"]) are split in two halves of 4: one half is
enrolled from PNG copies of their images 1-5 (written to a folder of PERSON/IMAGE files and read back
through the same reader as any user's file); their images 6-10, as JPEG copies, are probes that should
be named; every image of the other half, as PNG copies, are strangers' probes that should be answered
"unknown". Then the halves swap roles, and the answers of both rounds are pooled (40 probes of enrolled
people, 80 of strangers). Each probe goes through the gate, then the gallery at the threshold of each FAR.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from experiments.faces import embedder as emb
from experiments.faces import gallery as gal
from experiments.faces import photometric, reading


def write_copies(folder: Path, first_half: bool = True, looks=("as_taken",)
                 ) -> tuple[Path, dict[str, list[tuple[Path, str | None]]]]:
    """(gallery folder, {look: [(probe file, true name or None for a stranger)]}) of ORL's held-out test people,
    the first 4 enrolled (or the last 4 if not first_half), the enrolled images as taken, the probes written once
    in each photometric look."""
    from PIL import Image

    from experiments.data import load

    orl = load("orl")
    test = emb.people()["test"]
    probes = {look: [] for look in looks}
    for i, p in enumerate(test):
        name, faces, known = f"s{p + 1}", orl.images[orl.labels == p], (i < len(test) // 2) == first_half
        for k, face in enumerate(faces, start=1):
            if known and k <= 5:
                path = folder / "gallery" / name / f"{k}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(face).save(path)
                continue
            for look in looks:
                path = folder / "probes" / look / f"{name}_{k}.{'jpg' if known else 'png'}"
                path.parent.mkdir(parents=True, exist_ok=True)
                image = photometric.look(look, face)
                image.save(path, quality=95) if path.suffix == ".jpg" else image.save(path)
                probes[look].append((path, name if known else None))
    return folder / "gallery", probes


def best_matches(model: emb.Embedder, gallery: gal.Gallery, gate, probes) -> list[tuple[str | None, float]]:
    """Each probe's best enrolled match and its score, or (None, nan) when the gate finds no face."""
    out = []
    for path, _ in probes:
        grey = reading.read_grey(path)
        if gate is not None and gate.probability([grey])[0] < gate.threshold:
            out.append((None, float("nan")))
            continue
        out.append(gallery.ranked(model.embed(reading.fit(grey)[None])[0])[0])
    return out


def answers(matches: list[tuple[str | None, float]], threshold: float) -> list[str]:
    """Each probe's answer at `threshold`: a person's name, "unknown", or "no face"."""
    return ["no face" if name is None else name if s >= threshold else "unknown" for name, s in matches]


def rates(probes, said: list[str]) -> dict:
    """Enrolled probes: named right / named wrong / unknown; strangers: unknown (right) / named; no face."""
    truth = [name for _, name in probes]
    known = [(t, s) for t, s in zip(truth, said) if t is not None]
    strangers = [s for t, s in zip(truth, said) if t is None]
    return {"enrolled_probes": len(known), "identified": float(np.mean([s == t for t, s in known])),
            "misidentified": float(np.mean([s not in (t, "unknown", "no face") for t, s in known])),
            "enrolled_rejected": float(np.mean([s == "unknown" for _, s in known])),
            "stranger_probes": len(strangers), "strangers_unknown": float(np.mean([s == "unknown" for s in strangers])),
            "strangers_accepted": float(np.mean([s not in ("unknown", "no face") for s in strangers])),
            "no_face": float(np.mean([s == "no face" for s in said]))}


def evaluate(model: emb.Embedder, gate, folder: Path, fars=(0.01, 0.1), looks=("as_taken",)) -> dict:
    """{look: {far: rates}} for the held-out people written as PNG/JPEG copies under `folder` and enrolled from
    them (as taken), both halves in turn, pooled; the probes in each photometric look of `looks`."""
    probes, matches = {look: [] for look in looks}, {look: [] for look in looks}
    for first_half in (True, False):
        gallery_dir, mine = write_copies(Path(folder) / ("first" if first_half else "second"), first_half, looks)
        g = gal.enrol(gallery_dir, model, gate, say=lambda line: None)
        for look in looks:
            probes[look] += mine[look]
            matches[look] += best_matches(model, g, gate, mine[look])
    return {look: {far: rates(probes[look], answers(matches[look], model.threshold(far))) for far in fars}
            for look in looks}
