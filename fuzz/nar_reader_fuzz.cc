// libFuzzer target: castor::nix::NarReader on untrusted NAR bytes.
// Accepted input, re-rendered from its events by NarWriter, must equal the
// input byte for byte (NAR is canonical, so a reader that accepts anything
// non-canonical, or a writer that renders differently, fails here).
// Rejected input must be InvalidArgument "NAR at offset N: ..." with N
// within the input. The same bytes read through a source that hands them
// out in small uneven pieces must give the same events and the same
// outcome (the buffer refills at every boundary).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "absl/strings/numbers.h"
#include "fuzz/fuzz_check.h"
#include "nix/io.h"
#include "nix/nar_reader.h"
#include "nix/nar_writer.h"

namespace {

using castor::nix::NarEvent;

// Reads of 1, 2, 3, ... 13 bytes, then again from 1.
class UnevenSource : public castor::nix::ByteSource {
 public:
  explicit UnevenSource(std::string_view data) : data_(data) {}
  absl::StatusOr<size_t> Read(std::span<char> buf) override {
    size_t n = std::min({buf.size(), data_.size(), next_});
    next_ = next_ == 13 ? 1 : next_ + 1;
    std::memcpy(buf.data(), data_.data(), n);
    data_.remove_prefix(n);
    return n;
  }

 private:
  std::string_view data_;
  size_t next_ = 1;
};

// Runs a reader to its end or first error; file data is concatenated per
// file so that differently split streams compare equal.
absl::Status Drain(castor::nix::NarReader& reader, std::string* trace,
                   castor::nix::NarWriter* writer) {
  for (;;) {
    auto e = reader.Next();
    if (!e.ok()) return e.status();
    absl::Status s;
    switch (e->kind) {
      case NarEvent::Kind::kStartDirectory:
        trace->append("D");
        if (writer) s = writer->StartDirectory();
        break;
      case NarEvent::Kind::kEntryName:
        FUZZ_CHECK(!e->text.empty());
        trace->append("E").append(e->text).push_back('\0');
        if (writer) s = writer->EntryName(e->text);
        break;
      case NarEvent::Kind::kEndDirectory:
        trace->append("d");
        if (writer) s = writer->EndDirectory();
        break;
      case NarEvent::Kind::kStartFile:
        trace->append(e->executable ? "X" : "F").append(std::to_string(e->size));
        if (writer) s = writer->StartFile(e->size, e->executable);
        break;
      case NarEvent::Kind::kFileData:
        FUZZ_CHECK(!e->text.empty());
        FUZZ_CHECK(e->text.size() <= castor::nix::NarReader::kBufferSize);
        trace->append(e->text);
        if (writer) s = writer->FileData(e->text);
        break;
      case NarEvent::Kind::kEndFile:
        trace->append("f");
        if (writer) s = writer->EndFile();
        break;
      case NarEvent::Kind::kSymlink:
        trace->append("S").append(e->text).push_back('\0');
        if (writer) s = writer->Symlink(e->text);
        break;
      case NarEvent::Kind::kEnd:
        return absl::OkStatus();
    }
    // The writer refuses only what the reader must have refused first.
    FUZZ_CHECK(s.ok());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);

  castor::nix::StringSource whole(bytes);
  castor::nix::NarReader reader(whole);
  castor::nix::StringSink rendered;
  castor::nix::NarWriter writer(rendered);
  std::string trace;
  absl::Status status = Drain(reader, &trace, &writer);

  UnevenSource pieces(bytes);
  castor::nix::NarReader reader2(pieces);
  std::string trace2;
  absl::Status status2 = Drain(reader2, &trace2, nullptr);
  FUZZ_CHECK(status == status2);
  FUZZ_CHECK(trace == trace2);

  if (status.ok()) {
    FUZZ_CHECK(reader.offset() == size);
    FUZZ_CHECK(writer.Finish().ok());
    FUZZ_CHECK(rendered.str() == bytes);
    FUZZ_CHECK(writer.size() == size);
    return 0;
  }
  FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  std::string_view message(status.message().data(), status.message().size());
  constexpr std::string_view kPrefix = "NAR at offset ";
  FUZZ_CHECK(message.starts_with(kPrefix));
  size_t colon = message.find(':');
  FUZZ_CHECK(colon != std::string_view::npos);
  uint64_t offset = 0;
  FUZZ_CHECK(absl::SimpleAtoi(
      absl::string_view(message.data() + kPrefix.size(), colon - kPrefix.size()), &offset));
  FUZZ_CHECK(offset <= size);
  return 0;
}
