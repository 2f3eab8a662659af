"""How well the Continuator's model predicts real melodies: information content in bits per note.

The protocol is IDyOM's (M. Pearce, *The Construction and Evaluation of Statistical Models
of Melodic Structure in Music Perception and Composition*, PhD thesis, City University
London, 2005): 10-fold cross-validation; the model learns the other nine folds, then predicts
each held-out melody note by note from the notes before it (``ContinuatorModel.predict``)
and learns it afterwards, as it does live. The figure is the mean of -log2 P(note) over
every note of every melody.

The full model knows each note's duration when it predicts the note's pitch (IDyOM's
linked viewpoints do the same); ``*_no_rhythm`` is the same model without durations.

Corpora (music21): the 213 children's songs of the Essen folk-song collection
(``essenFolksong/kinder0.abc``, 8,393 notes) and the soprano lines of 185 Bach chorales
(the first 185 of BWV 253-438 in Riemenschneider order). Beside them, in the same run:
a first-order Markov model of pitch (PPM-C blended down to order 0, no short-term model)
and the model restricted to the pitch viewpoint. Published figures (Pearce 2005, pitch
only, long-term + short-term model, PPM*): 2.10 bits/note on the Essen kinder songs, 2.34
on the 185 chorales; 1.95 on the chorales with selected viewpoints.

``python -m benchmarks.bench_continuator_style [--quick]`` (quick: 60 melodies of each set).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from benchmarks.common import emit, failed
from rtgen.gen.continuator import ContinuatorConfig, ContinuatorModel
from rtgen.gen.melody_corpus import Melody, load_melodies

IDYOM = {"essen_kinder": 2.10, "bach_chorales185": 2.34}
IDYOM_SELECTED = {"bach_chorales185": 1.95}
SIZES = {"essen_kinder": 213, "bach_chorales185": 185}        # melodies in the published sets
SETS = {"essen_kinder": "essen/kinder", "bach_chorales185": "bach/chorales185"}


def cross_validated_ic(mels: list[Melody], cfg: ContinuatorConfig, folds: int = 10, rhythm: bool = True
                       ) -> tuple[float, int, float]:
    """(mean bits/note, notes predicted, microseconds per prediction) by k-fold cross-validation.

    With ``rhythm`` the model knows each note's duration when predicting its pitch (as IDyOM
    predicts pitch with the event's other attributes known); the pitch is always unknown.
    """
    ics: list[float] = []
    t_pred = 0.0
    for f in range(folds):
        m = ContinuatorModel(cfg)
        for i, x in enumerate(mels):
            if i % folds != f:
                m.learn_melody(x.pitches, x.durations, key=x.key_ref)
        for i, x in enumerate(mels):
            if i % folds != f:
                continue
            p = x.pitches
            for t in range(len(p)):
                t0 = time.perf_counter()
                d = m.predict(p[:t], key=x.key_ref, durations=x.durations[: t + 1] if rhythm else None)
                t_pred += time.perf_counter() - t0
                ics.append(-float(np.log2(d[p[t]])))
            m.learn_melody(x.pitches, x.durations, key=x.key_ref)
    return float(np.mean(ics)), len(ics), 1e6 * t_pred / max(1, len(ics))


def markov1() -> ContinuatorConfig:
    return ContinuatorConfig(orders=(1, 1, 1), viewpoints=(True, False, False), use_stm=False)


def pitch_only() -> ContinuatorConfig:
    return ContinuatorConfig(viewpoints=(True, False, False))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="60 melodies of each set")
    args = ap.parse_args(argv)
    n_max = 60 if args.quick else None
    for key, source in SETS.items():
        try:
            mels = load_melodies(source, max_melodies=n_max)
        except Exception as e:                 # music21 missing or the corpus not shipped
            failed(f"continuator_style/{key}_bits_per_note", "bits/note", f"<= {IDYOM[key]}", e)
            continue
        notes = sum(len(m.pitches) for m in mels)
        want = n_max or SIZES[key]
        emit(f"continuator_style/{key}_melodies", len(mels), "melodies", f"== {want}", len(mels) == want,
             notes=notes, source=source)
        base, _, _ = cross_validated_ic(mels, markov1())
        po, _, _ = cross_validated_ic(mels, pitch_only())
        emit(f"continuator_style/{key}_markov1", base, "bits/note", "> pitch only (the baseline is beaten)",
             base > po, note="first-order Markov of pitch, PPM-C to order 0, same folds")
        if args.quick:        # a subset learns less: compare with the baseline, not the published figures
            emit(f"continuator_style/{key}_pitch_only", po, "bits/note", "< markov1 (quick subset)", po < base)
        else:
            emit(f"continuator_style/{key}_pitch_only", po, "bits/note", f"<= {IDYOM[key]} (IDyOM pitch only)",
                 po <= IDYOM[key], peer=IDYOM[key], ratio=po / IDYOM[key])
        nod, _, _ = cross_validated_ic(mels, ContinuatorConfig(), rhythm=False)
        emit(f"continuator_style/{key}_no_rhythm", nod, "bits/note", "< pitch only", nod < po,
             note="pitch, interval, interval x degree (durations unknown)")
        ic, n, us = cross_validated_ic(mels, ContinuatorConfig())
        row = {"peer": IDYOM[key], "ratio": ic / IDYOM[key], "vs_markov1": base - ic,
               "note": "pitch, interval, interval x degree, interval x duration ratio; long-term + short-term; "
                       "PPM-C blended; durations known"}
        if key in IDYOM_SELECTED:
            row["peer_selected_viewpoints"] = IDYOM_SELECTED[key]
        if args.quick:
            emit(f"continuator_style/{key}_bits_per_note", ic, "bits/note", "< pitch only (quick subset)", ic < po,
                 vs_markov1=base - ic)
        else:
            emit(f"continuator_style/{key}_bits_per_note", ic, "bits/note", f"<= {IDYOM[key]} (IDyOM)",
                 ic <= IDYOM[key], **row)
        emit(f"continuator_style/{key}_predict_us", us, "us/prediction", "< 5000", us < 5000, notes_predicted=n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
