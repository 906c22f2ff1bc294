// NarWriter: turns NarVisitor events into NAR bytes (format in nar.h),
// written to a ByteSink in pieces of about kBufferSize bytes (file contents
// of that size or more pass straight through). It checks what it is given,
// so it never writes a NAR the reader would refuse: names and targets by
// castore's rules, entries strictly ascending (InvalidArgument), and the
// order of events: a file gets exactly the bytes StartFile announced, every
// directory is closed, nothing follows the root node (FailedPrecondition).
// The first error sticks. One thread at a time.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "nix/io.h"
#include "nix/nar.h"

namespace castor::nix {

class NarWriter : public NarVisitor {
 public:
  static constexpr size_t kBufferSize = 64 * 1024;

  explicit NarWriter(ByteSink& sink) : sink_(sink) {}

  absl::Status StartDirectory() override;
  absl::Status EntryName(std::string_view name) override;
  absl::Status EndDirectory() override;
  absl::Status StartFile(uint64_t size, bool executable) override;
  absl::Status FileData(std::string_view data) override;
  absl::Status EndFile() override;
  absl::Status Symlink(std::string_view target) override;

  // Checks that the root node is complete and writes out what is buffered.
  // Nothing may come after it.
  absl::Status Finish();

  // NAR bytes produced so far (buffered or written).
  uint64_t size() const { return size_; }

 private:
  enum class State { kNode, kDirectory, kFile, kComplete, kFinished, kFailed };

  absl::Status Check(absl::Status s);
  absl::Status ExpectState(State want, std::string_view event);
  absl::Status StartNode(std::string_view event);
  absl::Status NodeDone();
  void PutRaw(std::string_view bytes);
  void PutString(std::string_view s);
  void PutU64(uint64_t v);
  void PutPadding(uint64_t length);
  absl::Status Flush();
  absl::Status MaybeFlush();

  ByteSink& sink_;
  std::string buffer_;
  uint64_t size_ = 0;
  State state_ = State::kNode;
  absl::Status failure_;
  bool started_ = false;                 // the magic is written
  std::vector<std::string> last_names_;  // per open directory, root first
  uint64_t file_size_ = 0;
  uint64_t file_remaining_ = 0;
};

}  // namespace castor::nix
