#!/usr/bin/env bash
# The Debian/Ubuntu packages rtgen's live audio needs, installed when this machine allows it.
#
#   scripts/system-packages.sh install   install what is missing (as root, or with sudo that
#                                        needs no password); if that is not possible, print the
#                                        exact command to run and exit 1
#   scripts/system-packages.sh check     the same, but only warn and exit 0 when it cannot install
#                                        (rtgen still renders to files; live tests skip, saying why)
#
# jackd2: the JACK server (--jack-dummy, the live tests); libportaudio2: PortAudio, through which
# rtgen reaches a sound card or JACK; libasound2: ALSA, for MIDI ports; python3-venv: `make`'s venv.
set -u
mode="${1:-check}"
pkgs="jackd2 libportaudio2 libasound2 fluid-soundfont-gm"
if ! python3 -c "import ensurepip, venv" >/dev/null 2>&1; then
  pkgs="$pkgs python3-venv"
fi
if ! command -v dpkg >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  # not Debian/Ubuntu: say what to look for, do not guess a package manager
  for lib in portaudio jack; do
    if ! ldconfig -p 2>/dev/null | grep -q "lib$lib"; then
      echo "rtgen: lib$lib was not found; install PortAudio and JACK with your package manager" \
           "(macOS: brew install portaudio jack) for live audio; rendering to files works without them." >&2
      break
    fi
  done
  exit 0
fi
need=""
for p in $pkgs; do
  dpkg -s "$p" >/dev/null 2>&1 || need="$need $p"
done
need="${need# }"
[ -z "$need" ] && exit 0
cmd="apt-get install -y --no-install-recommends $need"
if [ "$(id -u)" = 0 ]; then
  run=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
  run="sudo "
else
  echo "rtgen: missing system packages: $need" >&2
  echo "rtgen: run this once, then make again:  sudo apt-get update && sudo $cmd" >&2
  if [ "$mode" = install ]; then exit 1; fi
  echo "rtgen: continuing without them: rtgen renders to files; live tests are skipped, saying why" >&2
  exit 0
fi
echo "rtgen: installing system packages: $need" >&2
export DEBIAN_FRONTEND=noninteractive
if ${run}apt-get update -qq && ${run}$cmd -qq; then
  exit 0
fi
echo "rtgen: installing failed; run:  sudo apt-get update && sudo $cmd" >&2
[ "$mode" = install ] && exit 1
exit 0
