#include "fs/fuse/dispatcher.h"

#include <fcntl.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>

#include "base/metrics.h"
#include "spdlog/spdlog.h"

namespace castor::fs::fuse {
namespace {
constexpr uint32_t kMaxOpcode = 64;

// One opcode's metrics, resolved on its first request and kept: the hot path
// touches only atomics.
struct OpMetrics {
  metrics::Counter* requests;
  metrics::Counter* errors;
  metrics::Histogram* seconds;
};

OpMetrics* MakeOpMetrics(std::string_view name) {
  auto& r = metrics::Registry::Default();
  static auto& requests = r.AddCounterFamily("castor_fuse_requests_total",
                                             "FUSE requests handled, by opcode.", {"opcode"});
  static auto& errors = r.AddCounterFamily(
      "castor_fuse_errors_total",
      "FUSE requests answered with an errno (ENOENT of a LOOKUP included), by opcode.", {"opcode"});
  static auto& seconds = r.AddHistogramFamily(
      "castor_fuse_request_duration_seconds",
      "Time from decoding a FUSE request to handing its reply to the transport, by opcode.",
      {"opcode"}, metrics::LatencyBuckets());
  return new OpMetrics{&requests.WithLabels({name}), &errors.WithLabels({name}),
                       &seconds.WithLabels({name})};
}

// Index kMaxOpcode collects the opcodes without a table entry.
OpMetrics& MetricsFor(uint32_t opcode, std::string_view name) {
  static std::array<std::atomic<OpMetrics*>, kMaxOpcode + 1> table{};
  std::atomic<OpMetrics*>& slot = table[std::min(opcode, kMaxOpcode)];
  OpMetrics* m = slot.load(std::memory_order_acquire);
  if (m != nullptr) return *m;
  OpMetrics* made = MakeOpMetrics(name);  // the same children whoever wins the race
  if (slot.compare_exchange_strong(m, made, std::memory_order_acq_rel)) return *made;
  delete made;
  return *m;
}

metrics::Counter& ReadBytes() {
  static metrics::Counter& c = metrics::Registry::Default().AddCounter(
      "castor_fuse_read_bytes_total", "Bytes of file data returned by FUSE READ replies.");
  return c;
}

}  // namespace

const Dispatcher::OpEntry Dispatcher::kOps[] = {
    {FUSE_LOOKUP, {&Dispatcher::DoLookup, "LOOKUP"}},
    {FUSE_FORGET, {&Dispatcher::DoForget, "FORGET"}},
    {FUSE_GETATTR, {&Dispatcher::DoGetAttr, "GETATTR"}},
    {FUSE_SETATTR, {&Dispatcher::DoReadOnly, "SETATTR"}},
    {FUSE_READLINK, {&Dispatcher::DoReadLink, "READLINK"}},
    {FUSE_SYMLINK, {&Dispatcher::DoReadOnly, "SYMLINK"}},
    {FUSE_MKNOD, {&Dispatcher::DoReadOnly, "MKNOD"}},
    {FUSE_MKDIR, {&Dispatcher::DoReadOnly, "MKDIR"}},
    {FUSE_UNLINK, {&Dispatcher::DoReadOnly, "UNLINK"}},
    {FUSE_RMDIR, {&Dispatcher::DoReadOnly, "RMDIR"}},
    {FUSE_RENAME, {&Dispatcher::DoReadOnly, "RENAME"}},
    {FUSE_LINK, {&Dispatcher::DoReadOnly, "LINK"}},
    {FUSE_OPEN, {&Dispatcher::DoOpen, "OPEN"}},
    {FUSE_READ, {&Dispatcher::DoRead, "READ"}},
    {FUSE_WRITE, {&Dispatcher::DoReadOnly, "WRITE"}},
    {FUSE_STATFS, {&Dispatcher::DoStatFs, "STATFS"}},
    {FUSE_RELEASE, {&Dispatcher::DoRelease, "RELEASE"}},
    {FUSE_FSYNC, {&Dispatcher::DoNotImplemented, "FSYNC"}},
    {FUSE_SETXATTR, {&Dispatcher::DoReadOnly, "SETXATTR"}},
    {FUSE_GETXATTR, {&Dispatcher::DoGetXattr, "GETXATTR"}},
    {FUSE_LISTXATTR, {&Dispatcher::DoListXattr, "LISTXATTR"}},
    {FUSE_REMOVEXATTR, {&Dispatcher::DoReadOnly, "REMOVEXATTR"}},
    {FUSE_FLUSH, {&Dispatcher::DoFlush, "FLUSH"}},
    {FUSE_INIT, {&Dispatcher::DoInit, "INIT"}},
    {FUSE_OPENDIR, {&Dispatcher::DoOpenDir, "OPENDIR"}},
    {FUSE_READDIR, {&Dispatcher::DoReadDir, "READDIR"}},
    {FUSE_RELEASEDIR, {&Dispatcher::DoReleaseDir, "RELEASEDIR"}},
    {FUSE_FSYNCDIR, {&Dispatcher::DoNotImplemented, "FSYNCDIR"}},
    {FUSE_GETLK, {&Dispatcher::DoNotImplemented, "GETLK"}},
    {FUSE_SETLK, {&Dispatcher::DoNotImplemented, "SETLK"}},
    {FUSE_SETLKW, {&Dispatcher::DoNotImplemented, "SETLKW"}},
    {FUSE_ACCESS, {&Dispatcher::DoAccess, "ACCESS"}},
    {FUSE_CREATE, {&Dispatcher::DoReadOnly, "CREATE"}},
    {FUSE_INTERRUPT, {&Dispatcher::DoNoReply, "INTERRUPT"}},
    {FUSE_BMAP, {&Dispatcher::DoNotImplemented, "BMAP"}},
    {FUSE_DESTROY, {&Dispatcher::DoDestroy, "DESTROY"}},
    {FUSE_IOCTL, {&Dispatcher::DoNotImplemented, "IOCTL"}},
    {FUSE_POLL, {&Dispatcher::DoNotImplemented, "POLL"}},
    {FUSE_NOTIFY_REPLY, {&Dispatcher::DoNoReply, "NOTIFY_REPLY"}},
    {FUSE_BATCH_FORGET, {&Dispatcher::DoBatchForget, "BATCH_FORGET"}},
    {FUSE_FALLOCATE, {&Dispatcher::DoReadOnly, "FALLOCATE"}},
    {FUSE_READDIRPLUS, {&Dispatcher::DoReadDirPlus, "READDIRPLUS"}},
    {FUSE_RENAME2, {&Dispatcher::DoReadOnly, "RENAME2"}},
    {FUSE_LSEEK, {&Dispatcher::DoNotImplemented, "LSEEK"}},
    {FUSE_COPY_FILE_RANGE, {&Dispatcher::DoReadOnly, "COPY_FILE_RANGE"}},
    {FUSE_SETUPMAPPING, {&Dispatcher::DoNotImplemented, "SETUPMAPPING"}},
    {FUSE_REMOVEMAPPING, {&Dispatcher::DoNotImplemented, "REMOVEMAPPING"}},
    {FUSE_SYNCFS, {&Dispatcher::DoNotImplemented, "SYNCFS"}},
    {FUSE_TMPFILE, {&Dispatcher::DoReadOnly, "TMPFILE"}},
    {52, {&Dispatcher::DoNotImplemented, "STATX"}},
};

const Dispatcher::Op* Dispatcher::FindOp(uint32_t opcode) {
  static const std::array<const Op*, kMaxOpcode> index = [] {
    std::array<const Op*, kMaxOpcode> a{};
    for (const OpEntry& e : kOps) a[e.opcode] = &e.op;
    return a;
  }();
  return opcode < kMaxOpcode ? index[opcode] : nullptr;
}

std::string_view Dispatcher::OpcodeName(uint32_t opcode) {
  const Op* op = FindOp(opcode);
  return op ? op->name : "UNKNOWN";
}

void Dispatcher::Handle(std::span<const uint8_t> request, Responder& responder) {
  std::optional<RequestReader> req = RequestReader::Parse(request);
  if (!req) {
    // Answer with EINVAL when the unique can be read and the opcode expects
    // a reply; otherwise nothing can be sent.
    size_t len = 0;
    fuse_in_header h;
    if (request.size() >= sizeof(h)) {
      std::memcpy(&h, request.data(), sizeof(h));
      if (h.opcode != FUSE_FORGET && h.opcode != FUSE_BATCH_FORGET && h.opcode != FUSE_INTERRUPT &&
          h.opcode != FUSE_NOTIFY_REPLY) {
        len = ReplyWriter(responder.ReplyBuffer(), h.unique).Error(EINVAL);
      }
    }
    spdlog::debug("FUSE: malformed request of {} bytes", request.size());
    responder.Complete(len);
    return;
  }
  const auto start = std::chrono::steady_clock::now();
  ReplyWriter reply(responder.ReplyBuffer(), req->header().unique);
  uint32_t opcode = req->header().opcode;
  const Op* op = FindOp(opcode);
  OpMetrics& m = MetricsFor(op ? opcode : kMaxOpcode, op ? op->name : "UNKNOWN");
  size_t len;
  if (opcode != FUSE_INIT && !session_.initialized()) {
    len = (op && op->handler == &Dispatcher::DoNoReply) || opcode == FUSE_FORGET ||
                  opcode == FUSE_BATCH_FORGET
              ? 0
              : reply.Error(EIO);
  } else if (op == nullptr) {
    len = reply.Error(ENOSYS);
  } else {
    len = (this->*(op->handler))(*req, reply);
  }
  m.requests->Inc();
  if (len >= sizeof(fuse_out_header)) {
    fuse_out_header out;
    std::memcpy(&out, responder.ReplyBuffer().data(), sizeof(out));
    if (out.error != 0) m.errors->Inc();
  }
  m.seconds->Observe(metrics::SecondsSince(start));
  responder.Complete(len);
}

size_t Dispatcher::DoInit(RequestReader& req, ReplyWriter& reply) {
  fuse_init_in in;
  // Before 7.36 the kernel sends major, minor, max_readahead, flags.
  if (!req.ReadStruct(&in, 8)) return reply.Error(EINVAL);
  fuse_init_out out;
  size_t size = 0;
  int err = session_.Init(in, &out, &size);
  if (err != 0) return reply.Error(err);
  // Not for the reply asking a newer kernel to retry with our major.
  if (session_.initialized()) fs_.Initialized(session_.flags());
  return reply.Struct(out, size);
}

size_t Dispatcher::DoDestroy(RequestReader&, ReplyWriter& reply) {
  fs_.Destroy();
  session_.Destroy();
  return reply.Ok(0);
}

size_t Dispatcher::DoLookup(RequestReader& req, ReplyWriter& reply) {
  std::string_view name;
  if (!req.ReadCString(&name)) return reply.Error(EINVAL);
  fuse_entry_out out;
  std::memset(&out, 0, sizeof(out));
  int err = fs_.Lookup(req.header().nodeid, name, &out);
  if (err != 0) return reply.Error(err);
  size_t len = reply.Struct(out);
  if (len != sizeof(fuse_out_header) + sizeof(out)) {
    // The reply did not fit: the kernel never learns of this reference.
    fs_.Forget(out.nodeid, 1);
  }
  return len;
}

size_t Dispatcher::DoForget(RequestReader& req, ReplyWriter&) {
  fuse_forget_in in;
  if (req.ReadStruct(&in)) fs_.Forget(req.header().nodeid, in.nlookup);
  return 0;
}

size_t Dispatcher::DoBatchForget(RequestReader& req, ReplyWriter&) {
  fuse_batch_forget_in in;
  if (!req.ReadStruct(&in)) return 0;
  for (uint32_t i = 0; i < in.count; ++i) {
    fuse_forget_one one;
    if (!req.ReadStruct(&one)) break;  // count larger than the frame
    fs_.Forget(one.nodeid, one.nlookup);
  }
  return 0;
}

size_t Dispatcher::DoGetAttr(RequestReader& req, ReplyWriter& reply) {
  fuse_getattr_in in;
  if (!req.ReadStruct(&in)) return reply.Error(EINVAL);
  fuse_attr_out out;
  std::memset(&out, 0, sizeof(out));
  int err = fs_.GetAttr(req.header().nodeid, &out);
  if (err != 0) return reply.Error(err);
  return reply.Struct(out);
}

size_t Dispatcher::DoReadLink(RequestReader& req, ReplyWriter& reply) {
  std::string target;
  int err = fs_.ReadLink(req.header().nodeid, &target);
  if (err != 0) return reply.Error(err);
  return reply.Bytes(target);
}

size_t Dispatcher::DoOpen(RequestReader& req, ReplyWriter& reply) {
  fuse_open_in in;
  if (!req.ReadStruct(&in)) return reply.Error(EINVAL);
  fuse_open_out out;
  std::memset(&out, 0, sizeof(out));
  int err = fs_.Open(req.header().nodeid, in.flags, &out);
  if (err != 0) return reply.Error(err);
  size_t len = reply.Struct(out);
  if (len != sizeof(fuse_out_header) + sizeof(out)) fs_.Release(req.header().nodeid, out.fh);
  return len;
}

size_t Dispatcher::DoRead(RequestReader& req, ReplyWriter& reply) {
  fuse_read_in in;
  // Before 7.9 the kernel sends fh, offset, size, padding.
  if (!req.ReadStruct(&in, 24)) return reply.Error(EINVAL);
  std::span<uint8_t> buf = reply.Payload();
  if (buf.size() > in.size) buf = buf.first(in.size);
  size_t n = 0;
  int err = fs_.Read(req.header().nodeid, in.fh, in.offset, buf, &n);
  if (err != 0) return reply.Error(err);
  ReadBytes().Inc(n);
  return reply.Ok(n);
}

size_t Dispatcher::DoRelease(RequestReader& req, ReplyWriter& reply) {
  fuse_release_in in;
  if (!req.ReadStruct(&in, 16)) return reply.Error(EINVAL);
  fs_.Release(req.header().nodeid, in.fh);
  return reply.Ok(0);
}

size_t Dispatcher::DoOpenDir(RequestReader& req, ReplyWriter& reply) {
  fuse_open_in in;
  if (!req.ReadStruct(&in)) return reply.Error(EINVAL);
  if ((session_.flags() & FUSE_NO_OPENDIR_SUPPORT) && fs_.ListsWithoutOpenDir()) {
    // The kernel stops sending OPENDIR and RELEASEDIR on this connection.
    return reply.Error(ENOSYS);
  }
  fuse_open_out out;
  std::memset(&out, 0, sizeof(out));
  int err = fs_.OpenDir(req.header().nodeid, in.flags, &out);
  if (err != 0) return reply.Error(err);
  size_t len = reply.Struct(out);
  if (len != sizeof(fuse_out_header) + sizeof(out)) {
    fs_.ReleaseDir(req.header().nodeid, out.fh);
  }
  return len;
}

size_t Dispatcher::DoReadDir(RequestReader& req, ReplyWriter& reply) {
  return DoReadDirCommon(req, reply, false);
}

size_t Dispatcher::DoReadDirPlus(RequestReader& req, ReplyWriter& reply) {
  return DoReadDirCommon(req, reply, true);
}

size_t Dispatcher::DoReadDirCommon(RequestReader& req, ReplyWriter& reply, bool plus) {
  fuse_read_in in;
  if (!req.ReadStruct(&in, 24)) return reply.Error(EINVAL);
  std::span<uint8_t> buf = reply.Payload();
  if (buf.size() > in.size) buf = buf.first(in.size);
  DirentWriter out(buf);
  int err = fs_.ReadDir(req.header().nodeid, in.fh, in.offset, plus, out);
  if (err != 0) return reply.Error(err);
  return reply.Ok(out.size());
}

size_t Dispatcher::DoReleaseDir(RequestReader& req, ReplyWriter& reply) {
  fuse_release_in in;
  if (!req.ReadStruct(&in, 16)) return reply.Error(EINVAL);
  fs_.ReleaseDir(req.header().nodeid, in.fh);
  return reply.Ok(0);
}

size_t Dispatcher::DoStatFs(RequestReader& req, ReplyWriter& reply) {
  fuse_statfs_out out;
  std::memset(&out, 0, sizeof(out));
  int err = fs_.StatFs(req.header().nodeid, &out.st);
  if (err != 0) return reply.Error(err);
  return reply.Struct(out);
}

size_t Dispatcher::DoAccess(RequestReader& req, ReplyWriter& reply) {
  fuse_access_in in;
  if (!req.ReadStruct(&in)) return reply.Error(EINVAL);
  int err = fs_.Access(req.header().nodeid, in.mask);
  return err != 0 ? reply.Error(err) : reply.Ok(0);
}

size_t Dispatcher::DoFlush(RequestReader& req, ReplyWriter& reply) {
  fuse_flush_in in;
  if (!req.ReadStruct(&in)) return reply.Error(EINVAL);
  return reply.Ok(0);
}

size_t Dispatcher::DoGetXattr(RequestReader& req, ReplyWriter& reply) {
  fuse_getxattr_in in;
  std::string_view name;
  if (!req.ReadStruct(&in) || !req.ReadCString(&name)) return reply.Error(EINVAL);
  std::string value;
  int err = fs_.GetXattr(req.header().nodeid, name, &value);
  if (err != 0) return reply.Error(err);
  if (in.size == 0) {
    fuse_getxattr_out out{static_cast<uint32_t>(value.size()), 0};
    return reply.Struct(out);
  }
  if (value.size() > in.size) return reply.Error(ERANGE);
  return reply.Bytes(value);
}

size_t Dispatcher::DoListXattr(RequestReader& req, ReplyWriter& reply) {
  fuse_getxattr_in in;
  if (!req.ReadStruct(&in)) return reply.Error(EINVAL);
  std::string names;
  int err = fs_.ListXattr(req.header().nodeid, &names);
  if (err != 0) return reply.Error(err);
  if (in.size == 0) {
    fuse_getxattr_out out{static_cast<uint32_t>(names.size()), 0};
    return reply.Struct(out);
  }
  if (names.size() > in.size) return reply.Error(ERANGE);
  return reply.Bytes(names);
}

size_t Dispatcher::DoNoReply(RequestReader&, ReplyWriter&) { return 0; }

size_t Dispatcher::DoReadOnly(RequestReader&, ReplyWriter& reply) { return reply.Error(EROFS); }

size_t Dispatcher::DoNotImplemented(RequestReader&, ReplyWriter& reply) {
  return reply.Error(ENOSYS);
}

}  // namespace castor::fs::fuse
