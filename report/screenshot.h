// A PNG of a report page, taken by Debian's chromium in headless mode (no
// network, no GPU, a fresh throw-away profile). Used by `factorize-nas report
// --screenshot`, e.g. for the README's picture. Thread-compatible; runs a
// child process and waits for it.
#pragma once

#include <string>

namespace fnas::report {

// The chromium executable found on PATH ("chromium", then
// "chromium-browser"), or "" when there is none.
std::string FindChromium();

// Opens `html_path` in headless chromium with a window of `width` x `height`
// CSS pixels and writes the visible part to `png_path`. Throws RuntimeError
// naming the cause: no chromium (and the package to install), a timeout
// (`timeout_s`), or chromium's own error output.
void Screenshot(const std::string& html_path, const std::string& png_path, int width, int height,
                int timeout_s = 120);

}  // namespace fnas::report
