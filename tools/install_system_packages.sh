#!/usr/bin/env bash
# The system packages that assignments need beyond pip, as requirements/system-packages.txt
# lists them (the one place that says which assignment needs what):
#   bash tools/install_system_packages.sh          # every assignment's: what requirements.txt needs (make setup)
#   bash tools/install_system_packages.sh 6 10     # those assignments' only (the Colab notebooks)
#   bash tools/install_system_packages.sh --list 10  # print the packages, check and install nothing
# Installs what is missing with apt-get when possible (root, or password-less sudo);
# otherwise prints the command to run and fails, so pip does not fail later with a
# compiler error. PYTHON (default python3) is the Python whose headers python3-dev stands for.
set -euo pipefail
TABLE="$(cd "$(dirname "$0")/.." && pwd)/requirements/system-packages.txt"
PYTHON="${PYTHON:-python3}"

list=0
if [ "${1:-}" = --list ]; then list=1; shift; fi
wanted=" "
for n in "$@"; do
  case "$n" in *[!0-9]* | "") echo "error: not an assignment number: '$n' (usage: $0 [--list] [N ...])" >&2; exit 2 ;; esac
  wanted="$wanted$((10#$n)) "
done

# "N: pkg pkg ..." lines, without comments; the packages of the assignments asked for (all without arguments).
packages=$(sed -e 's/#.*//' "$TABLE" | awk -v wanted="$wanted" '
  /:/ { n = $1; sub(/:$/, "", n); n += 0
        if (wanted == " " || index(wanted, " " n " ")) for (i = 2; i <= NF; i++) print $i }
' | awk '!seen[$0]++' | tr '\n' ' ')
packages="${packages% }"
if [ "$list" = 1 ]; then echo "$packages"; exit 0; fi
[ -n "$packages" ] || exit 0

# Is a package's content already there? Checked by what it provides, so that a machine
# without dpkg (conda, macOS) or a Python not from apt (pyenv, Colab) is judged right.
present() {
  case "$1" in
    build-essential) command -v cc && command -v c++ && command -v make ;;
    python3-dev) "$PYTHON" -c 'import os, sys, sysconfig
sys.exit(not os.path.isfile(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' ;;
    pkg-config) command -v pkg-config ;;
    libopencv-dev) command -v pkg-config && pkg-config --exists opencv4 ;;
    libturbojpeg0-dev) command -v pkg-config && pkg-config --exists libturbojpeg ;;
    *) dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed" ;;
  esac
} >/dev/null 2>&1

missing=""
for package in $packages; do present "$package" || missing="$missing $package"; done
missing="${missing# }"
[ -n "$missing" ] || exit 0

if command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then sudo=""; elif sudo -n true 2>/dev/null; then sudo="sudo -n"; else sudo=none; fi
  if [ "$sudo" != none ]; then
    echo "installing system packages: $missing"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
    exit 0
  fi
  echo "error: missing system packages; run: sudo apt-get install -y $missing" >&2
else
  echo "error: missing what these Debian/Ubuntu packages provide: $missing (a C/C++ compiler, Python headers;" \
    "FFCV: OpenCV and libjpeg-turbo with pkg-config, e.g. conda install -c conda-forge opencv libjpeg-turbo" \
    "pkg-config, or brew install opencv jpeg-turbo pkg-config)" >&2
fi
exit 1
