// Chain heads: the auditor's record of where each queue's audit chain ended.
#include "chain_heads.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "stored_message.h"

namespace meshq::bridge {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

bool DecodeHex(std::string_view hex, std::string* out) {
  if (hex.size() % 2 != 0) return false;
  out->clear();
  for (size_t i = 0; i < hex.size(); i += 2) {
    const int hi = HexValue(hex[i]), lo = HexValue(hex[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi << 4 | lo));
  }
  return true;
}

}  // namespace

Status ParseChainHeads(std::string_view text, ChainHeads* out) {
  out->clear();
  size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    if (line.empty() || line[0] == '#') continue;
    auto fail = [line_no](std::string_view why) {
      return Status::InvalidArgument("line " + std::to_string(line_no) + ": " + std::string(why));
    };
    // The last two fields are the offset and the digest; the queue is what precedes them.
    const size_t d = line.rfind(' ');
    if (d == std::string_view::npos || d == 0) return fail("not '<queue> <offset> <digest>'");
    const size_t o = line.rfind(' ', d - 1);
    if (o == std::string_view::npos || o == 0) return fail("not '<queue> <offset> <digest>'");
    const std::string_view queue = line.substr(0, o);
    const std::string_view offset_text = line.substr(o + 1, d - o - 1);
    ChainHead head;
    const auto [end, ec] =
        std::from_chars(offset_text.data(), offset_text.data() + offset_text.size(), head.offset);
    if (ec != std::errc() || end != offset_text.data() + offset_text.size() ||
        offset_text.empty()) {
      return fail("bad offset '" + std::string(offset_text) + "'");
    }
    if (!DecodeHex(line.substr(d + 1), &head.digest) || head.digest.size() != kChainDigestSize) {
      return fail("the digest is not " + std::to_string(2 * kChainDigestSize) + " hex digits");
    }
    if (!out->emplace(std::string(queue), std::move(head)).second) {
      return fail("queue '" + std::string(queue) + "' named twice");
    }
  }
  return Status::OK();
}

std::string FormatChainHeads(const ChainHeads& heads) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out = "# meshq audit chain heads: <queue> <offset> <digest>\n";
  for (const auto& [queue, head] : heads) {
    out += queue;
    out += ' ';
    out += std::to_string(head.offset);
    out += ' ';
    for (unsigned char c : head.digest) {
      out += kDigits[c >> 4];
      out += kDigits[c & 15];
    }
    out += '\n';
  }
  return out;
}

Status LoadChainHeads(const std::string& path, ChainHeads* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return Status::NotFound(path + ": no chain heads yet");
    return Status::IOError(path, errno);
  }
  std::stringstream text;
  text << in.rdbuf();
  Status s = ParseChainHeads(text.str(), out);
  return s.ok() ? s : Status::InvalidArgument(path + ": " + std::string(s.message()));
}

Status SaveChainHeads(const std::string& path, const ChainHeads& heads) {
  const std::string tmp = path + ".tmp";
  const std::string text = FormatChainHeads(heads);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::IOError(tmp, errno);
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      return Status::IOError(tmp, err);
    }
    done += static_cast<size_t>(n);
  }
  // The new heads replace the old ones only once they are on disk: a crash leaves either.
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    return Status::IOError(tmp, err);
  }
  ::close(fd);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return Status::IOError(path, errno);
  return Status::OK();
}

}  // namespace meshq::bridge
