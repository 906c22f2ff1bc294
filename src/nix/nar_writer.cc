#include "nix/nar_writer.h"

#include "absl/strings/str_cat.h"
#include "base/status.h"

namespace castor::nix {
namespace {

constexpr char kZeros[8] = {};

std::string_view StateName(int s) {
  static constexpr std::string_view kNames[] = {"a node",
                                                "an entry or the end of a directory",
                                                "file contents",
                                                "nothing (the NAR is complete)",
                                                "nothing (finished)",
                                                "nothing (failed)"};
  return kNames[s];
}

}  // namespace

absl::Status NarWriter::Check(absl::Status s) {
  if (!s.ok() && state_ != State::kFailed) {
    state_ = State::kFailed;
    failure_ = s;
  }
  return s;
}

absl::Status NarWriter::ExpectState(State want, std::string_view event) {
  if (state_ == State::kFailed) return failure_;
  if (state_ != want) {
    return Check(absl::FailedPreconditionError(
        absl::StrCat("NAR writer: ", ToAbslView(event), " where ",
                     ToAbslView(StateName(static_cast<int>(state_))), " is expected")));
  }
  return absl::OkStatus();
}

void NarWriter::PutRaw(std::string_view bytes) {
  buffer_.append(bytes);
  size_ += bytes.size();
}

void NarWriter::PutU64(uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * i));
  PutRaw(std::string_view(b, 8));
}

void NarWriter::PutPadding(uint64_t length) {
  PutRaw(std::string_view(kZeros, (8 - length % 8) % 8));
}

void NarWriter::PutString(std::string_view s) {
  PutU64(s.size());
  PutRaw(s);
  PutPadding(s.size());
}

absl::Status NarWriter::Flush() {
  if (buffer_.empty()) return absl::OkStatus();
  absl::Status s = sink_.Write(buffer_);
  buffer_.clear();
  return Check(s);
}

absl::Status NarWriter::MaybeFlush() {
  return buffer_.size() >= kBufferSize ? Flush() : absl::OkStatus();
}

absl::Status NarWriter::StartNode(std::string_view event) {
  RETURN_IF_ERROR(ExpectState(State::kNode, event));
  if (!started_) {
    PutString(kNarMagic);
    started_ = true;
  }
  PutString("(");
  PutString("type");
  return absl::OkStatus();
}

absl::Status NarWriter::NodeDone() {
  if (last_names_.empty()) {
    state_ = State::kComplete;
  } else {
    PutString(")");  // closes the entry
    state_ = State::kDirectory;
  }
  return MaybeFlush();
}

absl::Status NarWriter::StartDirectory() {
  RETURN_IF_ERROR(StartNode("StartDirectory"));
  PutString("directory");
  last_names_.emplace_back();
  state_ = State::kDirectory;
  return MaybeFlush();
}

absl::Status NarWriter::EntryName(std::string_view name) {
  RETURN_IF_ERROR(ExpectState(State::kDirectory, "EntryName"));
  RETURN_IF_ERROR(Check(castore::PathComponent::Create(name).status()));
  std::string& last = last_names_.back();
  if (!last.empty() && name <= std::string_view(last)) {
    return Check(absl::InvalidArgumentError(
        absl::StrCat("NAR writer: entry ", castore::QuoteName(name),
                     " does not sort after the previous entry ", castore::QuoteName(last))));
  }
  last.assign(name);
  PutString("entry");
  PutString("(");
  PutString("name");
  PutString(name);
  PutString("node");
  state_ = State::kNode;
  return absl::OkStatus();
}

absl::Status NarWriter::EndDirectory() {
  RETURN_IF_ERROR(ExpectState(State::kDirectory, "EndDirectory"));
  PutString(")");
  last_names_.pop_back();
  return NodeDone();
}

absl::Status NarWriter::StartFile(uint64_t size, bool executable) {
  RETURN_IF_ERROR(StartNode("StartFile"));
  PutString("regular");
  if (executable) {
    PutString("executable");
    PutString("");
  }
  PutString("contents");
  PutU64(size);
  file_size_ = size;
  file_remaining_ = size;
  state_ = State::kFile;
  return absl::OkStatus();
}

absl::Status NarWriter::FileData(std::string_view data) {
  RETURN_IF_ERROR(ExpectState(State::kFile, "FileData"));
  if (data.size() > file_remaining_) {
    return Check(absl::FailedPreconditionError(
        absl::StrCat("NAR writer: ", data.size(), " bytes of file data where only ",
                     file_remaining_, " of ", file_size_, " remain")));
  }
  file_remaining_ -= data.size();
  if (data.size() >= kBufferSize) {
    RETURN_IF_ERROR(Flush());
    size_ += data.size();
    return Check(sink_.Write(data));
  }
  PutRaw(data);
  return MaybeFlush();
}

absl::Status NarWriter::EndFile() {
  RETURN_IF_ERROR(ExpectState(State::kFile, "EndFile"));
  if (file_remaining_ != 0) {
    return Check(absl::FailedPreconditionError(absl::StrCat(
        "NAR writer: EndFile with ", file_remaining_, " of ", file_size_, " bytes missing")));
  }
  PutPadding(file_size_);
  PutString(")");
  return NodeDone();
}

absl::Status NarWriter::Symlink(std::string_view target) {
  RETURN_IF_ERROR(ExpectState(State::kNode, "Symlink"));
  RETURN_IF_ERROR(Check(castore::SymlinkTarget::Create(target).status()));
  RETURN_IF_ERROR(StartNode("Symlink"));
  PutString("symlink");
  PutString("target");
  PutString(target);
  PutString(")");
  return NodeDone();
}

absl::Status NarWriter::Finish() {
  RETURN_IF_ERROR(ExpectState(State::kComplete, "Finish"));
  RETURN_IF_ERROR(Flush());
  state_ = State::kFinished;
  return absl::OkStatus();
}

}  // namespace castor::nix
