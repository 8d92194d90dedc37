#!/usr/bin/env bash
# System libraries that `pip install -r requirements.txt` needs: FFCV (Assignment 10)
# compiles against OpenCV and libjpeg-turbo, found through pkg-config.
# Installs them with apt-get when possible (root, or password-less sudo); otherwise prints
# the command to run and fails, so pip does not fail later with a compiler error.
set -euo pipefail

if command -v pkg-config >/dev/null 2>&1 && pkg-config --exists opencv4 libturbojpeg; then
  exit 0  # already there
fi

packages="libopencv-dev libturbojpeg0-dev pkg-config"
if command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then sudo=""; elif sudo -n true 2>/dev/null; then sudo="sudo -n"; else sudo=none; fi
  if [ "$sudo" != none ]; then
    echo "installing system packages for FFCV: $packages"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $packages >/dev/null
    exit 0
  fi
  echo "error: FFCV needs system packages; run: sudo apt-get install -y $packages" >&2
else
  echo "error: FFCV needs OpenCV and libjpeg-turbo with pkg-config (conda: conda install -c conda-forge opencv libjpeg-turbo pkg-config; macOS: brew install opencv jpeg-turbo pkg-config)" >&2
fi
exit 1
