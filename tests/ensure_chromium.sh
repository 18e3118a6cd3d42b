#!/usr/bin/env bash
# Test set-up for tests/test_rendered_book.py: install Debian's chromium + chromium-driver where
# they are missing and we can (root with apt-get). Where we cannot, the browser test is skipped
# and says why; this script never fails the build.
set -u
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium + chromium-driver for the rendered-book test (apt-get) ..."
  export DEBIAN_FRONTEND=noninteractive
  (apt-get update -qq && apt-get install -y -qq chromium chromium-driver) >/tmp/maqamgen-apt.log 2>&1 \
    && echo "chromium installed" \
    || echo "could not install chromium (see /tmp/maqamgen-apt.log); the browser test will be skipped"
else
  echo "chromium not found and cannot be installed here (not root or no apt-get); the browser test will be skipped"
fi
exit 0
