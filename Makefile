# rtgen: every entry point a fresh machine needs.
#   make run        play live if there is an audio device, else render out/demo.wav
#   make            system packages (jackd2, libportaudio2, ...; apt-get as root or with sudo, else
#                   it stops with the exact command), .venv with rtgen and its test extras, and the
#                   one-time compile of the audio kernels (so no later start compiles)
#   make test       the test suite (live tests start their own JACK server; without the system
#                   packages they are skipped, saying why)
#   make bench      every benchmark, bounded, one JSON line per figure
#   make lint       ruff + mypy
#   make soak       the long (10 min) reliability soak
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: all system system-check install compile run test bench lint soak play render clean
all: system install compile

# install the system packages, or stop with the exact command to run
system:
	@scripts/system-packages.sh install

# the same, but only warn when they cannot be installed (renders and most tests work without)
system-check:
	@scripts/system-packages.sh check

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,plot,ui,fx,link]'
	# tinysoundfont renders the SoundFont recordings the timbre tests compare against; its
	# declared pyaudio dependency needs PortAudio headers to build and is never used here.
	$(BIN)/pip install -q --no-deps 'tinysoundfont>=0.3'
	touch $(STAMP)

install: $(STAMP)

# compile the numba kernels and the live callback once (quick when already compiled)
compile: install
	@$(BIN)/rtgen compile

test: system-check install compile
	$(BIN)/python -m pytest -q -p no:cacheprovider --timeout=600 tests

bench: install
	$(BIN)/python -m benchmarks

lint: install
	$(BIN)/ruff check rtgen tests benchmarks examples models
	$(BIN)/mypy rtgen

soak: install
	RTGEN_SOAK_SECONDS=600 $(BIN)/python -m pytest -q -m soak tests

run: system-check install compile
	$(BIN)/rtgen play --seconds 30 --or-render out/demo.wav

play: system-check install compile
	$(BIN)/rtgen play

render: install
	$(BIN)/rtgen render out/demo.wav --seconds 20 --seed 1

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
