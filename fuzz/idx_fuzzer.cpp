// libFuzzer target: the dataset readers (evaluators/train/dataset.h): IDX
// images and labels, raw or gzip'd, and CIFAR-10 binary batches. Any input
// must be read or refused with fnas::DataError naming the file; any other
// exception, a crash or a sanitizer report is a bug.
// Build and run: scripts/fuzz.sh idx (docs/reliability.md).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <string>

#include "common/error.h"
#include "evaluators/train/dataset.h"

namespace {

const std::string& Dir() {
  static const std::string dir = [] {
    char tmpl[] = "/tmp/fnas-fuzz-idx-XXXXXX";
    const char* d = mkdtemp(tmpl);
    if (!d) std::abort();
    return std::string(d);
  }();
  return dir;
}

template <typename F>
void Expect(const std::string& path, F read) {
  try {
    read();
  } catch (const fnas::DataError& e) {
    if (std::string(e.what()).rfind(path, 0) != 0 &&
        std::string(e.what()).find("CIFAR-10") == std::string::npos) {
      std::fprintf(stderr, "data error without the path: %s\n", e.what());
      std::abort();
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "reader raised a non-DataError: %s\n", e.what());
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  // The first byte picks the reader; the rest is the file.
  const int which = data[0] % 4;
  const std::string path = Dir() + (which == 2   ? "/images.gz"
                                    : which == 3 ? "/batch.bin"
                                                 : "/file");
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data + 1), static_cast<std::streamsize>(size - 1));
  }
  switch (which) {
    case 0:
      Expect(path, [&] { (void)fnas::evaluators::ReadIdxImages(path); });
      break;
    case 1:
      Expect(path, [&] { (void)fnas::evaluators::ReadIdxLabels(path, 10); });
      break;
    case 2:
      Expect(path, [&] { (void)fnas::evaluators::ReadIdxImages(path); });
      break;
    default:
      Expect(path, [&] { (void)fnas::evaluators::ReadCifar10({path}); });
  }
  std::remove(path.c_str());
  return 0;
}
