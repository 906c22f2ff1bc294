// libFuzzer target: castore::DecodeEntry (root values on disk and on the
// wire, tvix.castore.v1.Node). Accepted input re-encodes to bytes that
// decode to the same Entry, and that encoding is stable; rejected input is
// InvalidArgument with a message; when the bytes are a well-formed Node
// with one of its kinds set, the message names the entry
// (`entry '<QuoteName(name)>'`).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "castore/node.h"
#include "fuzz/fuzz_check.h"
#include "tvix/castore/protos/castore.pb.h"

namespace {

std::string NameOf(const tvix::castore::v1::Node& n) {
  switch (n.node_case()) {
    case tvix::castore::v1::Node::kDirectory:
      return n.directory().name();
    case tvix::castore::v1::Node::kFile:
      return n.file().name();
    default:
      return n.symlink().name();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto entry = castor::castore::DecodeEntry(bytes);
  if (!entry.ok()) {
    FUZZ_CHECK(entry.status().code() == absl::StatusCode::kInvalidArgument);
    FUZZ_CHECK(!entry.status().message().empty());
    tvix::castore::v1::Node proto;
    if (proto.ParseFromArray(data, static_cast<int>(size)) &&
        proto.node_case() != tvix::castore::v1::Node::NODE_NOT_SET) {
      std::string quoted = "entry " + castor::castore::QuoteName(NameOf(proto));
      std::string_view message(entry.status().message().data(), entry.status().message().size());
      FUZZ_CHECK(message.find(quoted) != std::string_view::npos);
    }
    return 0;
  }
  std::string canonical = castor::castore::EncodeEntry(*entry);
  auto again = castor::castore::DecodeEntry(canonical);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(*again == *entry);
  FUZZ_CHECK(castor::castore::EncodeEntry(*again) == canonical);
  FUZZ_CHECK(!castor::castore::NodeKind(entry->node).empty());
  return 0;
}
