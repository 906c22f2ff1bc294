// NarReader: a streaming NAR parser (format in nar.h) that enforces the
// format strictly, as Nix does and more: the magic, the exact tokens, zero
// padding, "executable" followed by the empty string, entries sorted
// strictly ascending by name (so no duplicates), valid names and symlink
// targets (castore's rules), a bounded depth, short strings for everything
// but file contents, and nothing after the root node. File contents stream
// through in pieces of at most kBufferSize bytes, so memory stays bounded
// whatever the input claims. Any violation is InvalidArgument "NAR at
// offset N: <problem>"; errors of the source pass through with the offset
// added. Because the format is canonical, a NAR this reader accepts is
// exactly what NarWriter writes for the same events.
//
// Pull (NarReader::Next) or push (ParseNar with a NarVisitor). A reader
// belongs to one thread at a time.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nix/io.h"
#include "nix/nar.h"

namespace castor::nix {

struct NarEvent {
  enum class Kind {
    kStartDirectory,
    kEntryName,  // text = the name
    kEndDirectory,
    kStartFile,  // size, executable
    kFileData,   // text = the next bytes of the file (never empty)
    kEndFile,
    kSymlink,  // text = the target
    kEnd,      // the NAR ended, and so did the source
  };
  Kind kind = Kind::kEnd;
  // Borrowed from the reader: valid until the next call of Next.
  std::string_view text;
  uint64_t size = 0;
  bool executable = false;
};

class NarReader {
 public:
  static constexpr size_t kBufferSize = 64 * 1024;
  // Longest token of the grammar ("nix-archive-1") rounded up: a longer
  // string where a token belongs is refused without being read.
  static constexpr size_t kMaxTokenLength = 16;

  explicit NarReader(ByteSource& source, NarLimits limits = {});

  // The next event. After kEnd, kEnd again; after an error, the same error.
  absl::StatusOr<NarEvent> Next();

  // Bytes of the NAR consumed so far.
  uint64_t offset() const { return consumed_; }

 private:
  enum class State { kMagic, kNode, kFileData, kDirectoryBody, kAfterNode, kDone, kFailed };
  struct Frame {
    std::string last_name;  // empty before the first entry (names are never empty)
  };

  absl::StatusOr<NarEvent> Step();
  absl::Status Error(uint64_t at, std::string_view problem) const;
  // Makes at least `n` (<= kBufferSize) bytes available; false at the end of
  // the source before that.
  absl::StatusOr<bool> Fill(size_t n);
  absl::Status Need(size_t n, uint64_t at, std::string_view what);
  absl::StatusOr<uint64_t> ReadU64(std::string_view what);
  // A string of at most `max` bytes, with its padding checked; borrowed from
  // the buffer until the next read.
  absl::StatusOr<std::string_view> ReadString(size_t max, std::string_view what);
  absl::Status Expect(std::string_view token);
  absl::Status CheckPadding(uint64_t length, std::string_view what);

  ByteSource& source_;
  const NarLimits limits_;
  std::vector<char> buffer_;
  size_t pos_ = 0;  // next unread byte in buffer_
  size_t end_ = 0;  // end of the valid bytes in buffer_
  bool source_done_ = false;
  uint64_t consumed_ = 0;

  State state_ = State::kMagic;
  absl::Status failure_;
  std::vector<Frame> frames_;  // open directories, the root first
  uint64_t file_size_ = 0;
  uint64_t file_remaining_ = 0;
  std::string text_;  // the last symlink target handed out
};

// Reads a whole NAR from `source` and sends its events to `visitor`; the
// first error (the reader's or the visitor's) ends it.
absl::Status ParseNar(ByteSource& source, NarVisitor& visitor, NarLimits limits = {});
absl::Status ParseNar(std::string_view nar, NarVisitor& visitor, NarLimits limits = {});

}  // namespace castor::nix
