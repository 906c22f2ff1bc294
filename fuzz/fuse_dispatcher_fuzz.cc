// libFuzzer target: FUSE request frames into the Dispatcher over a small
// in-memory tree (directories, files, a symlink, a file whose blob is
// missing, a directory whose Directory is missing). Every request must be
// completed exactly once, and every reply must be well formed: at least a
// fuse_out_header, its len equal to the bytes sent, within the buffer, the
// request's unique echoed, error 0 or a negative errno, and an error reply
// carries nothing but the header. Input format: fuzz/fuse_frames.h.
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <set>
#include <span>
#include <string_view>
#include <vector>

#include "fs/castore_fs.h"
#include "fs/fuse/dispatcher.h"
#include "fuzz/fuse_frames.h"
#include "fuzz/fuzz_check.h"
#include "fuzz/fuzz_tree.h"
#include "spdlog/spdlog.h"

namespace {

using castor::fuzz::CollectNodeIds;
using castor::fuzz::MakeTree;
namespace fuse = castor::fs::fuse;

class CheckingResponder : public fuse::Responder {
 public:
  // Not zeroed (a 1 MiB memset per request would dominate the run); ASan
  // still sees any write past the end.
  explicit CheckingResponder(size_t size) : buffer_(new uint8_t[size]), size_(size) {}
  std::span<uint8_t> ReplyBuffer() override { return {buffer_.get(), size_}; }
  void Complete(size_t length) override {
    ++completions;
    this->length = length;
  }
  fuse_out_header Header() const {
    fuse_out_header h;
    std::memcpy(&h, buffer_.get(), sizeof(h));
    return h;
  }
  size_t size() const { return size_; }
  const uint8_t* data() const { return buffer_.get(); }
  int completions = 0;
  size_t length = 0;

 private:
  std::unique_ptr<uint8_t[]> buffer_;
  size_t size_;
};

void Send(fuse::Dispatcher& d, std::span<const uint8_t> request, size_t buffer_size,
          std::set<uint64_t>& ids) {
  CheckingResponder r(buffer_size);
  d.Handle(request, r);
  FUZZ_CHECK(r.completions == 1);
  if (r.length == 0) return;  // no reply (FORGET, INTERRUPT, unanswerable)
  FUZZ_CHECK(r.length <= r.size());
  FUZZ_CHECK(r.length >= sizeof(fuse_out_header));
  fuse_out_header h = r.Header();
  FUZZ_CHECK(h.len == r.length);
  FUZZ_CHECK(h.error <= 0 && h.error > -4096);
  if (h.error != 0) FUZZ_CHECK(r.length == sizeof(fuse_out_header));
  fuse_in_header in;
  FUZZ_CHECK(request.size() >= sizeof(in));  // a reply needs a request header
  std::memcpy(&in, request.data(), sizeof(in));
  FUZZ_CHECK(h.unique == in.unique);
  if (h.error == 0) CollectNodeIds(in.opcode, r.data(), r.length, ids);
}

}  // namespace

// The filesystem logs every EIO; at fuzzing rates that is all the time goes to.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const castor::castore::Services services = MakeTree();
  castor::fs::CastoreFs fs(services, castor::fs::FsOptions{.list_root = true, .show_xattr = true});
  fuse::Session session;
  fuse::Dispatcher dispatcher(fs, session);

  fuse_init_in init{};
  init.major = 7;
  init.minor = 38;
  init.max_readahead = 128 * 1024;
  init.flags = FUSE_ASYNC_READ | FUSE_DO_READDIRPLUS | FUSE_MAX_PAGES | FUSE_INIT_EXT;
  std::vector<uint8_t> frame(sizeof(fuse_in_header) + sizeof(init));
  fuse_in_header h{};
  h.len = static_cast<uint32_t>(frame.size());
  h.opcode = FUSE_INIT;
  h.unique = 1;
  std::memcpy(frame.data(), &h, sizeof(h));
  std::memcpy(frame.data() + sizeof(h), &init, sizeof(init));
  std::set<uint64_t> ids;
  Send(dispatcher, frame, 4096, ids);

  constexpr size_t kSizes = sizeof(castor::fuzz::kReplyBufferSizes) / sizeof(size_t);
  size_t pos = 0;
  while (pos + 3 <= size) {
    size_t buffer_size = castor::fuzz::kReplyBufferSizes[data[pos] % kSizes];
    size_t n = data[pos + 1] | (static_cast<size_t>(data[pos + 2]) << 8);
    pos += 3;
    n = std::min(n, size - pos);
    // A copy of exactly n bytes, so ASan sees any read past the request.
    std::vector<uint8_t> request(data + pos, data + pos + n);
    pos += n;
    Send(dispatcher, request, buffer_size, ids);
  }
  // Lookup counts never go negative and nothing leaks: once every reference
  // handed out is forgotten (FORGET clamps), only the mount's top directory is left.
  for (uint64_t id : ids) fs.Forget(id, UINT64_MAX);
  FUZZ_CHECK(fs.inode_count() == 1);
  return 0;
}
