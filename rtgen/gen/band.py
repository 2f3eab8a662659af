"""Arrangements: a band of roles (drums, bass, harmony, lead, counter-line) over a form.

A preset's ``[arrangement]`` table describes it (see ``docs/generators.md``)::

    [arrangement]
    style = "pop"                     # the drum groove family (GROOVES)
    form = "Song -> Intro A A B A Outro"
    chords_per_bar = 1
    [arrangement.sections]
    Intro = { bars = 4, intensity = 0.3 }
    A = { bars = 8, intensity = 0.55 }
    [arrangement.bass]
    instrument = "synth_bass"
    pattern = "root_fifth"            # root root_fifth walking arpeggio syncopated auto

Everything is planned a bar at a time, ahead of the audio, by :class:`Arrangement` (a
:class:`~rtgen.gen.pygen.PyGenerator`):

- **form**: a grammar over section names expands into sections (:func:`parse_form`);
- **harmony**: each 4-bar phrase takes chords from a Markov chain learnt from Bach's chorales
  (:mod:`rtgen.gen.chordtable`); antecedent phrases end on a half cadence, consequents (and the
  last phrase of a section) on an authentic one. Each chord goes into the engine's shared harmony
  at its beat, so compiled generators in the same preset follow it; the first chord, on beat 0,
  is the tonic of the preset's key;
- **roles** read the chord: the bass plays its root in E1..G3, the harmony voices it with the
  least motion, the lead puts chord tones on strong beats and resolves the others by step;
- **motifs**: the lead states a one-bar motif and develops it (repetition, sequence, inversion,
  augmentation, rhythmic variation) in antecedent-consequent pairs; section B gets a derived one;
- **intensity** (per section, arched inside it, and settable by a game through
  :meth:`Arrangement.set_intensity`) decides which roles play and how busily.
"""

from __future__ import annotations

import math
import random
import re
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from ..rt.commands import SetHarmony
from ..rt.layout import (
    H_DENSITY,
    LAYER_AUTOMATA,
    LAYER_AUX1,
    LAYER_AUX2,
    LAYER_GRAMMAR,
    LAYER_NAMES,
    LAYER_RULES,
    S_SAMPLE,
)
from . import instruments as I
from . import theory
from .chordtable import ChordChain
from .pygen import BeatWindow, Chord, LayerGain, Note, PyGenerator, PyGenRunner

ROLES = ("drums", "bass", "harmony", "lead", "counter")
SECTION_KINDS = ("intro", "a", "b", "bridge", "breakdown", "outro")
BASS_PATTERNS = ("root", "root_fifth", "walking", "arpeggio", "syncopated", "auto")
HARMONY_STYLES = ("pad", "comp", "strum", "arp")
DRUM_RHYTHMS = ("groove", "euclid", "automaton")

# GM percussion keys
KICK, RIM, SNARE, CLAP, HAT, PEDAL_HAT, OPEN_HAT, CRASH, RIDE = 36, 37, 38, 39, 42, 44, 46, 49, 51
TOM_LO, TOM_MID, TOM_HI, TAMB, SHAKER, CLAVES = 45, 47, 50, 54, 70, 75

#: drum grooves: 16 sixteenth steps per 4/4 bar; digits are accents (9 loudest), '.' rest.
#: Each line enters at an intensity ('min'); 'ghost' lines only above 0.7.
GROOVES: dict[str, list[tuple[int, str, float]]] = {
    "pop": [(KICK, "9.....6.9.......", 0.25), (SNARE, "....9.......9...", 0.3),
            (HAT, "7.5.7.5.7.5.7.5.", 0.0), (HAT, ".3.3.3.3.3.3.3.3", 0.75), (OPEN_HAT, "..............5.", 0.6),
            (SNARE, ".......2.2.....2", 0.8)],
    "rock": [(KICK, "9.....7.9.7.....", 0.2), (SNARE, "....9.......9...", 0.25),
             (HAT, "7.6.7.6.7.6.7.6.", 0.0), (RIDE, "7.5.7.5.7.5.7.5.", 0.85), (SNARE, "..........2....2", 0.75)],
    "electronic": [(KICK, "9...9...9...9...", 0.2), (CLAP, "....8.......8...", 0.35),
                   (HAT, "..7...7...7...7.", 0.0), (HAT, "4.3.4.3.4.3.4.3.", 0.6), (OPEN_HAT, "..6...6...6...6.", 0.8),
                   (SHAKER, ".3.3.3.3.3.3.3.3", 0.5)],
    "chiptune": [(KICK, "9.....8...8.....", 0.15), (SNARE, "....9.......9..6", 0.3),
                 (HAT, "6.4.6.4.6.4.6.4.", 0.0), (HAT, ".3.3.3.3.3.3.3.3", 0.65)],
    "folk": [(KICK, "8.......7.......", 0.2), (TAMB, "....7.......7...", 0.0),
             (SHAKER, "5.3.5.3.5.3.5.3.", 0.35), (RIM, "....6.......6...", 0.5), (TAMB, "..3...3...3...3.", 0.75)],
    "halftime": [(KICK, "9.........7.....", 0.2), (SNARE, "........9.......", 0.3),
                 (HAT, "6.4.6.4.6.4.6.4.", 0.0), (RIDE, "5...5...5...5...", 0.7)],
    "latin": [(KICK, "9..6..7.9..6..7.", 0.25), (CLAVES, "9..9...9..9.9...", 0.0),
              (SHAKER, "5353535353535353", 0.4), (RIM, "..6...6...6..6..", 0.6)],
    "ambient": [(SHAKER, "4.......3.......", 0.3), (RIDE, "5...............", 0.55),
                (KICK, "6...............", 0.7)],
}

#: stereo position of each drum key (-1 left .. 1 right), as a drummer's kit seen from the audience
DRUM_PAN = {HAT: 0.35, OPEN_HAT: 0.35, PEDAL_HAT: 0.35, RIDE: -0.35, CRASH: -0.25, TOM_HI: 0.2, TOM_MID: 0.0,
            TOM_LO: -0.25, TAMB: 0.45, SHAKER: -0.4, CLAVES: 0.3, RIM: 0.05}


# ------------------------------------------------------------------------- the form grammar
@dataclass(frozen=True)
class SectionSpec:
    name: str
    bars: int
    intensity: float
    kind: str                      # intro a b bridge breakdown outro
    roles: tuple[str, ...] | None  # None: decided by intensity


_RULE = re.compile(r"^\s*([A-Za-z_][\w']*)\s*->\s*(.*)$")


def parse_form(text: str, sections: dict[str, SectionSpec], where: str,
               rng: random.Random) -> list[SectionSpec]:
    """Expand a form grammar (``Song -> Intro A A B A Outro``; ``|`` alternatives, ``(w)`` weights)
    into its sections. The first rule's left side is the start symbol.

    Errors name ``where``, the line and the symbol: a symbol that is neither a rule nor a section,
    and a grammar that cannot terminate (a symbol whose every alternative recurses).
    """
    rules: dict[str, list[tuple[float, list[str]]]] = {}
    lines: dict[str, int] = {}
    start = None
    parsed: list[tuple[int, str, str]] = []
    for ln, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        m = _RULE.match(line)
        if not m:
            raise ConfigError(f"{where}: line {ln}: expected 'Name -> symbols', got {line!r}")
        parsed.append((ln, m.group(1), m.group(2)))
        start = start or m.group(1)
        lines.setdefault(m.group(1), ln)
    for ln, lhs, rhs in parsed:
        for alt in rhs.split("|"):
            toks = alt.split()
            w = 1.0
            if toks and toks[0].startswith("(") and toks[0].endswith(")"):
                try:
                    w = float(toks[0][1:-1])
                except ValueError:
                    raise ConfigError(f"{where}: line {ln}: bad weight {toks[0]!r}") from None
                toks = toks[1:]
            if not toks:
                raise ConfigError(f"{where}: line {ln}: an empty alternative for {lhs!r}")
            for t in toks:
                if t not in sections and t not in lines:
                    raise ConfigError(f"{where}: line {ln}: unknown section {t!r}; sections: "
                                      f"{', '.join(sections)}")
            rules.setdefault(lhs, []).append((w, toks))
    if start is None:
        raise ConfigError(f"{where}: the form grammar has no rule")
    # productive symbols: sections, and rules with an alternative of productive symbols only
    prod = set(sections)
    changed = True
    while changed:
        changed = False
        for lhs, alts in rules.items():
            if lhs not in prod and any(all(t in prod for t in toks) for _, toks in alts):
                prod.add(lhs)
                changed = True
    dead = [lhs for lhs in rules if lhs not in prod]
    if dead:                          # name the rule that recurses into itself, if one does
        lhs = next((d for d in dead if all(d in toks for _, toks in rules[d])), dead[0])
        if True:
            raise ConfigError(f"{where}: line {lines[lhs]}: the form never terminates: every alternative of "
                              f"{lhs!r} leads back to itself")
    out: list[SectionSpec] = []

    def expand(sym: str, depth: int) -> None:
        if sym in rules and not (sym in sections and depth > 0):
            alts = rules[sym]
            if depth > 24 or len(out) > 256:
                # terminate: take an alternative that is all sections or closest to it
                alts = sorted(alts, key=lambda a: sum(t not in sections for t in a[1]))[:1]
            tot = sum(w for w, _ in alts)
            x = rng.random() * tot
            pick = alts[-1][1]
            for w, toks in alts:
                x -= w
                if x < 0:
                    pick = toks
                    break
            for t in pick:
                expand(t, depth + 1)
        else:
            out.append(sections[sym])

    expand(start, 0)
    return out


# ------------------------------------------------------------------------- configuration
@dataclass(frozen=True)
class RoleSpec:
    role: str
    layer: int
    instrument: int                 # engine index; -1: the drum kit is missing (role silent)
    instrument_name: str
    pattern: str = ""
    velocity: float = 90.0
    low: int = 0
    high: int = 127
    pan: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ArrangementSpec:
    style: str
    form: str
    sections: dict[str, SectionSpec]
    roles: dict[str, RoleSpec]
    chords_per_bar: int
    swing: float
    humanize_ms: float
    where: str
    progression: tuple[str, ...] = ()      # fixed numerals instead of the Markov chain (colours)
    follow_density: bool = False           # the game's density/intensity (harm[H_DENSITY]) moves the form's
    lead_from: str = ""                    # the layer of a compiled generator that carries the lead


_DEFAULT_LAYERS = {"drums": LAYER_AUX2, "bass": LAYER_AUX1, "harmony": LAYER_RULES, "lead": LAYER_GRAMMAR,
                   "counter": LAYER_AUTOMATA}
_DEFAULT_INSTR = {"drums": "drums", "bass": "finger_bass", "harmony": "strings", "lead": "flute",
                  "counter": "clarinet"}
_RANGE = {"drums": (0, 127), "bass": (28, 55), "harmony": (52, 79), "lead": (62, 86), "counter": (53, 72)}
_ROLE_KEYS = {"instrument", "layer", "pattern", "style", "velocity", "low", "high", "pan", "rhythm", "euclid",
              "rule", "motif", "enter"}
_SECTION_KEYS = {"bars", "intensity", "kind", "roles"}
_TOP_KEYS = {"style", "form", "sections", "chords_per_bar", "humanize_ms", "progression", "follow_density",
             "lead_from", *ROLES}


def _kind_of(name: str) -> str:
    n = name.lower().rstrip("0123456789'_")
    for k in SECTION_KINDS:
        if n == k or n.startswith(k):
            return k
    return "a"


def parse_arrangement(doc: dict, where: str, swing: float = 0.0) -> ArrangementSpec:
    """Validate an ``[arrangement]`` table (see the module docstring)."""
    w = f"{where}: arrangement"
    if not isinstance(doc, dict):
        raise ConfigError(f"{w}: must be a table")
    for k in doc:
        if k not in _TOP_KEYS:
            raise ConfigError(f"{w}: unknown key {k!r}; roles: {', '.join(ROLES)}; other keys: "
                              f"{', '.join(sorted(_TOP_KEYS - set(ROLES)))}")
    style = str(doc.get("style", "pop"))
    if style not in GROOVES:
        raise ConfigError(f"{w}: unknown style {style!r}; styles: {', '.join(GROOVES)}")
    secs: dict[str, SectionSpec] = {}
    for name, t in (doc.get("sections") or {"A": {"bars": 8, "intensity": 0.6}}).items():
        if not isinstance(t, dict):
            raise ConfigError(f"{w}.sections.{name}: must be a table")
        for k in t:
            if k not in _SECTION_KEYS:
                raise ConfigError(f"{w}.sections.{name}: unknown key {k!r}; known: {', '.join(sorted(_SECTION_KEYS))}")
        bars = t.get("bars", 8)
        inten = t.get("intensity", 0.5)
        if not isinstance(bars, int) or not 1 <= bars <= 64:
            raise ConfigError(f"{w}.sections.{name}: bars must be an integer 1..64")
        if not isinstance(inten, (int, float)) or not 0.0 <= inten <= 1.0:
            raise ConfigError(f"{w}.sections.{name}: intensity must be 0..1")
        kind = str(t.get("kind", _kind_of(name)))
        if kind not in SECTION_KINDS:
            raise ConfigError(f"{w}.sections.{name}: unknown kind {kind!r}; kinds: {', '.join(SECTION_KINDS)}")
        roles = t.get("roles")
        if roles is not None:
            bad = [r for r in roles if r not in ROLES]
            if bad:
                raise ConfigError(f"{w}.sections.{name}: unknown role {bad[0]!r}; roles: {', '.join(ROLES)}")
            roles = tuple(roles)
        secs[str(name)] = SectionSpec(str(name), bars, float(inten), kind, roles)
    form = str(doc.get("form", "Song -> " + " ".join(secs)))
    roles_out: dict[str, RoleSpec] = {}
    for role in ROLES:
        if role not in doc:
            continue
        t = doc[role]
        if t is False:
            continue
        if t is True:
            t = {}
        if not isinstance(t, dict):
            raise ConfigError(f"{w}.{role}: must be a table (or true/false)")
        for k in t:
            if k not in _ROLE_KEYS:
                raise ConfigError(f"{w}.{role}: unknown key {k!r}; known: {', '.join(sorted(_ROLE_KEYS))}")
        lay = t.get("layer", _DEFAULT_LAYERS[role])
        if isinstance(lay, str):
            if lay not in LAYER_NAMES:
                raise ConfigError(f"{w}.{role}: unknown layer {lay!r}; layers: {', '.join(LAYER_NAMES)}")
            lay = LAYER_NAMES.index(lay)
        iname = t.get("instrument", _DEFAULT_INSTR[role])
        idx = I.resolve(iname, f"{w}.{role}")
        if role == "drums" and idx >= 0 and isinstance(iname, str) and iname != I.DRUMS:
            raise ConfigError(f"{w}.drums: the drums role plays the kit ('drums'), not {iname!r}")
        pattern = str(t.get("pattern", t.get("style", t.get("rhythm", ""))))
        if role == "bass" and pattern and pattern not in BASS_PATTERNS:
            raise ConfigError(f"{w}.bass: unknown pattern {pattern!r}; patterns: {', '.join(BASS_PATTERNS)}")
        if role == "harmony" and pattern and pattern not in HARMONY_STYLES:
            raise ConfigError(f"{w}.harmony: unknown style {pattern!r}; styles: {', '.join(HARMONY_STYLES)}")
        if role == "drums" and pattern and pattern not in DRUM_RHYTHMS:
            raise ConfigError(f"{w}.drums: unknown rhythm {pattern!r}; rhythms: {', '.join(DRUM_RHYTHMS)}")
        lo, hi = _RANGE[role]
        roles_out[role] = RoleSpec(role, int(lay), idx, str(iname), pattern, float(t.get("velocity", 90)),
                                   int(t.get("low", lo)), int(t.get("high", hi)), float(t.get("pan", 0.0)),
                                   {k: t[k] for k in ("euclid", "rule", "motif", "enter") if k in t})
    cpb = doc.get("chords_per_bar", 1)
    if cpb not in (1, 2):
        raise ConfigError(f"{w}: chords_per_bar must be 1 or 2")
    prog = doc.get("progression", "")
    if not isinstance(prog, str):
        raise ConfigError(f"{w}: progression must be a string of numerals or 'markov'")
    numerals: tuple[str, ...] = ()
    if prog and prog != "markov":
        try:
            theory.parse_progression(prog)
        except ConfigError as e:
            raise ConfigError(f"{w}.progression: {e}") from None
        numerals = tuple(prog.split())
    lead_from = str(doc.get("lead_from", ""))
    if lead_from and lead_from not in LAYER_NAMES:
        raise ConfigError(f"{w}: lead_from: unknown layer {lead_from!r}; layers: {', '.join(LAYER_NAMES)}")
    spec = ArrangementSpec(style, form, secs, roles_out, int(cpb), float(swing),
                           float(doc.get("humanize_ms", 6.0)), where, numerals,
                           bool(doc.get("follow_density", False)), lead_from)
    parse_form(form, secs, f"{w}.form", random.Random(0))    # errors now, not at play time
    return spec


# ------------------------------------------------------------------------- the plan
@dataclass
class Bar:
    index: int                      # bar number from the start
    section: SectionSpec
    bar_in_section: int
    intensity: float
    chords: list[tuple[float, theory.Chord]]   # (beat offset in bar, chord)
    phrase_pos: int                 # 0..3 within the 4-bar phrase
    consequent: bool
    last_of_section: bool
    first_of_section: bool


class Arrangement(PyGenerator):
    """The band (see the module docstring)."""

    name = "arrangement"

    def __init__(self, spec: ArrangementSpec, tonic: int, scale: tuple[int, ...], beats_per_bar: int = 4,
                 seed: int = 1, bpm: float = 110.0) -> None:
        super().__init__(layer=LAYER_RULES)
        self.bpm = float(bpm)
        self.spec = spec
        self.tonic = int(tonic) % 12
        self.scale = tuple(scale)
        self.minor = 3 in scale and 4 not in scale
        self.bpb = int(beats_per_bar)
        self.rng = random.Random(seed * 7919 + 17)
        self.chain = ChordChain(self.minor, random.Random(seed * 104729 + 3))
        self.form_rng = random.Random(seed * 31 + 5)
        self.bars: list[Bar] = []
        self.events: dict[int, list[Note | Chord | LayerGain]] = {}
        #: layers of the preset's compiled generators and their gains: the form moves them too
        self.colour_layers: dict[int, float] = {}
        self.intensity_override: float | None = None
        self.intensity_offset = 0.0
        self._jump: str | None = None
        self._prev_voicing: list[int] = []
        self._bass_last = 40
        self._lead_last = (spec.roles["lead"].low + spec.roles["lead"].high) // 2 if "lead" in spec.roles else 72
        self._counter_last = 60
        self._motif: list[tuple[float, float, int]] = []
        self._anchor: int | None = None
        self._motif_b: list[tuple[float, float, int]] = []
        self._ca_row = [0] * 16
        self._ca_row[7] = 1
        self.missing_kit = "drums" in spec.roles and spec.roles["drums"].instrument < 0
        self._prog_i = 0
        self._last_x = 0.0
        self.harm: Any = None              # the engine's harmony array (read: H_DENSITY)

    # ------------------------------------------------------------- control (game, UI)
    def set_intensity(self, value: float | None) -> None:
        """Drive the intensity (0..1) of the bars planned from now on; None: back to the form's."""
        self.intensity_override = None if value is None else min(1.0, max(0.0, float(value)))

    def jump_to(self, section: str) -> None:
        """Start ``section`` at the next bar not yet planned."""
        if section not in self.spec.sections:
            raise ConfigError(f"no section {section!r}; sections: {', '.join(self.spec.sections)}")
        self._jump = section

    # ------------------------------------------------------------- planning
    def _chord(self, numeral: str) -> theory.Chord:
        # the chorales' ii7 in minor is half-diminished (music21 labels it by its diminished triad)
        return theory.parse_numeral("iih7" if numeral == "iio7" else numeral, self.minor)

    def _plan_section(self, sec: SectionSpec, start_bar: int, final: bool) -> None:
        n = sec.bars
        cpb = self.spec.chords_per_bar
        numer: list[str] = []
        phrases = max(1, math.ceil(n / 4))
        for ph in range(phrases):
            bars = min(4, n - 4 * ph)
            k = bars * cpb
            last = ph == phrases - 1
            if self.spec.progression:
                seq = [self.spec.progression[(self._prog_i + i) % len(self.spec.progression)] for i in range(k)]
                self._prog_i += k
            else:
                start = None
                if sec.kind in ("b", "bridge") and ph == 0:
                    start = self.rng.choice(("iv", "VI") if self.minor else ("IV", "vi", "ii"))
                cad = "authentic" if (last or ph % 2 == 1) else "half"
                if sec.kind == "intro" and last:
                    cad = "half"
                if sec.kind == "breakdown":
                    cad = "plagal" if last else "none"
                seq = self.chain.phrase(k, start, cad)
                if ph == 0 and start is None:
                    seq[0] = "i" if self.minor else "I"
            numer += seq
        for b in range(n):
            chords = [(float(j * self.bpb / cpb), self._chord(numer[b * cpb + j])) for j in range(cpb)]
            arc = sec.intensity
            if sec.kind == "outro":
                arc -= 0.25 * b / max(1, n - 1)
            elif n >= 4:
                arc += 0.12 * math.sin(math.pi * b / n) + (0.08 if b >= n - 2 else 0.0)
            self.bars.append(Bar(start_bar + b, sec, b, min(1.0, max(0.0, arc)), chords, b % 4, (b // 4) % 2 == 1,
                                 b == n - 1, b == 0))

    def _ensure_planned(self, bar: int) -> None:
        while len(self.bars) <= bar:
            if self._jump is not None:
                secs = [self.spec.sections[self._jump]]
                self._jump = None
            else:
                secs = parse_form(self.spec.form, self.spec.sections, self.spec.where, self.form_rng)
            for i, s in enumerate(secs):
                self._plan_section(s, len(self.bars), i == len(secs) - 1)

    # ------------------------------------------------------------- the generator
    def next_events(self, window: BeatWindow) -> Iterable[Note | Chord | LayerGain]:
        b0 = int(math.floor(window.start / self.bpb + 1e-9))
        b1 = int(math.floor((window.end - 1e-9) / self.bpb))
        out: list[Note | Chord | LayerGain] = []
        for b in range(b0, b1 + 1):
            if b not in self.events:
                self._ensure_planned(b)
                self.events[b] = self._render_bar(self.bars[b])
                self.events.pop(b - 8, None)
            for ev in self.events[b]:
                if window.start - 1e-9 <= ev.beat < window.end - 1e-9:
                    out.append(ev)
        return out

    def _intensity(self, bar: Bar) -> float:
        x = bar.intensity if self.intensity_override is None else self.intensity_override
        if self.spec.follow_density and self.harm is not None:
            # a game's intensity (the "density" target, 0..1; 0.5 = the form's own) moves every bar
            x += (float(self.harm[H_DENSITY]) - 0.5) * 1.3
        return min(1.0, max(0.0, x))

    def _plays(self, role: str, bar: Bar, x: float) -> bool:
        if role not in self.spec.roles:
            return False
        if bar.section.roles is not None:
            return role in bar.section.roles
        enter = self.spec.roles[role].extra.get("enter")
        if enter is not None:
            return x >= float(enter)
        th = {"drums": 0.2, "bass": 0.15, "harmony": 0.0, "lead": 0.3, "counter": 0.7}[role]
        if bar.section.kind == "intro" and role in ("lead", "counter"):
            return False
        if bar.section.kind == "breakdown" and role in ("drums", "counter"):
            return False
        return x >= th

    def _render_bar(self, bar: Bar) -> list[Note | Chord | LayerGain]:
        x = self._intensity(bar)
        out = self._render_parts(bar, x)
        self._last_x = x
        return out

    def _render_parts(self, bar: Bar, x: float) -> list[Note | Chord | LayerGain]:
        t0 = float(bar.index * self.bpb)
        out: list[Note | Chord | LayerGain] = [Chord(t0 + off, tuple((self.tonic + pc) % 12 for pc in ch.pcs))
                                               for off, ch in bar.chords]
        # the compiled generators' layers follow the intensity too (-6 dB .. +2 dB around their gain)
        for lay, g in self.colour_layers.items():
            out.append(LayerGain(t0, lay, g * 10.0 ** ((-6.0 + 8.0 * x) / 20.0)))
        if self._plays("drums", bar, x) and not self.missing_kit:
            out += self._drums(bar, x, t0)
        if self._plays("bass", bar, x):
            out += self._bass(bar, x, t0)
        if self._plays("harmony", bar, x):
            out += self._harmony(bar, x, t0)
        lead_notes: list[Note] = []
        if self._plays("lead", bar, x):
            lead_notes = self._lead(bar, x, t0)
            out += lead_notes
        if self._plays("counter", bar, x):
            out += self._counter(bar, x, t0, lead_notes)
        return out

    # ------------------------------------------------------------- pitch helpers
    def _pcs_at(self, bar: Bar, beat_in_bar: float) -> tuple[int, ...]:
        ch = bar.chords[0][1]
        for off, c in bar.chords:
            if beat_in_bar >= off - 1e-9:
                ch = c
        return tuple((self.tonic + pc) % 12 for pc in ch.pcs)

    def _chord_at(self, bar: Bar, beat_in_bar: float) -> theory.Chord:
        ch = bar.chords[0][1]
        for off, c in bar.chords:
            if beat_in_bar >= off - 1e-9:
                ch = c
        return ch

    def _scale_pcs(self, chord_pcs: tuple[int, ...]) -> list[int]:
        """The key's scale with the chord's altered tones in place of their neighbours (a raised
        leading tone over V in minor replaces the lowered seventh, so the line never clashes).
        A gapped scale (pentatonic, blues) walks on its diatonic parent, so a line can step."""
        scale = self.scale if len(self.scale) >= 7 else ((0, 2, 3, 5, 7, 8, 10) if self.minor
                                                         else (0, 2, 4, 5, 7, 9, 11))
        sc = {(self.tonic + s) % 12 for s in scale}
        for pc in chord_pcs:
            if pc not in sc:
                sc.discard((pc - 1) % 12)
                sc.discard((pc + 1) % 12)
                sc.add(pc)
        return sorted(sc)

    @staticmethod
    def _nearest(pcs: Iterable[int], target: int, lo: int, hi: int) -> int:
        best, bd = target, 99
        for n in range(lo, hi + 1):
            if n % 12 in pcs and abs(n - target) < bd:
                best, bd = n, abs(n - target)
        return best

    def _vel(self, base: float, accent: float, x: float) -> float:
        v = base * (0.55 + 0.6 * x) * accent * (1.0 + 0.08 * (self.rng.random() - 0.5))
        return min(127.0, max(1.0, v))

    def _swing(self, beat16: float) -> float:
        """Swing: odd sixteenths (or eighths in folk/latin feels) come late."""
        k = int(round(beat16 * 4))
        return beat16 + (self.spec.swing / 4.0 if k % 2 == 1 else 0.0)

    # ------------------------------------------------------------- drums
    def _drum_lines(self, bar: Bar, x: float) -> list[tuple[int, list[float]]]:
        spec = self.spec.roles["drums"]
        rhythm = spec.pattern or "groove"
        lines: list[tuple[int, list[float]]] = []
        for key, pat, mn in GROOVES[self.spec.style]:
            if x >= mn:
                lines.append((key, [0.0 if c == "." else int(c) / 9.0 for c in pat]))
        if rhythm == "euclid":
            tracks = spec.extra.get("euclid") or [{"key": KICK, "pulses": 3, "steps": 8},
                                                   {"key": RIM, "pulses": 5, "steps": 16, "rotation": 2},
                                                   {"key": SHAKER, "pulses": 7, "steps": 16}]
            lines = [ln for ln in lines if ln[0] in (SNARE, CLAP, HAT)]
            for i, t in enumerate(tracks):
                if x < 0.15 * i:
                    continue
                epat = theory.euclid(int(t["pulses"]), int(t["steps"]), int(t.get("rotation", 0)))
                reps = 16 // len(epat) if 16 % len(epat) == 0 else 1
                cells = (epat * reps)[:16] + [0] * max(0, 16 - len(epat) * reps)
                lines.append((int(t.get("key", KICK)), [0.9 if (c and j % 4 == 0) else 0.65 * c
                                                         for j, c in enumerate(cells)]))
        elif rhythm == "automaton":
            from .reference import elementary_step

            self._ca_row = elementary_step(self._ca_row, int(spec.extra.get("rule", 90)), True)
            if sum(self._ca_row) == 0:
                self._ca_row[self.rng.randrange(16)] = 1
            lines = [ln for ln in lines if ln[0] not in (HAT, SHAKER)]
            lines.append((HAT, [0.75 if j % 4 == 0 else (0.5 if c else 0.0) for j, c in enumerate(self._ca_row)]))
        return lines

    def _drums(self, bar: Bar, x: float, t0: float) -> list[Note]:
        spec = self.spec.roles["drums"]
        out: list[Note] = []
        steps = 4 * self.bpb
        fill_from = steps - (8 if x > 0.6 else 4) if bar.last_of_section and x >= 0.35 else steps
        for key, cells in self._drum_lines(bar, x):
            for j in range(min(steps, len(cells))):
                a = cells[j % len(cells)]
                if a <= 0 or j >= fill_from:
                    continue
                if key in (HAT, SHAKER) and a < 0.5 and self.rng.random() > 0.35 + 0.6 * x:
                    continue
                lag = {SNARE: 0.012, CLAP: 0.008, HAT: -0.004}.get(key, 0.0)
                jitter = (self.rng.random() - 0.5) * self.spec.humanize_ms / 1000.0
                b = self._swing(j / 4.0) + (lag + jitter) * self.bpm / 60.0    # seconds -> beats
                out.append(Note(t0 + max(0.0, b), key, self._vel(spec.velocity, 0.55 + 0.55 * a, x), 0.25,
                                layer=spec.layer, instrument=spec.instrument, pan=DRUM_PAN.get(key, 0.0)))
        if fill_from < steps:                      # a fill into the next section
            toms = (SNARE, TOM_HI, TOM_MID, TOM_LO)
            for i, j in enumerate(range(fill_from, steps)):
                if x < 0.5 and j % 2 == 1:
                    continue
                key = toms[min(3, i * 4 // (steps - fill_from))] if x > 0.5 else SNARE
                out.append(Note(t0 + j / 4.0, key, self._vel(spec.velocity, 0.6 + 0.5 * i / (steps - fill_from), x),
                                0.25, layer=spec.layer, instrument=spec.instrument, pan=DRUM_PAN.get(key, 0.0)))
            out.append(Note(t0 + (steps - 4) / 4.0, KICK, self._vel(spec.velocity, 0.9, x), 0.25, layer=spec.layer,
                            instrument=spec.instrument))
        jumped = abs(x - self._last_x) > 0.25 and bar.index > 0      # a game's intensity leapt
        if (bar.first_of_section or jumped) and bar.index > 0 and x >= 0.4:
            out.append(Note(t0, CRASH, self._vel(spec.velocity, 1.0, x), 2.0, layer=spec.layer,
                            instrument=spec.instrument, pan=DRUM_PAN[CRASH]))
        return out

    # ------------------------------------------------------------- bass
    def _bass(self, bar: Bar, x: float, t0: float) -> list[Note]:
        spec = self.spec.roles["bass"]
        pat = spec.pattern or "auto"
        if pat == "auto":
            pat = "root" if x < 0.35 else ("root_fifth" if x < 0.6 else ("syncopated" if x < 0.85 else "arpeggio"))
        out: list[Note] = []
        lo, hi = spec.low, spec.high
        nxt = self.bars[bar.index + 1] if bar.index + 1 < len(self.bars) else None
        for ci, (off, ch) in enumerate(bar.chords):
            span = (bar.chords[ci + 1][0] if ci + 1 < len(bar.chords) else self.bpb) - off
            root_pc = (self.tonic + ch.root) % 12
            root = self._nearest({root_pc}, self._bass_last, max(lo, 31), min(hi, 47))
            fifth_pc = (root_pc + 7) % 12
            third_pc = (self.tonic + ch.pcs[1]) % 12
            rhythm: list[tuple[float, int, float, float]] = []       # (beat, note, beats, accent)
            if pat == "root":
                rhythm = [(0.0, root, span * 0.95, 1.0)]
            elif pat == "root_fifth":
                f = self._nearest({fifth_pc}, root + 5, lo, hi)
                half = span / 2
                rhythm = [(0.0, root, half * 0.9, 1.0), (half, f, half * 0.9, 0.85)]
            elif pat == "arpeggio":
                cyc = [root, self._nearest({third_pc}, root + 4, lo, hi), self._nearest({fifth_pc}, root + 7, lo, hi),
                       root + 12 if root + 12 <= hi else root]
                rhythm = [(i * 0.5, cyc[i % 4], 0.45, 1.0 if i % 2 == 0 else 0.8) for i in range(int(span * 2))]
            elif pat == "syncopated":
                rhythm = [(0.0, root, 0.7, 1.0), (0.75, root, 0.2, 0.7), (1.5, root + 12 if root + 12 <= hi else root,
                                                                       0.4, 0.85)]
                if span >= 4:
                    rhythm += [(2.5, self._nearest({fifth_pc}, root + 7, lo, hi), 0.45, 0.9), (3.5, root, 0.4, 0.8)]
                rhythm = [r for r in rhythm if r[0] < span]
            elif pat == "walking":
                target = root
                if nxt is not None or ci + 1 < len(bar.chords):
                    nch = bar.chords[ci + 1][1] if ci + 1 < len(bar.chords) else nxt.chords[0][1]  # type: ignore[union-attr]
                    target = self._nearest({(self.tonic + nch.root) % 12}, root, max(lo, 31), min(hi, 50))
                notes = [root]
                n = int(span)
                sc = self._scale_pcs(tuple((self.tonic + p) % 12 for p in ch.pcs))
                for i in range(1, n):
                    if i == n - 1:                        # approach the next root by step
                        notes.append(target + (1 if self.rng.random() < 0.5 else -1) * (2 if (target - 2) % 12 in sc
                                                                                          else 1))
                    else:
                        pool = [p for p in range(notes[-1] - 5, notes[-1] + 6) if p % 12 in
                                {(self.tonic + q) % 12 for q in ch.pcs} and p != notes[-1] and lo <= p <= hi]
                        notes.append(self.rng.choice(pool) if pool else notes[-1])
                rhythm = [(float(i), min(hi, max(lo, p)), 0.9, 1.0 if i % 2 == 0 else 0.85)
                          for i, p in enumerate(notes)]
            for b, note, dur, acc in rhythm:
                out.append(Note(t0 + off + self._swing(b), note, self._vel(spec.velocity, acc, x), dur,
                                layer=spec.layer, instrument=spec.instrument, pan=spec.pan))
            self._bass_last = root
        if bar.last_of_section and bar.section.kind == "outro":
            out = [n for n in out if n.beat < t0 + 1] or out
        return out

    # ------------------------------------------------------------- harmony (pad / comping)
    def _voicing(self, pcs: tuple[int, ...], lo: int, hi: int) -> list[int]:
        """Four notes of the chord in lo..hi, moving as little as possible from the last voicing."""
        cands: list[list[int]] = []
        tones = list(pcs[:4]) if len(pcs) >= 4 else list(pcs) + [pcs[0]]
        for base in range(lo, lo + 12):
            if base % 12 not in tones:
                continue
            v = [base]
            for t in tones[tones.index(base % 12) + 1:] + tones[:tones.index(base % 12)]:
                n = v[-1] + 1
                while n % 12 != t:
                    n += 1
                v.append(n)
            if len(v) < 4:
                v.append(v[0] + 12)
            if v[-1] <= hi:
                cands.append(sorted(v[:4]))
        if not cands:
            return sorted(self._nearest({p}, (lo + hi) // 2, lo, hi) for p in tones)
        prev = self._prev_voicing or [(lo + hi) // 2] * 4
        best = min(cands, key=lambda v: sum(abs(a - b) for a, b in zip(v, prev, strict=False)))
        self._prev_voicing = best
        return best

    def _harmony(self, bar: Bar, x: float, t0: float) -> list[Note]:
        spec = self.spec.roles["harmony"]
        style = spec.pattern or "pad"
        out: list[Note] = []
        for ci, (off, ch) in enumerate(bar.chords):
            span = (bar.chords[ci + 1][0] if ci + 1 < len(bar.chords) else self.bpb) - off
            pcs = tuple((self.tonic + pc) % 12 for pc in ch.pcs)
            v = self._voicing(pcs, spec.low, spec.high)
            if style == "pad" or x < 0.25:
                for i, n in enumerate(v):
                    out.append(Note(t0 + off, n, self._vel(spec.velocity, 0.85, x), span * 1.02,
                                    layer=spec.layer, instrument=spec.instrument, pan=spec.pan + (i - 1.5) * 0.45))
            elif style == "comp":
                hits = [(0.0, 0.6, 1.0), (1.5, 0.4, 0.8), (2.5, 0.4, 0.85), (3.5, 0.3, 0.7)] if x > 0.6 else \
                    [(0.0, 1.4, 1.0), (2.5, 1.0, 0.8)]
                for b, d, acc in hits:
                    if b < span:
                        for i, n in enumerate(v):
                            out.append(Note(t0 + off + self._swing(b), n, self._vel(spec.velocity, acc, x),
                                            min(d, span - b - 0.05),
                                            layer=spec.layer, instrument=spec.instrument,
                                            pan=spec.pan + (i - 1.5) * 0.1))
            elif style == "strum":                    # down-up guitar strums, strings spread a few ms
                pattern = [(0.0, 1.0), (1.0, 0.8), (1.5, 0.6), (2.5, 0.7), (3.0, 0.85), (3.5, 0.6)]
                for b, acc in pattern:
                    if b >= span or (x < 0.45 and b % 1.0 != 0.0):
                        continue
                    up = b % 1.0 != 0.0
                    order = v[::-1] if up else v
                    for i, n in enumerate(order):
                        out.append(Note(t0 + off + self._swing(b) + i * 0.02, n,
                                        self._vel(spec.velocity, acc * (0.8 if up else 1.0), x),
                                        min(0.9, span - b - 0.1),
                                        layer=spec.layer, instrument=spec.instrument, pan=spec.pan + (i - 1.5) * 0.15))
            elif style == "arp":
                seq = v + v[1:3][::-1]
                for i in range(int(span * 2)):
                    out.append(Note(t0 + off + self._swing(i * 0.5), seq[i % len(seq)],
                                    self._vel(spec.velocity, 1.0 if i % 2 == 0 else 0.8, x), 0.6,
                                    layer=spec.layer, instrument=spec.instrument, pan=spec.pan + 0.3 * ((i % 3) - 1)))
        return out

    # ------------------------------------------------------------- lead: motifs
    def _new_motif(self) -> list[tuple[float, float, int]]:
        """A one-bar motif: (beat, beats, scale steps from the previous note); mostly steps."""
        rhythms = [[(0, .5), (.5, .5), (1, .5), (1.5, .5), (2, 1), (3, .5), (3.5, .5)],
                   [(0, 1), (1, .5), (1.5, .5), (2, .5), (2.5, .5), (3, 1)],
                   [(0, .75), (.75, .25), (1, .5), (1.5, .5), (2, 1.5), (3.5, .5)],
                   [(0, .5), (.5, .25), (.75, .25), (1, 1), (2, .5), (2.5, .5), (3, 1)],
                   [(0, 1.5), (1.5, .5), (2, .5), (2.5, .5), (3, .5), (3.5, .5)]]
        r = self.rng.choice(rhythms)
        steps = [0]
        for _ in range(len(r) - 1):
            steps.append(self.rng.choice((-1, -1, -1, 1, 1, 1, 1, -2, 2, 0)))
        if all(s == 0 for s in steps[1:]):
            steps[1] = 1
        return [(float(b), float(d), s) for (b, d), s in zip(r, steps, strict=False)]

    def _develop(self, m: list[tuple[float, float, int]], how: str) -> list[tuple[float, float, int]]:
        if how == "inversion":
            return [(b, d, -s) for b, d, s in m]
        if how == "retro_rhythm":             # rhythmic variation: split the longest note, merge two short
            out = list(m)
            i = max(range(len(out)), key=lambda k: out[k][1])
            b, d, s = out[i]
            if d >= 1:
                out[i:i + 1] = [(b, d / 2, s), (b + d / 2, d / 2, self.rng.choice((-1, 1)))]
            return out
        if how == "augmentation":             # the first half at double length
            return [(b * 2, d * 2, s) for b, d, s in m if b * 2 < self.bpb]
        return list(m)

    def _lead(self, bar: Bar, x: float, t0: float) -> list[Note]:
        spec = self.spec.roles["lead"]
        if not self._motif:
            self._motif = self._new_motif()
            self._motif_b = self._develop(self._develop(self._new_motif(), "inversion"), "retro_rhythm")
        base = self._motif_b if bar.section.kind in ("b", "bridge") else self._motif
        pos = bar.phrase_pos
        cad_bar = pos == 3 or (bar.last_of_section and pos > 0)
        # antecedent: statement, sequence up, statement, half cadence; consequent: statement, a
        # development (inversion, augmentation or rhythmic variation), sequence down, full cadence
        dev = ("inversion", "augmentation" if x < 0.5 else "retro_rhythm")[bar.index // 8 % 2]
        plan = {0: ("repeat", 0), 1: ("sequence", 1) if not bar.consequent else (dev, 0),
                2: ("repeat", 0) if not bar.consequent else ("sequence", -1)}
        lo, hi = spec.low, spec.high
        reg_shift = 3 if bar.section.kind in ("b", "bridge") else (0 if x > 0.4 else -2)
        out: list[Note] = []
        if cad_bar:
            # the cadence: a step into a long note on ^2/^5 (half cadence) or ^1/^3 (authentic)
            chord = self._chord_at(bar, 0.0)
            pcs = self._pcs_at(bar, 0.0)
            goal_pcs = {(self.tonic) % 12} if chord.root == 0 else {pcs[0], pcs[1 % len(pcs)]}
            goal = self._nearest(goal_pcs, self._lead_last, lo, hi)
            sc = self._scale_pcs(pcs)
            centre = (lo + hi) // 2
            first = self._nearest(set(pcs) - {goal % 12}, goal + (3 if goal < centre else -3), lo, hi)
            side = 1 if first > goal else -1
            approach = self._nearest(set(sc) - {goal % 12}, goal + side, min(goal, goal + 2 * side),
                                     max(goal, goal + 2 * side))
            if abs(approach - goal) > 2 or approach % 12 not in sc:
                approach = goal
            # a chord tone on the downbeat, a step into the goal on the weak beat, the goal held
            out.append(Note(t0, first, self._vel(spec.velocity, 0.95, x), 0.95, layer=spec.layer,
                            instrument=spec.instrument, pan=spec.pan))
            if approach != goal and approach != first and self.bpb >= 3:
                out.append(Note(t0 + 1, approach, self._vel(spec.velocity, 0.85, x), 0.95, layer=spec.layer,
                                instrument=spec.instrument, pan=spec.pan))
            if goal != first or self.bpb < 3:
                out.append(Note(t0 + min(2, self.bpb - 1), goal, self._vel(spec.velocity, 1.0, x),
                                self.bpb - min(2, self.bpb - 1) - 0.2, layer=spec.layer,
                                instrument=spec.instrument, pan=spec.pan))
            self._lead_last = goal
            return out
        how, seq = plan[pos]
        m = self._develop(base, how) if how not in ("repeat", "sequence") else base
        if pos == 0 and not bar.consequent and self.rng.random() < 0.2 and bar.bar_in_section > 0:
            m = self._develop(m, "retro_rhythm")
        # the motif's first note: the chord tone nearest the last note, drawn towards the line's
        # centre only when it wanders off (+ the sequence step, in scale steps)
        pcs0 = self._pcs_at(bar, m[0][0] if m else 0.0)
        centre = (lo + hi) // 2 + reg_shift
        aim = self._lead_last if abs(self._lead_last - centre) <= 5 else (self._lead_last + centre) // 2
        if how in ("repeat", "sequence") and self._anchor is not None and abs(self._anchor - self._lead_last) <= 7:
            aim = self._anchor                     # a restatement starts where the motif did
        notes: list[list[float]] = []
        cur = self._nearest(set(pcs0), aim, lo, hi)
        if pos == 0:
            self._anchor = cur
        for i, (b, d, s) in enumerate(m):
            pcs = self._pcs_at(bar, b)
            sc = self._scale_pcs(pcs)
            ladder = [n for n in range(lo - 12, hi + 13) if n % 12 in sc]
            k = min(range(len(ladder)), key=lambda j: abs(ladder[j] - cur))
            k += (seq if how == "sequence" else 0) if i == 0 else s
            k = max(0, min(len(ladder) - 1, k))
            n = ladder[k]
            if n > hi:
                n = ladder[max(0, k - 2)] if s > 0 else n - 12        # turn back at the top
            if n < lo:
                n = ladder[min(len(ladder) - 1, k + 2)] if s < 0 else n + 12
            strong = abs(b - round(b)) < 1e-9 and int(round(b)) % 2 == 0
            if strong and n % 12 not in pcs:
                # chord tones on strong beats: the chord tone a step away, in the motif's direction
                up = self._nearest(set(pcs), n + 1, n + 1, n + 3)
                dn = self._nearest(set(pcs), n - 1, n - 3, n - 1)
                n = up if (s >= 0 and up % 12 in pcs) or dn % 12 not in pcs else dn
            notes.append([b, d, float(n)])
            cur = n
        # non-chord tones resolve by step to the next note (else they become chord tones)
        for i in range(len(notes)):
            b, d, fn = notes[i]
            pcs = self._pcs_at(bar, b)
            if int(fn) % 12 in pcs:
                continue
            nxt = notes[i + 1][2] if i + 1 < len(notes) else None
            prv = notes[i - 1][2] if i > 0 else float(self._lead_last)
            # passing and neighbour tones: approached and left by step; the last note of the bar
            # may lead by step into the next bar's first (a chord tone)
            # a long non-chord tone a semitone from a chord tone grinds against the harmony part
            rub = any((int(fn) - pc) % 12 in (1, 11) for pc in pcs) and (d >= 1.0 or d * 60.0 / self.bpm >= 0.4)
            if rub or (nxt is None and d > 0.5) or (nxt is not None and abs(nxt - fn) > 2) or abs(fn - prv) > 2:
                notes[i][2] = float(self._nearest(set(pcs), int(fn), lo, hi))
        for i, (b, d, fn) in enumerate(notes):
            if x < 0.45 and d <= 0.25 and i % 2 == 1:
                continue                                       # a thinner line when calm
            acc = 1.0 if abs(b - round(b)) < 1e-9 else 0.82
            out.append(Note(t0 + self._swing(b), int(fn), self._vel(spec.velocity, acc, x), d * 0.92,
                            layer=spec.layer, instrument=spec.instrument, pan=spec.pan))
        self._lead_last = int(notes[-1][2]) if notes else self._lead_last
        if bar.last_of_section and bar.section.kind in ("b", "bridge"):
            self._motif_b = self._develop(self._motif_b, "retro_rhythm")
        return out

    # ------------------------------------------------------------- counter-line
    def _counter(self, bar: Bar, x: float, t0: float, lead: list[Note]) -> list[Note]:
        spec = self.spec.roles["counter"]
        out: list[Note] = []
        half = self.bpb / 2
        for h in range(2):
            b = h * half
            pcs = self._pcs_at(bar, b)
            ch = self._chord_at(bar, b)
            guide = [(self.tonic + ch.pcs[k]) % 12 for k in (1, 3) if k < len(ch.pcs)] or list(pcs)
            lead_here = [n.note for n in lead if t0 + b <= n.beat < t0 + b + half]
            direction = -1 if lead_here and lead_here[-1] > lead_here[0] else 1    # contrary motion
            target = self._counter_last + direction * 2
            n = self._nearest(set(guide), target, spec.low, spec.high)
            if lead_here and any(abs((ln - n) % 12) in (1, 11) for ln in lead_here):
                n = self._nearest(set(pcs), n, spec.low, spec.high)
            out.append(Note(t0 + b, n, self._vel(spec.velocity, 0.9, x), half * 0.95, layer=spec.layer,
                            instrument=spec.instrument, pan=spec.pan))
            self._counter_last = n
        return out


# ------------------------------------------------------------------------- attaching to an engine
_ATTACHED: weakref.WeakKeyDictionary[Any, tuple[Arrangement, PyGenRunner]] = weakref.WeakKeyDictionary()

#: where each role sits in the stereo field when its layer has no pan of its own
ROLE_PAN = {"drums": 0.0, "bass": 0.0, "harmony": -0.1, "lead": 0.2, "counter": -0.55}


def attach_arrangement(engine: Any, preset: Any) -> Arrangement:
    """Start ``preset``'s arrangement on ``engine`` (offline: a render hook; live: see
    :func:`start_live`). The engine's seed seeds it."""
    spec: ArrangementSpec = preset.arrangement
    arr = Arrangement(spec, preset.key, preset.scale, preset.beats_per_bar, seed=int(engine.spec.seed),
                      bpm=float(preset.tempo))
    arr.harm = engine.state.harm
    role_layers = {rs.layer for rs in spec.roles.values()}
    for _seq, lay in preset.generators:
        if lay not in role_layers:
            arr.colour_layers[lay] = float(preset.layers.get(LAYER_NAMES[lay], 0.8))
    if spec.follow_density:           # 0.5: the form as written, until a game moves it
        engine.send(SetHarmony(H_DENSITY, 0.5))
        if not engine.is_live and int(engine.state.st[S_SAMPLE]) == 0:
            engine.state.harm[H_DENSITY] = 0.5
    runner = PyGenRunner(engine, [arr], window=1.0, ahead=2.0).attach()
    for role, rs in spec.roles.items():
        engine.set_layer(rs.layer, pan=ROLE_PAN[role])
    _ATTACHED[engine] = (arr, runner)
    if arr.missing_kit:
        import logging

        logging.getLogger("rtgen.band").warning(
            "this timbre has no drum kit ('drums'); the drum part is left out (instruments: %s)",
            ", ".join(I.available()))
    return arr


def arrangement_of(engine: Any) -> Arrangement | None:
    """The arrangement playing on ``engine`` (for a game: ``arrangement_of(eng).set_intensity(0.9)``)."""
    got = _ATTACHED.get(engine)
    return got[0] if got else None


def runner_of(engine: Any) -> PyGenRunner | None:
    got = _ATTACHED.get(engine)
    return got[1] if got else None


def start_live(engine: Any) -> None:
    """Live: keep the arrangement computed ahead of the stream (call once the stream runs)."""
    r = runner_of(engine)
    if r is not None:
        r.start_live()


__all__ = ["GROOVES", "ROLES", "Arrangement", "ArrangementSpec", "RoleSpec", "SectionSpec", "arrangement_of",
           "attach_arrangement", "parse_arrangement", "parse_form", "runner_of", "start_live"]
