"""Memory layout of the real-time engine: every array the audio thread touches.

The real-time path runs in compiled code (Numba) on preallocated numpy arrays.
Nothing here allocates per block. This module is the *contract* between the
engine, the generators, the timbres and the control path: indices into the
state arrays are named constants, so a Sequencer kernel or a control thread
reads and writes the same slots as the engine.

Units: times are in samples (absolute, counted from the engine's start),
pitches are MIDI note numbers (float, so pitch bend and microtones fit),
velocities are MIDI 1..127, gains are linear, pan is -1 (left) .. +1 (right).
"""

from __future__ import annotations

# ---------------------------------------------------------------- sizes
CHUNK = 64            # internal processing grid, in samples (absolute, host-block independent)
MAX_BLOCK = 8192      # largest host block the live backend accepts (offline splits larger ones)
TS = 1024             # samples per single-cycle wavetable (a guard sample is appended: TS + 1)
TS_BITS = 10          # log2(TS): the table index is the top TS_BITS bits of a voice's 32-bit phase
PHASE_FRAC_BITS = 32 - TS_BITS   # the rest of the phase is the interpolation fraction
N_HARM = 64           # harmonics a wavetable holds at most
N_NOTES = 128
N_LAYERS = 8          # mixer layers (see LAYER_* below)
N_GEN = 8             # generator slots
GEN_NI = 64           # int64 state words per generator slot
GEN_NF = 64           # float64 state words per generator slot
GEN_NB = 65536        # int32 scratch/data words per generator slot (grammar tables, CA grids, strings)
N_NOISE_BANDS = 8     # per-layer noise filter bank
NF_DEPTH = 4          # neural frames published ahead per voice (ring; hop h uses slot h % NF_DEPTH)
EVW = 8               # width of a note-event row (sequencer -> engine)
EV_CAP = 1024         # note events one chunk may produce (all generators together)
PQ_CAP = 4096         # pending (future) note on/off queue
CMDW = 8              # width of a command row
CMD_CAP = 4096        # rows per command ring
N_CMD_RINGS = 4       # one single-producer ring per producer thread (see RING_*)
OUTW = 8              # width of an output-event row
OUT_CAP = 16384       # rows in the output-event ring

# ------------------------------------------------ command rings (one producer each)
RING_CONTROL = 0      # Python API / CLI / game / OSC thread
RING_MIDI = 1         # MIDI input thread
RING_ANSWER = 2       # Continuator (answers, scheduled in the future)
RING_TIMBRE = 3       # timbre worker (reserved)
# music: Python generators (rtgen.gen.pygen) write through the reserved timbre ring, its one producer
RING_PYGEN = RING_TIMBRE

# ---------------------------------------------------------------- layers
LAYER_RULES = 0
LAYER_GRAMMAR = 1
LAYER_AUTOMATA = 2
LAYER_PLAYER = 3
LAYER_ANSWER = 4
LAYER_AUX1 = 5
LAYER_AUX2 = 6
LAYER_STINGER = 7
LAYER_NAMES = ("rules", "grammar", "automata", "player", "answer", "aux1", "aux2", "stinger")

# layer parameter columns: lf[layer, LF_*]
LF_GAIN = 0
LF_PAN = 1
LF_MUTE = 2
LF_INSTR = 3          # default instrument index of the layer
LF_PEAK_L = 4         # meters written by the engine (peak since last read, linear)
LF_PEAK_R = 5
LF_GAIN_SMOOTH = 6    # engine-owned smoothed gain (no zipper noise)
LF_ACTIVE_VOICES = 7
LF_TARGET_GAIN = 8    # internal: gain after mute (engine-owned)
LF_SUSTAIN = 9        # sustain pedal down (0/1)
LF_BEND = 10          # pitch bend in semitones
LF_TOUCHED = 11       # engine-owned: a voice of the layer rendered in this chunk
NLF = 16              # (columns 12.. are the per-voice control defaults at the end of this file)

# ------------------------------------------------------- note events (sequencer -> engine)
# ev[i, EV_*] rows written by Sequencer kernels; the engine turns each into a
# note-on at EV_TIME and a note-off at EV_TIME + EV_DUR (so a generator can never leave
# a note stuck).
EV_TIME = 0           # absolute sample of the note-on (may lie in a later chunk)
EV_NOTE = 1           # MIDI note (float)
EV_VEL = 2            # 1..127
EV_DUR = 3            # samples until the note-off (>= 1)
EV_LAYER = 4
EV_INSTR = 5          # instrument index, or -1 for the layer's default
EV_PAN = 6            # pan offset added to the layer pan, -1..1
EV_TAG = 7            # free for the generator (e.g. the automaton state that chose it)

# ------------------------------------------------------- commands (control -> engine)
# cmd row: [kind, a, b, c, d, e, f, time]; time < 0 means "as soon as possible",
# otherwise the absolute sample at which it takes effect.
C_NOTE_ON = 1         # a=note b=vel c=layer d=instr(-1 layer default) e=note_id(-1 auto)
C_NOTE_OFF = 2        # a=note c=layer e=note_id (-1: any voice playing that note on that layer)
C_SUSTAIN = 3         # a=0/1 c=layer
C_PARAM = 4           # a=param index (P_*), b=value
C_LAYER = 5           # a=layer b=column (LF_*) c=value
C_GEN_I = 6           # a=slot b=index c=value
C_GEN_F = 7           # a=slot b=index c=value
C_GEN_ACTIVE = 8      # a=slot b=0/1 (deactivation releases that generator's notes)
C_HARM = 9            # a=index (H_*) b=value
C_ALL_OFF = 10        # a=layer (-1 all): release every voice (and the sustain pedal)
C_PANIC = 11          # silence now: kill every voice, clear pending notes
C_TEMPO = 12          # a=bpm (applied at the next chunk; beat phase continues)
C_PITCHBEND = 13      # a=semitones c=layer
C_NOTE_NOW = 14       # like C_NOTE_ON with b=vel, f=duration in samples (one-shot; stingers)
C_RESET_CLOCK = 15    # a=beat position
C_METER = 16          # a=beats per bar
C_SWING = 17          # a=swing 0..0.75

# ------------------------------------------------------- output events (engine -> control)
O_NOTE_ON = 1         # [kind, time, note, vel, layer, voice, instr, note_id]
O_NOTE_OFF = 2        # [kind, time, note, 0, layer, voice, instr, note_id]
O_BEAT = 3            # [kind, time, beat_index, bar_index, beat_in_bar, 0, 0, 0]
O_STEAL = 4           # [kind, time, note, 0, layer, voice, 0, 0]
O_GEN_STATE = 5       # [kind, time, slot, value...]: generator-specific (e.g. automaton row)

# ------------------------------------------------------- global parameters p[P_*] (float64)
P_SR = 0              # sample rate
P_BPM = 1
P_BEATS_PER_BAR = 2
P_SWING = 3           # fraction of a step the odd steps are delayed (0 = straight, 0.33 = triplet feel)
P_MASTER_GAIN = 4
P_LIMIT_CEIL = 5      # limiter ceiling (linear, < 1)
P_LIMIT_RELEASE = 6   # seconds
P_ATTACK = 7          # default ADSR (seconds, level)
P_DECAY = 8
P_SUSTAIN = 9
P_RELEASE = 10
P_BEAT = 11           # engine-owned: beat position at the start of the current chunk
P_LIMIT_GAIN = 12     # engine-owned: current limiter gain
P_PEAK_L = 13         # engine-owned meters (peak since last read)
P_PEAK_R = 14
P_VOICE_GAIN = 15     # per-voice headroom scaling
P_TEMPO_TARGET = 16
P_NOISE_SEED = 17
P_NEURAL = 18         # 1 when a neural timbre feeds frames (see timbre/)
P_HOP = 19            # samples per timbre hop
P_MORPH = 20          # instrument morph amount 0..1 between LF_INSTR and P_MORPH_TO
P_MORPH_TO = 21
P_BEAT_INC = 22       # engine-owned: beats per chunk at the current tempo
NP = 384              # 0..31 engine parameters; 64.. the master stage's state (block below)

# music: the master loudness stage and true-peak limiter (rtgen.rt.master), switched on by presets.
# Its state lives in p so the live callback carries it: scalars, K-weighting coefficients and
# filter states, interpolator taps, and four rings of M_RING samples (lookahead M_LOOK).
M_RING = 64
M_LOOK = 32
P_M_ON = 64           # 1: master_out replaces the plain limiter
P_M_TARGET = 65       # integrated loudness target, LUFS
P_M_CEIL = 66         # true-peak ceiling (linear, margin included)
P_M_RATE = 67         # dB per second the loudness gain may move
P_M_GAIN_DB = 68      # engine-owned: the loudness gain now, dB
P_M_FAST = 69         # engine-owned: 400 ms K-weighted mean square (the gate)
P_M_SLOW = 70         # engine-owned: the followed K-weighted mean square
P_M_COUNT = 71        # engine-owned: gated samples counted
P_M_LIM_G = 72        # engine-owned: limiter gain
P_M_POS = 73          # engine-owned: ring write position (samples)
P_M_LOUDNESS = 74     # engine-owned: the follower's loudness, LUFS (a meter)
P_M_KC = 80           # 80..89: K-weighting biquads [b0 b1 b2 a1 a2] x 2
P_M_KS = 90           # 90..97: their states (L stage 1, L stage 2, R stage 1, R stage 2)
P_M_FIR = 100         # 100..123: 3 phases x 8 taps of the inter-sample peak interpolator
P_M_XL = 128          # rings: delayed left, right, required gain, held gain
P_M_XR = P_M_XL + M_RING
P_M_R = P_M_XR + M_RING
P_M_H = P_M_R + M_RING
if P_M_H + M_RING > NP:
    raise RuntimeError("the master stage's block does not fit in p")

# ------------------------------------------------------- engine counters st[S_*] (int64)
S_SAMPLE = 0          # absolute sample position (start of the next sample to render)
S_BLOCKS = 1          # render() calls (live: callbacks)
S_UNDERFLOWS = 2      # output underflows reported by the audio API
S_CMD_DROPPED = 3     # commands dropped because a ring was full (counted by producers)
S_EV_DROPPED = 4      # note events dropped (event buffer or pending queue full)
S_OUT_DROPPED = 5     # output events dropped (ring full: nobody reading)
S_NOTES = 6           # notes started
S_STEALS = 7          # voices stolen
S_WORST_NS = 8        # worst block compute time (live backend), nanoseconds
S_LAST_NS = 9
S_NONFINITE = 10      # samples where a non-finite value was caught and zeroed
S_CLIPS = 11          # samples where the limiter's safety clamp acted
S_RNG = 12            # engine noise generator state
S_NOTE_ID = 13        # next note id
S_BEAT_INDEX = 14     # last beat index emitted
S_LATE_FRAMES = 15    # neural frames that were not ready in time (voice fell back)
S_INPUT_OVERFLOWS = 16
S_CB_OVER_DEADLINE = 17  # callbacks whose compute exceeded the block's deadline
S_TOTAL_NS = 18       # total compute time (live), nanoseconds
S_PQ_COUNT = 19
S_HOP_INDEX = 20
# live-path timing (written by the live callback) for constant-latency scheduling
S_CB_TIME_NS = 21     # CLOCK_MONOTONIC time at the start of the last callback
S_CB_SAMPLE = 22      # S_SAMPLE at the start of the last callback
S_PQ_SEQ = 23         # sequence number of pending-queue rows (ties keep arrival order)
S_CMD_BAD = 24        # commands rejected by the kernel (non-finite or out-of-range values)
# The live callback's thread CPU time (CLOCK_THREAD_CPUTIME_ID). Unlike wall time (S_WORST_NS)
# it leaves out the time other threads and processes took the core; a virtual machine's guest
# still charges it with the time its host took the vCPU away.
S_WORST_CPU_NS = 25
S_CB_OVER_DEADLINE_CPU = 26  # callbacks whose own CPU time exceeded the block's deadline
NS = 32

# ------------------------------------------------------- voice state vf[v, VF_*] (float64)
VF_STATE = 0          # VS_* below
VF_NOTE = 1           # MIDI note (base, without bend)
VF_VEL = 2            # 1..127
VF_LAYER = 3
VF_INSTR = 4
VF_PHASE = 5          # cycle position, 32-bit fixed point (an integer 0 .. 2**32 - 1, exact in float64)
VF_INC = 6            # cycles per sample (includes bend)
VF_ENV = 7            # envelope level 0..1
VF_ENV_STAGE = 8      # ES_* below
VF_GAIN = 9           # velocity/instrument gain
VF_PAN = 10
VF_AGE = 11           # samples since note-on
VF_NOTE_ID = 12
VF_SUSTAINED = 13     # note-off arrived while the pedal was down
VF_LP = 14            # one-pole lowpass state (brightness)
VF_LP_COEF = 15
VF_XF = 16            # crossfade position 0..1 from table slot 0 to slot 1 (neural frames)
VF_XF_INC = 17
VF_AMP = 18           # neural amplitude (current, ramped)
VF_AMP_TARGET = 19
VF_REL_AGE = 20       # samples since release began
VF_ATTACK = 21        # per-voice ADSR copy (seconds)
VF_DECAY = 22
VF_SUSLEVEL = 23
VF_RELEASE = 24
VF_LAST_OUT = 25      # |last sample| (for stealing the quietest)
VF_BEND = 26          # semitones
VF_GEN = 27           # generator slot that started it (-1 none)
VF_NOISE = 28         # noise amount of this voice (0..1) feeding the layer's noise bank
VF_AMP_INC = 29       # per-sample step of VF_AMP towards VF_AMP_TARGET
VF_NOISE_ENV = 30     # noise envelope (decays with IP_NOISE_DECAY)
VF_NOISE_COEF = 31
VF_NEURAL = 32        # 1 while the voice plays the neural timbre's frames (level = VF_AMP * P_VOICE_GAIN)
NVF = 48              # (columns 33.. are the per-voice controls at the end of this file)

# voice states vf[v, VF_STATE] and envelope stages vf[v, VF_ENV_STAGE]
VS_FREE = 0
VS_ON = 1
VS_RELEASED = 2

ES_ATTACK = 0
ES_DECAY = 1
ES_SUSTAIN = 2
ES_RELEASE = 3
ES_DONE = 4

# ------------------------------------------------------- harmony context harm[H_*] (float64)
# One shared harmonic context: key, scale and current chord. Generators read it,
# MIDI input (key detection) and the game API write it through C_HARM.
H_ROOT = 0            # tonic pitch class 0..11
H_SCALE_LEN = 1       # number of scale degrees (<= 12)
H_SCALE = 2           # H_SCALE .. H_SCALE+11: semitone offsets of the degrees from the tonic
H_CHORD_ROOT = 14     # pitch class of the current chord root (-1: none)
H_CHORD_LEN = 15
H_CHORD = 16          # H_CHORD .. H_CHORD+5: pitch classes of the current chord
H_BASE_OCTAVE = 22    # octave of the tonic for degree 0 (MIDI octave: 4 -> C4 = 60)
H_DENSITY = 23        # 0..1 density/intensity hint from the player or the game
H_TENSION = 24        # 0..1
H_VERSION = 25        # incremented on every change
NH = 32

# ------------------------------------------------------- generator slots
# gi[slot, GI_*] (int64) the first words are owned by the engine; a generator kernel
# uses GI_USER.. and GF_USER.. for its own state, gbuf[slot, :] for tables.
GK_NONE = 0
GK_RULES = 1
GK_GRAMMAR = 2
GK_LSYSTEM = 3
GK_CA1D = 4
GK_LIFE = 5
GK_CYCLIC = 6
GK_EUCLID = 7
GK_DICE = 8
GK_SERIAL = 9
GK_CHORALE = 10
GK_TEST = 31          # engine self-test generator (a metronome)

GI_KIND = 0
GI_ACTIVE = 1
GI_LAYER = 2
GI_DROPPED = 3        # events the generator could not write
GI_RNG = 4            # xorshift64* state, seeded from the engine seed and the slot
GI_STEP = 5           # next step index on the generator's grid
GI_STEPS_PER_BEAT = 6
GI_EVENTS = 7         # events written so far
GI_INSTR = 8          # instrument index or -1
# music: the "fit_chord" flag every generator may set (rtgen.rt.harmony.fit_to_chord)
GI_FIT_CHORD = 9      # 1: a note a semitone from a chord tone moves onto it
GI_USER = 16

GF_GATE = 0           # note length as a fraction of the step (0..1+)
GF_VEL = 1            # base velocity
GF_DENSITY = 2        # probability a step plays (0..1)
GF_HUMANIZE = 3       # velocity randomisation (0..1)
GF_USER = 16

# ------------------------------------------------------- instruments (additive fallback)
N_INSTR = 32
# iparam[i, IP_*]
IP_ATTACK = 0
IP_DECAY = 1
IP_SUSTAIN = 2
IP_RELEASE = 3
IP_GAIN = 4
IP_BRIGHT = 5         # lowpass cutoff as a multiple of f0 at full velocity
IP_NOISE = 6          # noise amount 0..1
IP_NOISE_DECAY = 7    # seconds: noise envelope decay (0 = follows the ADSR)
IP_NOISE_BAND = 8     # IP_NOISE_BAND .. +7: relative gains of the noise bands
IP_DECAY_TIME = 16    # >0: percussive decay while held: seconds to fall 60 dB (like IP_DECAY, IP_RELEASE)
NIP = 24

# ------------------------------------------------------- effects send/return (live path)
# The live callback writes each rendered block into the send ring (fxs) at its absolute
# sample position and plays the frames of ``FXI_LATENCY`` samples ago from the return
# ring (fxr) when the effects worker has written them, else the dry frames of the same
# time from the send ring (counted): a constant latency, and a late worker is never heard
# as a gap. Rings are indexed by absolute sample % FX_CAP.
FX_CAP = 16384
NFXI = 16             # words of fxi (FXI_* below)
FXI_SEND_HEAD = 0     # absolute sample up to which dry frames are in fxs (written by the callback)
FXI_RET_HEAD = 8      # absolute sample up to which wet frames are in fxr (written by the worker)
FXI_LATENCY = 2       # frames of added latency (>= the worker's block)
FXI_LATE = 3          # blocks played dry because the worker was late
FXI_ENABLED = 4       # 1 = route the output through the effects worker
FXI_NONFINITE = 5     # wet samples that were not finite (replaced by 0)

# per-layer effect sends (aux buses), filled in the kernel's layer mix at absolute sample % FX_CAP
N_FX_BUS = 4          # aux buses
FXL_SEND = 0          # fxl[layer, FXL_SEND + bus]: send amount of the layer to the bus (linear, post-fader)
FXL_INSERT = N_FX_BUS  # fxl[layer, FXL_INSERT] = 1: the layer leaves the dry mix (heard only through buses)
FXL_W = N_FX_BUS + 1

# ------------------------------------------------------- per-voice controls, one-shot voices, tuning
# Live per-voice controls (in the spirit of Sketch2Sound: vibrato, brightness, breath noise).
# A layer holds the default of its new notes (lf[layer, LF_*]); changing it (C_LAYER) also moves
# the layer's sounding voices, like pitch bend; C_VOICE changes one note (by its note id).
LF_VIB_DEPTH = 12     # vibrato depth, cents (peak); the mod wheel drives it by default
LF_VIB_RATE = 13      # vibrato rate, Hz (0: VIB_RATE_DEFAULT)
LF_BRIGHT = 14        # brightness -1 (dark) .. 0 (the timbre's own) .. +1 (bright)
LF_BREATH = 15        # breath / bow / brass noise level change, dB (0: the timbre's own)
VF_ONESHOT = 33       # 1: note-off does not cut the voice (it ends on its own); no bend, no vibrato
VF_VIB_DEPTH = 34     # cents
VF_VIB_RATE = 35      # Hz
VF_VIB_PHASE = 36     # cycles (0..1)
VF_BRIGHT = 37        # -1..1
VF_BREATH = 38        # linear gain on the voice's noise
VF_CENTS = 39         # the model's pitch deviation (f0_cents), cents, ramped per chunk
VF_CENTS_INC = 40     # per-chunk step of VF_CENTS towards the frame's value
VF_PMOD = 41          # pitch modulation now (cents: vibrato + VF_CENTS), in VF_INC
VF_BR_LP = 42         # brightness filter state
VF_BR_COEF = 43       # brightness filter coefficient (one pole)
C_VOICE = 18          # a=note_id (-1: every voice of note d on layer e) b=column (VF_VIB_DEPTH cents,
                      # VF_VIB_RATE Hz, VF_BRIGHT -1..1, VF_BREATH dB) c=value
IP_ONESHOT = 17       # iparam flag: the instrument's voices are one-shot (drums)
S_VOICE_HOPS = 27     # neural voice-hops due (each voice at each hop boundary); S_LATE_FRAMES of them fell back
VIB_RATE_DEFAULT = 5.5
BRIGHT_MAX_BOOST = 4.0  # at brightness +1 the content above ~4 f0 gains (1 + this) times, the fundamental's
                        # level kept (the sum is divided by the boost's gain at f0, VF_BR_NORM)
VF_BR_NORM = 44       # brightness: 1 / (the boost's gain at the fundamental)

# ------------------------------------------------------- row and ring-index columns (the kernel's names)
RI_HEAD = 0           # cmd_idx[r, RI_HEAD] / out_idx[RI_HEAD]: rows written (by the producer)
RI_TAIL = 8           # ... [RI_TAIL]: rows consumed (by the reader); a cache line apart from the head
CMD_KIND = 0          # command row: [kind, a, b, c, d, e, f, time]
CMD_A = 1             # a .. f at CMD_A .. CMD_A + 5
CMD_TIME = 7
OUT_KIND = 0          # output-event row: [kind, time, a, b, c, d, e, f]
OUT_TIME = 1
OUT_A = 2             # a .. f at OUT_A .. OUT_A + 5
PQ_TIME = 0           # pending-queue row: [time, kind, a, b, c, d, e, f, seq, generator slot]
PQ_KIND = 1
PQ_A = 2              # a .. f at PQ_A .. PQ_A + 5
PQ_SEQ = 8            # arrival order (ties at one sample keep it)
PQ_GEN = 9            # generator slot that made the row (-1: none)

# ------------------------------------------------------- the layout checks itself at import
#: every group of indices: its name prefix, the name of the size of the array it indexes (None:
#: codes, not indices), and its fields that take several words (name -> words, or a size's name)
GROUPS: dict[str, tuple[str | None, dict[str, int | str]]] = {
    "RING_": ("N_CMD_RINGS", {}),
    "LAYER_": ("N_LAYERS", {}),
    "LF_": ("NLF", {}),
    "EV_": ("EVW", {}),
    "C_": (None, {}),
    "O_": (None, {}),
    "P_": ("NP", {"P_M_KC": 10, "P_M_KS": 8, "P_M_FIR": 24,      # the master stage's blocks and rings
                "P_M_XL": "M_RING", "P_M_XR": "M_RING", "P_M_R": "M_RING", "P_M_H": "M_RING"}),
    "S_": ("NS", {}),
    "VF_": ("NVF", {}),
    "VS_": (None, {}),
    "ES_": (None, {}),
    "H_": ("NH", {"H_SCALE": 12, "H_CHORD": 6}),
    "GK_": (None, {}),
    "GI_": ("GEN_NI", {}),
    "GF_": ("GEN_NF", {}),
    "IP_": ("NIP", {"IP_NOISE_BAND": N_NOISE_BANDS}),
    "FXI_": ("NFXI", {}),
    "FXL_": ("FXL_W", {"FXL_SEND": N_FX_BUS}),
}
#: names with a group's prefix that are not a word of it: sizes, where a range starts, and
#: deliberate second names of a word (RING_PYGEN: Python generators share the timbre ring)
NOT_WORDS = frozenset({"EV_CAP", "FXL_W", "GI_USER", "GF_USER", "LAYER_NAMES", "RING_PYGEN"})


def check_layout(names: dict[str, object]) -> None:
    """Raise RuntimeError when two names of a group share a word, or a word lies outside its array."""
    for prefix, (size_name, spans) in GROUPS.items():
        size = names.get(size_name) if size_name is not None else None
        used: dict[int, str] = {}
        for name, value in names.items():
            if not name.startswith(prefix) or name in NOT_WORDS or type(value) is not int:
                continue
            span = spans.get(name, 1)
            size_of = names.get(span) if isinstance(span, str) else span
            words = size_of if isinstance(size_of, int) else 1
            for w in range(value, value + words):
                if w in used:
                    raise RuntimeError(f"rt/layout.py: {name} and {used[w]} share word {w} of the {prefix}* group")
                if isinstance(size, int) and not 0 <= w < size:
                    raise RuntimeError(f"rt/layout.py: {name} = {value} lies outside the {prefix}* array "
                                       f"(size {size})")
                used[w] = name


if 1 << TS_BITS != TS:
    raise RuntimeError("rt/layout.py: TS must be 2 ** TS_BITS")
check_layout(globals())

