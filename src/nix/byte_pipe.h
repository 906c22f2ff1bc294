// BytePipe: a bounded in-memory pipe between two threads, a ByteSink on one
// side and a ByteSource on the other: a producer that pushes bytes (an HTTP
// request body arriving piecewise) feeds a consumer that pulls them (the NAR
// parser), holding at most `capacity` bytes. Close ends the stream; Fail
// ends it with an error the reader gets; a reader that gives up (Abandon)
// makes further writes fail at once. Thread-safe (one writer, one reader).
#pragma once

#include <cstddef>
#include <string>

#include "absl/base/thread_annotations.h"
#include "base/mutex.h"
#include "nix/io.h"

namespace castor::nix {

class BytePipe : public ByteSink, public ByteSource {
 public:
  explicit BytePipe(size_t capacity = 1 << 20) : capacity_(capacity) {}

  // Blocks while the pipe is full. FailedPrecondition (naming the reader's
  // reason) once the reader abandoned it.
  absl::Status Write(std::string_view data) override;
  // No more bytes will come.
  void Close();
  // The reader gets `error` after what is buffered.
  void Fail(absl::Status error);

  // Blocks while the pipe is empty and open.
  absl::StatusOr<size_t> Read(std::span<char> buf) override;
  // The reader stops reading; `why` is what writers get.
  void Abandon(absl::Status why);

 private:
  const size_t capacity_;
  castor::Mutex mu_;
  std::string buffer_ ABSL_GUARDED_BY(mu_);
  size_t start_ ABSL_GUARDED_BY(mu_) = 0;  // first unread byte of buffer_
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status error_ ABSL_GUARDED_BY(mu_);      // for the reader, after the buffer
  absl::Status abandoned_ ABSL_GUARDED_BY(mu_);  // for writers
};

}  // namespace castor::nix
