// Corpus replay: runs a fuzz target's LLVMFuzzerTestOneInput over every file of its committed
// corpus, and over each file's prefixes and one-byte mutations, so CI exercises every decoder
// with any compiler (no libFuzzer needed). Fails when a directory holds no inputs.
//
//   fuzz_replay_<target> CORPUS_DIR_OR_FILE...
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

uint64_t g_runs = 0;

void RunOne(const std::string& input) {
  // A fresh heap copy of exactly `size` bytes, so ASan sees any read past the end.
  std::vector<uint8_t> copy(input.begin(), input.end());
  LLVMFuzzerTestOneInput(copy.empty() ? nullptr : copy.data(), copy.size());
  ++g_runs;
}

// The input itself, its prefixes (every length up to 256, then every 61st), and single-byte
// mutations at up to 128 positions: cheap neighbours where decoders' edge cases live.
void RunWithNeighbours(const std::string& input) {
  RunOne(input);
  for (size_t n = 0; n < input.size(); n += n < 256 ? 1 : 61) RunOne(input.substr(0, n));
  const size_t step = std::max<size_t>(1, input.size() / 128);
  for (size_t i = 0; i < input.size(); i += step) {
    for (unsigned char x : {0x01, 0x80, 0xFF}) {
      std::string m = input;
      m[i] = static_cast<char>(static_cast<unsigned char>(m[i]) ^ x);
      RunOne(m);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
    return 2;
  }
  uint64_t files = 0;
  for (int a = 1; a < argc; ++a) {
    std::vector<std::filesystem::path> paths;
    if (std::filesystem::is_directory(argv[a])) {
      for (const auto& e : std::filesystem::directory_iterator(argv[a])) {
        if (e.is_regular_file()) paths.push_back(e.path());
      }
    } else if (std::filesystem::is_regular_file(argv[a])) {
      paths.push_back(argv[a]);
    }
    if (paths.empty()) {
      std::fprintf(stderr, "%s: no corpus inputs\n", argv[a]);
      return 1;
    }
    std::sort(paths.begin(), paths.end());
    for (const auto& p : paths) {
      std::ifstream f(p, std::ios::binary);
      std::string input((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      RunWithNeighbours(input);
      ++files;
    }
  }
  std::printf("replayed %llu corpus files as %llu inputs\n", static_cast<unsigned long long>(files),
              static_cast<unsigned long long>(g_runs));
  return 0;
}
