// Dispatcher: the transport-free FUSE request handler. It decodes one
// request (header, the opcode's fixed header, the rest), looks the opcode up
// in a table of {handler, name}, calls the Filesystem, and encodes the reply
// into the transport's buffer, completing the Responder exactly once. It owns
// no thread, fd or queue; the INIT agreement lives in the Session.
//
// Replies per opcode (errnos come from the Filesystem unless noted):
//   INIT                 fuse_init_out | EPROTO (kernel too old) | EIO (twice)
//   any before INIT      EIO
//   LOOKUP               fuse_entry_out | ENOENT ENOTDIR EIO EINVAL(no name)
//   FORGET, BATCH_FORGET, INTERRUPT, NOTIFY_REPLY   no reply
//   GETATTR              fuse_attr_out | ENOENT
//   READLINK             target | ENOENT EINVAL
//   OPEN, OPENDIR        fuse_open_out (with a backing id under passthrough) |
//                        ENOENT EISDIR ENOTDIR EROFS EIO
//                        (OPENDIR: ENOSYS, from the Dispatcher, when the
//                        kernel offered FUSE_NO_OPENDIR_SUPPORT and the
//                        Filesystem ListsWithoutOpenDir)
//   READ                 data (short only at EOF) | EBADF EIO
//   READDIR(PLUS)        dirent records | ENOENT EBADF EPERM EIO
//   RELEASE(DIR), FLUSH  empty
//   STATFS               fuse_statfs_out
//   ACCESS               empty | ENOENT EACCES EROFS
//   GETXATTR, LISTXATTR  fuse_getxattr_out (size 0 asked) | value | ERANGE
//                        ENODATA ENOSYS
//   DESTROY              empty
//   SETATTR SYMLINK MKNOD MKDIR UNLINK RMDIR RENAME RENAME2 LINK WRITE
//   SETXATTR REMOVEXATTR CREATE FALLOCATE COPY_FILE_RANGE TMPFILE   EROFS
//   anything else        ENOSYS
// A request whose fixed header or name is truncated gets EINVAL; one too
// short for a fuse_in_header (or with an inconsistent len) cannot be
// answered and is completed with length 0.
//
// Thread-safe: Handle runs concurrently from any number of threads.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "fs/fuse/filesystem.h"
#include "fs/fuse/request_handler.h"
#include "fs/fuse/session.h"
#include "fs/fuse/wire.h"

namespace castor::fs::fuse {

class Dispatcher : public RequestHandler {
 public:
  // Both must outlive the dispatcher.
  Dispatcher(Filesystem& fs, Session& session) : fs_(fs), session_(session) {}

  void Handle(std::span<const uint8_t> request, Responder& responder) override;

  // "LOOKUP", "READ", ...; "UNKNOWN" for opcodes without an entry.
  static std::string_view OpcodeName(uint32_t opcode);

 private:
  // Returns the reply length for Responder::Complete (0 = no reply).
  using Handler = size_t (Dispatcher::*)(RequestReader& req, ReplyWriter& reply);
  struct Op {
    Handler handler;
    std::string_view name;
  };
  struct OpEntry {
    uint32_t opcode;
    Op op;
  };
  static const Op* FindOp(uint32_t opcode);
  static const OpEntry kOps[];

  size_t DoInit(RequestReader& req, ReplyWriter& reply);
  size_t DoDestroy(RequestReader& req, ReplyWriter& reply);
  size_t DoLookup(RequestReader& req, ReplyWriter& reply);
  size_t DoForget(RequestReader& req, ReplyWriter& reply);
  size_t DoBatchForget(RequestReader& req, ReplyWriter& reply);
  size_t DoGetAttr(RequestReader& req, ReplyWriter& reply);
  size_t DoReadLink(RequestReader& req, ReplyWriter& reply);
  size_t DoOpen(RequestReader& req, ReplyWriter& reply);
  size_t DoRead(RequestReader& req, ReplyWriter& reply);
  size_t DoRelease(RequestReader& req, ReplyWriter& reply);
  size_t DoOpenDir(RequestReader& req, ReplyWriter& reply);
  size_t DoReadDir(RequestReader& req, ReplyWriter& reply);
  size_t DoReadDirPlus(RequestReader& req, ReplyWriter& reply);
  size_t DoReadDirCommon(RequestReader& req, ReplyWriter& reply, bool plus);
  size_t DoReleaseDir(RequestReader& req, ReplyWriter& reply);
  size_t DoStatFs(RequestReader& req, ReplyWriter& reply);
  size_t DoAccess(RequestReader& req, ReplyWriter& reply);
  size_t DoFlush(RequestReader& req, ReplyWriter& reply);
  size_t DoGetXattr(RequestReader& req, ReplyWriter& reply);
  size_t DoListXattr(RequestReader& req, ReplyWriter& reply);
  size_t DoNoReply(RequestReader& req, ReplyWriter& reply);
  size_t DoReadOnly(RequestReader& req, ReplyWriter& reply);
  size_t DoNotImplemented(RequestReader& req, ReplyWriter& reply);

  Filesystem& fs_;
  Session& session_;
};

}  // namespace castor::fs::fuse
