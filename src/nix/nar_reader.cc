#include "nix/nar_reader.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "nix/encoding.h"

namespace castor::nix {
namespace {

uint64_t Padding(uint64_t length) { return (8 - length % 8) % 8; }

}  // namespace

NarReader::NarReader(ByteSource& source, NarLimits limits)
    : source_(source), limits_(limits), buffer_(kBufferSize) {}

absl::Status NarReader::Error(uint64_t at, std::string_view problem) const {
  return absl::InvalidArgumentError(absl::StrCat("NAR at offset ", at, ": ", ToAbslView(problem)));
}

absl::StatusOr<bool> NarReader::Fill(size_t n) {
  CASTOR_CHECK(n <= kBufferSize);
  if (end_ - pos_ >= n) return true;
  if (pos_ > 0) {
    std::memmove(buffer_.data(), buffer_.data() + pos_, end_ - pos_);
    end_ -= pos_;
    pos_ = 0;
  }
  while (end_ < n && !source_done_) {
    auto got = source_.Read(std::span<char>(buffer_.data() + end_, kBufferSize - end_));
    if (!got.ok()) {
      return Annotate(got.status(), absl::StrCat("reading NAR at offset ", consumed_ + end_));
    }
    if (*got == 0) source_done_ = true;
    end_ += *got;
  }
  return end_ >= n;
}

absl::Status NarReader::Need(size_t n, uint64_t at, std::string_view what) {
  ASSIGN_OR_RETURN(bool ok, Fill(n));
  if (!ok) return Error(at, absl::StrCat("unexpected end of NAR in ", ToAbslView(what)));
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> NarReader::ReadU64(std::string_view what) {
  RETURN_IF_ERROR(Need(8, consumed_, what));
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | static_cast<uint8_t>(buffer_[pos_ + i]);
  pos_ += 8;
  consumed_ += 8;
  return v;
}

absl::Status NarReader::CheckPadding(uint64_t length, std::string_view what) {
  const uint64_t at = consumed_;
  const size_t pad = Padding(length);
  RETURN_IF_ERROR(Need(pad, at, absl::StrCat("the padding of ", ToAbslView(what))));
  for (size_t i = 0; i < pad; ++i) {
    if (buffer_[pos_ + i] != 0) {
      return Error(at + i, absl::StrCat("non-zero padding after ", ToAbslView(what)));
    }
  }
  pos_ += pad;
  consumed_ += pad;
  return absl::OkStatus();
}

absl::StatusOr<std::string_view> NarReader::ReadString(size_t max, std::string_view what) {
  const uint64_t at = consumed_;
  ASSIGN_OR_RETURN(uint64_t length, ReadU64(what));
  if (length > max) {
    return Error(at, absl::StrCat("expected ", ToAbslView(what), ", got a string of ", length,
                                  " bytes (at most ", max, " allowed)"));
  }
  RETURN_IF_ERROR(Need(length + Padding(length), at, what));
  std::string_view s(buffer_.data() + pos_, length);
  for (size_t i = length; i < length + Padding(length); ++i) {
    if (buffer_[pos_ + i] != 0) {
      return Error(consumed_ + i, absl::StrCat("non-zero padding after ", ToAbslView(what)));
    }
  }
  pos_ += length + Padding(length);
  consumed_ += length + Padding(length);
  return s;
}

absl::Status NarReader::Expect(std::string_view token) {
  const uint64_t at = consumed_;
  ASSIGN_OR_RETURN(std::string_view got,
                   ReadString(kMaxTokenLength, absl::StrCat("'", ToAbslView(token), "'")));
  if (got != token) {
    return Error(at, absl::StrCat("expected '", ToAbslView(token), "', got ", QuoteText(got)));
  }
  return absl::OkStatus();
}

absl::StatusOr<NarEvent> NarReader::Next() {
  if (state_ == State::kFailed) return failure_;
  auto event = Step();
  if (!event.ok()) {
    state_ = State::kFailed;
    failure_ = event.status();
  }
  return event;
}

absl::StatusOr<NarEvent> NarReader::Step() {
  using Kind = NarEvent::Kind;
  for (;;) {
    switch (state_) {
      case State::kMagic:
        RETURN_IF_ERROR(Expect(kNarMagic));
        state_ = State::kNode;
        continue;

      case State::kNode: {
        RETURN_IF_ERROR(Expect("("));
        RETURN_IF_ERROR(Expect("type"));
        const uint64_t at = consumed_;
        ASSIGN_OR_RETURN(std::string_view type, ReadString(kMaxTokenLength, "node type"));
        if (type == "regular") {
          bool executable = false;
          uint64_t field_at = consumed_;
          ASSIGN_OR_RETURN(std::string_view field,
                           ReadString(kMaxTokenLength, "'executable' or 'contents'"));
          if (field == "executable") {
            executable = true;
            const uint64_t value_at = consumed_;
            ASSIGN_OR_RETURN(std::string_view value,
                             ReadString(kMaxTokenLength, "the value of 'executable'"));
            if (!value.empty()) {
              return Error(value_at, absl::StrCat("'executable' must be followed by an empty "
                                                  "string, got ",
                                                  QuoteText(value)));
            }
            field_at = consumed_;
            ASSIGN_OR_RETURN(field, ReadString(kMaxTokenLength, "'contents'"));
          }
          if (field != "contents") {
            return Error(
                field_at,
                absl::StrCat("expected ", executable ? "'contents'" : "'executable' or 'contents'",
                             ", got ", QuoteText(field)));
          }
          ASSIGN_OR_RETURN(file_size_, ReadU64("the file size"));
          file_remaining_ = file_size_;
          state_ = State::kFileData;
          return NarEvent{.kind = Kind::kStartFile, .size = file_size_, .executable = executable};
        }
        if (type == "symlink") {
          RETURN_IF_ERROR(Expect("target"));
          const uint64_t target_at = consumed_;
          ASSIGN_OR_RETURN(std::string_view target,
                           ReadString(castore::SymlinkTarget::kMaxLength, "symlink target"));
          absl::Status valid = castore::SymlinkTarget::Create(target).status();
          if (!valid.ok()) return Error(target_at, ToStdView(valid.message()));
          text_.assign(target);
          RETURN_IF_ERROR(Expect(")"));
          state_ = State::kAfterNode;
          return NarEvent{.kind = Kind::kSymlink, .text = text_};
        }
        if (type == "directory") {
          frames_.emplace_back();
          state_ = State::kDirectoryBody;
          return NarEvent{.kind = Kind::kStartDirectory};
        }
        return Error(at, absl::StrCat("unknown node type ", QuoteText(type),
                                      ": expected 'regular', 'symlink' or 'directory'"));
      }

      case State::kFileData: {
        if (file_remaining_ > 0) {
          const uint64_t at = consumed_;
          ASSIGN_OR_RETURN(bool more, Fill(1));
          if (!more) {
            return Error(at, absl::StrCat("unexpected end of NAR in file contents (",
                                          file_remaining_, " of ", file_size_, " bytes missing)"));
          }
          size_t n = static_cast<size_t>(std::min<uint64_t>(end_ - pos_, file_remaining_));
          std::string_view data(buffer_.data() + pos_, n);
          pos_ += n;
          consumed_ += n;
          file_remaining_ -= n;
          return NarEvent{.kind = Kind::kFileData, .text = data};
        }
        RETURN_IF_ERROR(CheckPadding(file_size_, "file contents"));
        RETURN_IF_ERROR(Expect(")"));
        state_ = State::kAfterNode;
        return NarEvent{.kind = Kind::kEndFile};
      }

      case State::kDirectoryBody: {
        const uint64_t at = consumed_;
        ASSIGN_OR_RETURN(std::string_view token, ReadString(kMaxTokenLength, "'entry' or ')'"));
        if (token == ")") {
          frames_.pop_back();
          state_ = State::kAfterNode;
          return NarEvent{.kind = Kind::kEndDirectory};
        }
        if (token != "entry") {
          return Error(at, absl::StrCat("expected 'entry' or ')', got ", QuoteText(token)));
        }
        if (frames_.size() > limits_.max_depth) {
          return Error(at,
                       absl::StrCat("entry more than ", limits_.max_depth, " directories deep"));
        }
        RETURN_IF_ERROR(Expect("("));
        RETURN_IF_ERROR(Expect("name"));
        const uint64_t name_at = consumed_;
        ASSIGN_OR_RETURN(std::string_view name,
                         ReadString(castore::PathComponent::kMaxLength, "entry name"));
        absl::Status valid = castore::PathComponent::Create(name).status();
        if (!valid.ok()) return Error(name_at, ToStdView(valid.message()));
        std::string& last = frames_.back().last_name;
        if (!last.empty() && name <= std::string_view(last)) {
          return Error(name_at,
                       absl::StrCat("entry ", castore::QuoteName(name),
                                    name == last ? " appears twice" : " is not sorted after ",
                                    name == last ? "" : castore::QuoteName(last)));
        }
        last.assign(name);
        RETURN_IF_ERROR(Expect("node"));
        state_ = State::kNode;
        return NarEvent{.kind = Kind::kEntryName, .text = frames_.back().last_name};
      }

      case State::kAfterNode:
        if (frames_.empty()) {
          const uint64_t at = consumed_;
          ASSIGN_OR_RETURN(bool more, Fill(1));
          if (more) return Error(at, "trailing bytes after the NAR");
          state_ = State::kDone;
          return NarEvent{.kind = Kind::kEnd};
        }
        RETURN_IF_ERROR(Expect(")"));  // closes the entry
        state_ = State::kDirectoryBody;
        continue;

      case State::kDone:
        return NarEvent{.kind = Kind::kEnd};

      case State::kFailed:
        return failure_;
    }
  }
}

absl::Status ParseNar(ByteSource& source, NarVisitor& visitor, NarLimits limits) {
  using Kind = NarEvent::Kind;
  NarReader reader(source, limits);
  for (;;) {
    ASSIGN_OR_RETURN(NarEvent e, reader.Next());
    switch (e.kind) {
      case Kind::kStartDirectory:
        RETURN_IF_ERROR(visitor.StartDirectory());
        break;
      case Kind::kEntryName:
        RETURN_IF_ERROR(visitor.EntryName(e.text));
        break;
      case Kind::kEndDirectory:
        RETURN_IF_ERROR(visitor.EndDirectory());
        break;
      case Kind::kStartFile:
        RETURN_IF_ERROR(visitor.StartFile(e.size, e.executable));
        break;
      case Kind::kFileData:
        RETURN_IF_ERROR(visitor.FileData(e.text));
        break;
      case Kind::kEndFile:
        RETURN_IF_ERROR(visitor.EndFile());
        break;
      case Kind::kSymlink:
        RETURN_IF_ERROR(visitor.Symlink(e.text));
        break;
      case Kind::kEnd:
        return absl::OkStatus();
    }
  }
}

absl::Status ParseNar(std::string_view nar, NarVisitor& visitor, NarLimits limits) {
  StringSource source(nar);
  return ParseNar(source, visitor, limits);
}

}  // namespace castor::nix
