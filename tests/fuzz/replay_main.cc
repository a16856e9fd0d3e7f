// SPDX-License-Identifier: Apache-2.0
// Replays fuzz inputs without libFuzzer: runs LLVMFuzzerTestOneInput over
// every file in the directories (or files) given, in name order, so that the
// seed corpus and past crashers run in every build of the suite. Names
// starting with '.' (.gitkeep) are skipped. Exits 1 when the first argument
// holds no input (an empty seed corpus is a mistake); a bug in the code under
// test shows as a crash or a sanitizer report.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

std::vector<std::filesystem::path> inputs(const std::filesystem::path& p) {
  std::vector<std::filesystem::path> out;
  if (std::filesystem::is_directory(p)) {
    for (const auto& e : std::filesystem::directory_iterator(p))
      if (e.is_regular_file() && e.path().filename().string().rfind('.', 0) != 0)
        out.push_back(e.path());
    std::sort(out.begin(), out.end());
  } else if (std::filesystem::is_regular_file(p)) {
    out.push_back(p);
  } else {
    std::fprintf(stderr, "replay: %s: not found\n", p.c_str());
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR [DIR|FILE]...\n", argv[0]);
    return 2;
  }
  for (int i = 1; i < argc; ++i) {
    std::vector<std::filesystem::path> files = inputs(argv[i]);
    if (i == 1 && files.empty()) {
      std::fprintf(stderr, "replay: no inputs in %s\n", argv[i]);
      return 1;
    }
    for (const auto& f : files) {
      std::ifstream in(f, std::ios::binary);
      std::vector<char> bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
      std::printf("replay: %s (%zu bytes)\n", f.c_str(), bytes.size());
      std::fflush(stdout);
      LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    }
    std::printf("replay: %zu inputs from %s\n", files.size(), argv[i]);
  }
  return 0;
}
