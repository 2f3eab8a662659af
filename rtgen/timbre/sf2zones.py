"""SoundFont 2 zone reader: which recorded samples a (preset, key, velocity) plays.

Used to split training and held-out notes so that they never share a sample: a held-out
note's samples are played by no training note (``heldout_split``). Only the ``pdta`` chunk
(preset / instrument / sample headers and their generators) is read; the sample data is
skipped, so reading FluidR3_GM.sf2 (148 MB) takes milliseconds.

Format (SoundFont 2.04 specification): RIFF ``sfbk`` → LIST ``pdta`` → ``phdr`` (38-byte
records), ``pbag`` (4), ``pmod``, ``pgen`` (4), ``inst`` (22), ``ibag`` (4), ``imod``,
``igen`` (4), ``shdr`` (46). A preset zone with an ``instrument`` generator (41) points to an
instrument; an instrument zone with a ``sampleID`` generator (53) points to a sample; both may
restrict ``keyRange`` (43) and ``velRange`` (44); a first zone without the terminal
generator is the global zone whose ranges are the defaults of the others.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

GEN_INSTRUMENT = 41
GEN_KEY_RANGE = 43
GEN_VEL_RANGE = 44
GEN_SAMPLE_ID = 53


@dataclass
class Zone:
    """A zone: key and velocity ranges (inclusive) and what it points to (instrument or sample index)."""

    key_lo: int
    key_hi: int
    vel_lo: int
    vel_hi: int
    target: int

    def covers(self, key: int, vel: int) -> bool:
        return self.key_lo <= key <= self.key_hi and self.vel_lo <= vel <= self.vel_hi


@dataclass
class SoundFontZones:
    """The zone tree of a SoundFont: presets keyed by (bank, program) and instruments by index."""

    presets: dict[tuple[int, int], list[Zone]] = field(default_factory=dict)
    preset_names: dict[tuple[int, int], str] = field(default_factory=dict)
    instruments: list[list[Zone]] = field(default_factory=list)
    sample_names: list[str] = field(default_factory=list)

    def samples(self, bank: int, program: int, key: int, vel: int) -> frozenset[int]:
        """Indices of the samples a note (key, velocity) of preset (bank, program) plays."""
        out: set[int] = set()
        for pz in self.presets.get((bank, program), []):
            if not pz.covers(key, vel):
                continue
            for iz in self.instruments[pz.target]:
                if iz.covers(key, vel):
                    out.add(iz.target)
        return frozenset(out)

    def key_samples(self, bank: int, program: int, key: int) -> frozenset[int]:
        """Every sample a key plays at any velocity 1..127."""
        out: set[int] = set()
        for v in range(1, 128):
            out |= self.samples(bank, program, key, v)
        return frozenset(out)


def _chunks(buf: bytes, start: int, end: int) -> dict[str, tuple[int, int]]:
    out = {}
    pos = start
    while pos + 8 <= end:
        cid = buf[pos:pos + 4].decode("latin-1")
        size = struct.unpack_from("<I", buf, pos + 4)[0]
        out[cid] = (pos + 8, size)
        pos += 8 + size + (size & 1)
    return out


def _read_pdta(path: str) -> bytes:
    """The ``pdta`` LIST body of the file (skipping the sample data)."""
    with open(path, "rb") as f:
        head = f.read(12)
        if head[:4] != b"RIFF" or head[8:12] != b"sfbk":
            raise ValueError(f"{path}: not a SoundFont 2 file")
        while True:
            h = f.read(12)
            if len(h) < 8:
                raise ValueError(f"{path}: no pdta chunk")
            cid, size = h[:4], struct.unpack("<I", h[4:8])[0]
            if cid == b"LIST" and h[8:12] == b"pdta":
                return f.read(size - 4)
            f.seek(size - 4 + (size & 1) if cid == b"LIST" else size + (size & 1) - 4, 1)


def _gens(buf: bytes, off: int, lo: int, hi: int) -> list[tuple[int, int]]:
    return [struct.unpack_from("<HH", buf, off + 4 * g) for g in range(lo, hi)]


def _zones(buf: bytes, bags: tuple[int, int], gens: tuple[int, int], bag_lo: int, bag_hi: int,
           terminal: int) -> list[Zone]:
    out: list[Zone] = []
    glob = (0, 127, 0, 127)
    for b in range(bag_lo, bag_hi):
        g0 = struct.unpack_from("<H", buf, bags[0] + 4 * b)[0]
        g1 = struct.unpack_from("<H", buf, bags[0] + 4 * (b + 1))[0]
        kl, kh, vl, vh = glob
        target = -1
        for op, amt in _gens(buf, gens[0], g0, g1):
            if op == GEN_KEY_RANGE:
                kl, kh = amt & 0xFF, amt >> 8
            elif op == GEN_VEL_RANGE:
                vl, vh = amt & 0xFF, amt >> 8
            elif op == terminal:
                target = amt
        if target < 0:
            if b == bag_lo:
                glob = (kl, kh, vl, vh)
            continue
        out.append(Zone(kl, kh, vl, vh, target))
    return out


def read_zones(path: str) -> SoundFontZones:
    """Parse the preset and instrument zones of the SoundFont 2 file ``path``."""
    buf = _read_pdta(path)
    ch = _chunks(buf, 0, len(buf))
    for need in ("phdr", "pbag", "pgen", "inst", "ibag", "igen", "shdr"):
        if need not in ch:
            raise ValueError(f"{path}: pdta lacks {need}")
    sf = SoundFontZones()
    n_inst = ch["inst"][1] // 22
    for i in range(n_inst - 1):                       # the last record is the terminal "EOI"
        b0 = struct.unpack_from("<H", buf, ch["inst"][0] + 22 * i + 20)[0]
        b1 = struct.unpack_from("<H", buf, ch["inst"][0] + 22 * (i + 1) + 20)[0]
        sf.instruments.append(_zones(buf, ch["ibag"], ch["igen"], b0, b1, GEN_SAMPLE_ID))
    n_ph = ch["phdr"][1] // 38
    for i in range(n_ph - 1):                         # the last record is the terminal "EOP"
        o = ch["phdr"][0] + 38 * i
        name = buf[o:o + 20].split(b"\0")[0].decode("latin-1")
        prog, bank, b0 = struct.unpack_from("<HHH", buf, o + 20)
        b1 = struct.unpack_from("<H", buf, o + 38 + 24)[0]
        sf.presets[(bank, prog)] = _zones(buf, ch["pbag"], ch["pgen"], b0, b1, GEN_INSTRUMENT)
        sf.preset_names[(bank, prog)] = name
    n_s = ch["shdr"][1] // 46
    sf.sample_names = [buf[ch["shdr"][0] + 46 * i:ch["shdr"][0] + 46 * i + 20].split(b"\0")[0]
                       .decode("latin-1") for i in range(n_s)]
    return sf


def heldout_split(zones: SoundFontZones, bank: int, program: int, keys: range | list[int],
                  anchors: tuple[int, ...]) -> tuple[list[int], list[int]]:
    """``(train_keys, heldout_keys)`` among ``keys`` holding out the whole zones around ``anchors``.

    The held-out samples are every sample the anchor keys play (any velocity); a key is held
    out if all its samples are held-out ones and is a training key if none of them is; a key
    that mixes both is used for neither. So no training note plays a held-out sample.
    """
    ks = {k: zones.key_samples(bank, program, k) for k in keys}
    held: set[int] = set()
    for a in anchors:
        held |= zones.key_samples(bank, program, a)
    train = [k for k in keys if ks[k] and not (ks[k] & held)]
    test = [k for k in keys if ks[k] and ks[k] <= held]
    return train, test
