// Servers and clients together: an in-process daemon on a unix socket,
// the client backends, raw stubs for requests the clients never send, and a
// hostile server for answers an honest daemon never gives.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

#include "absl/strings/match.h"
#include "base/status.h"
#include "castor/v1/roots.grpc.pb.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "rpc/status.h"
#include "rpc/testing.h"
#include "snix/castore/protos/rpc_blobstore.grpc.pb.h"
#include "snix/castore/protos/rpc_directory.grpc.pb.h"
#include "tvix/castore/protos/rpc_blobstore.grpc.pb.h"
#include "tvix/castore/protos/rpc_directory.grpc.pb.h"

namespace castor::rpc {
namespace {

namespace pb = ::tvix::castore::v1;
using castore::B3Digest;
using castore::Directory;
using castore::Entry;
using castore::PathComponent;
using testing::LocalDaemon;
using testing::TempDir;

std::string Bytes(size_t n, uint32_t seed = 1) {
  std::string s(n, '\0');
  uint32_t x = seed;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1103515245 + 12345;
    s[i] = static_cast<char>(x >> 16);
  }
  return s;
}

Entry File(std::string_view name, std::string_view data, bool exec = false) {
  return {*PathComponent::Create(name), castore::FileNode{B3Digest::Of(data), data.size(), exec}};
}
Entry Dir(std::string_view name, const Directory& d) {
  return {*PathComponent::Create(name), castore::DirectoryNode{d.digest(), d.size()}};
}
Entry Link(std::string_view name, std::string_view target) {
  return {*PathComponent::Create(name),
          castore::SymlinkNode{*castore::SymlinkTarget::Create(target)}};
}

// leaf <- mid <- top, and top also refers to leaf directly (a shared child).
struct Tree {
  Directory leaf = *Directory::Create({File("a", "hello"), Link("l", "/x")});
  Directory mid = *Directory::Create({Dir("leaf", leaf), File("b", "")});
  Directory top = *Directory::Create({Dir("m", mid), Dir("leaf2", leaf), File("c", "x", true)});
};

std::string Raw(std::string_view s) { return std::string(s); }

// The admin service's test of a peer: gRPC's unix peers are unix; a
// connection the daemon accepted ("fd:N") is whatever the daemon recorded for
// fd N last, and anything unrecorded or unparsable is not.
TEST(AcceptedPeersTest, ClassesPeersByTheConnectionRecordedForTheirFd) {
  AcceptedPeers peers;
  EXPECT_TRUE(peers.IsUnixPeer("unix:/run/castor.sock"));
  EXPECT_TRUE(peers.IsUnixPeer("unix-abstract:castor"));
  EXPECT_FALSE(peers.IsUnixPeer("ipv4:127.0.0.1:7000"));
  EXPECT_FALSE(peers.IsUnixPeer("fd:15"));
  peers.Accepted(15, true);
  EXPECT_TRUE(peers.IsUnixPeer("fd:15"));
  EXPECT_FALSE(peers.IsUnixPeer("fd:16"));
  EXPECT_FALSE(peers.IsUnixPeer("fd:15x"));
  EXPECT_FALSE(peers.IsUnixPeer("fd:"));
  // fd 15 closed and reused for a TCP connection.
  peers.Accepted(15, false);
  EXPECT_FALSE(peers.IsUnixPeer("fd:15"));
}

TEST(StatusMapping, EveryCodeRoundTripsWithItsMessage) {
  for (int c = 0; c <= 16; ++c) {
    absl::Status s(static_cast<absl::StatusCode>(c), c == 0 ? "" : "msg");
    grpc::Status g = ToGrpcStatus(s);
    EXPECT_EQ(static_cast<int>(g.error_code()), c);
    EXPECT_EQ(FromGrpcStatus(g), s);
  }
  EXPECT_EQ(FromGrpcStatus(grpc::Status(grpc::StatusCode::NOT_FOUND, "m"), "ctx").message(),
            "ctx: m");
}

TEST(ListenAddress, ParsesUnixAndTcpAndRejectsTheRest) {
  auto u = ListenAddress::Parse("unix:///run/castor.sock");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->kind, ListenAddress::Kind::kUnix);
  EXPECT_EQ(u->target, "/run/castor.sock");
  auto t = ListenAddress::Parse("127.0.0.1:7000");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->kind, ListenAddress::Kind::kTcp);
  EXPECT_TRUE(ListenAddress::Parse("[::1]:0").ok());
  for (const char* bad :
       {"unix://relative", "http://x:1", "localhost", "host:", ":80", "host:12a", "unix:///"}) {
    EXPECT_EQ(ListenAddress::Parse(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_FALSE(ListenAddress::Parse("unix:///" + std::string(200, 'a')).ok());
}

TEST(Channel, RejectsMalformedAddresses) {
  for (const char* bad : {"grpc+unix://rel.sock", "grpc+http://nohost", "grpc+http://h:1/x",
                          "grpc+tcp://h:1", "grpc+https://nohost", "grpc+https://:1"}) {
    auto a = castore::ServiceAddress::Parse(bad);
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(OpenChannel(*a).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

// --- Socket handling -------------------------------------------------------

TEST(DaemonSocket, IsCreatedWithMode0660AndRemovedOnShutdown) {
  TempDir dir;
  std::string path = dir.path() + "/d.sock";
  ::umask(0);  // the mode must not depend on the umask
  auto d = Daemon::Start({std::make_shared<castore::MemoryBlobService>(),
                          std::make_shared<castore::MemoryDirectoryService>(),
                          std::make_shared<castore::MemoryRootService>()},
                         {*ListenAddress::Parse("unix://" + path)});
  ::umask(022);
  ASSERT_TRUE(d.ok()) << d.status();
  struct stat st;
  ASSERT_EQ(::lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0660u);
  // No temporary directory is left beside it.
  int entries = 0;
  for (auto& e : std::filesystem::directory_iterator(dir.path())) {
    (void)e;
    ++entries;
  }
  EXPECT_EQ(entries, 1);
  EXPECT_EQ((*d)->client_addresses(), std::vector<std::string>{"grpc+unix://" + path});
  (*d)->Shutdown(std::chrono::seconds(1));
  EXPECT_NE(::lstat(path.c_str(), &st), 0);
}

castore::Services MemoryServices() {
  return {std::make_shared<castore::MemoryBlobService>(),
          std::make_shared<castore::MemoryDirectoryService>(),
          std::make_shared<castore::MemoryRootService>()};
}

TEST(DaemonSocket, ReplacesAStaleSocketAndRefusesALiveOneOrAFile) {
  TempDir dir;
  std::string path = dir.path() + "/d.sock";
  {
    // A stale socket: bound, then its listener closed.
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strcpy(sa.sun_path, path.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
    ::close(fd);
  }
  auto d = Daemon::Start(MemoryServices(), {*ListenAddress::Parse("unix://" + path)});
  ASSERT_TRUE(d.ok()) << d.status();
  auto second = Daemon::Start(MemoryServices(), {*ListenAddress::Parse("unix://" + path)});
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(second.status().message(), "listening")) << second.status();
  // The refused daemon did not take the socket away from the live one.
  auto clients = castore::Services{std::make_shared<GrpcBlobService>(
      *OpenChannel(*castore::ServiceAddress::Parse("grpc+unix://" + path)), path)};
  EXPECT_TRUE(clients.blobs->Has(castore::EmptyDigest()).ok());

  std::string file = dir.path() + "/plain";
  std::ofstream(file) << "data";
  auto third = Daemon::Start(MemoryServices(), {*ListenAddress::Parse("unix://" + file)});
  EXPECT_EQ(third.status().code(), absl::StatusCode::kFailedPrecondition);
  std::ifstream in(file);
  std::string content;
  in >> content;
  EXPECT_EQ(content, "data");
}

TEST(DaemonTcp, ListensOnAnEphemeralPortWhenAsked) {
  auto d = Daemon::Start(MemoryServices(), {*ListenAddress::Parse("127.0.0.1:0")});
  ASSERT_TRUE(d.ok()) << d.status();
  std::string addr = (*d)->client_addresses()[0];
  ASSERT_TRUE(absl::StartsWith(addr, "grpc+http://127.0.0.1:")) << addr;
  GrpcBlobService blobs(*OpenChannel(*castore::ServiceAddress::Parse(addr)), addr);
  auto digest = castore::PutBlob(blobs, "over tcp");
  ASSERT_TRUE(digest.ok()) << digest.status();
  EXPECT_EQ(*digest, B3Digest::Of(std::string_view("over tcp")));
}

// --- Round trips through client and server --------------------------------

class RpcTest : public ::testing::Test {
 protected:
  LocalDaemon daemon_;
  castore::Services clients_ = daemon_.Clients();
};

TEST_F(RpcTest, BlobsRoundTripSmallAndLarge) {
  for (size_t size : {size_t{0}, size_t{5}, size_t{(1 << 20) + 3}, size_t{9 << 20}}) {
    std::string data = Bytes(size, static_cast<uint32_t>(size));
    auto digest = castore::PutBlob(*clients_.blobs, data);
    ASSERT_TRUE(digest.ok()) << digest.status();
    EXPECT_EQ(*digest, B3Digest::Of(data));
    EXPECT_TRUE(*daemon_.backing().blobs->Has(*digest));
    EXPECT_TRUE(*clients_.blobs->Has(*digest));
    auto back = castore::ReadBlob(*clients_.blobs, *digest);
    ASSERT_TRUE(back.ok()) << back.status();
    ASSERT_TRUE(back->has_value());
    EXPECT_TRUE(**back == data) << size;
    // Blobs past 4 MiB are offered as 1 MiB chunks; smaller ones whole.
    auto chunks = clients_.blobs->Chunks(*digest);
    ASSERT_TRUE(chunks.ok());
    ASSERT_TRUE(chunks->has_value());
    uint64_t sum = 0;
    for (const auto& c : **chunks) sum += c.size;
    if (size > (4 << 20)) {
      EXPECT_EQ((*chunks)->size(), (size + (1 << 20) - 1) >> 20);
      EXPECT_EQ(sum, size);
    } else {
      EXPECT_TRUE((*chunks)->empty());
    }
  }
}

TEST(RpcWholeBlobs, BigBlobReaderIsSeekableAndHasALocalFile) {
  // A daemon that offers no chunks: the client downloads the blob whole.
  DaemonOptions options;
  options.handlers.chunks.min_blob_size = UINT64_MAX;
  LocalDaemon daemon({std::make_shared<castore::MemoryBlobService>(),
                      std::make_shared<castore::MemoryDirectoryService>(),
                      std::make_shared<castore::MemoryRootService>()},
                     options);
  castore::Services clients = daemon.Clients();
  std::string data = Bytes(6 << 20);
  auto digest = castore::PutBlob(*daemon.backing().blobs, data);
  auto reader = clients.blobs->OpenRead(*digest);
  ASSERT_TRUE(reader.ok()) << reader.status();
  ASSERT_NE(*reader, nullptr);
  EXPECT_EQ((*reader)->size(), data.size());
  EXPECT_GE((*reader)->LocalFd(), 0);
  std::vector<uint8_t> buf(100);
  auto n = (*reader)->ReadAt(5'000'000, buf);
  ASSERT_TRUE(n.ok());
  ASSERT_EQ(*n, 100u);
  EXPECT_EQ(std::memcmp(buf.data(), data.data() + 5'000'000, 100), 0);
  EXPECT_EQ(*(*reader)->ReadAt(data.size(), buf), 0u);
}

TEST(RpcWholeBlobs, ABigDownloadedBlobThatChangesInItsTemporaryFileIsDataLossNotWrongBytes) {
  // A big blob downloaded whole waits in a temporary file until it is read:
  // a byte that changes there (disk rot, a stray writer) must never reach a
  // reader; the pieces that did not change are still served.
  DaemonOptions options;
  options.handlers.chunks.min_blob_size = UINT64_MAX;
  LocalDaemon daemon({std::make_shared<castore::MemoryBlobService>(),
                      std::make_shared<castore::MemoryDirectoryService>(),
                      std::make_shared<castore::MemoryRootService>()},
                     options);
  castore::Services clients = daemon.Clients();
  std::string data = Bytes(6 << 20);
  auto digest = castore::PutBlob(*daemon.backing().blobs, data);
  auto reader = clients.blobs->OpenRead(*digest);
  ASSERT_TRUE(reader.ok()) << reader.status();
  ASSERT_NE(*reader, nullptr);
  const int fd = (*reader)->LocalFd();
  ASSERT_GE(fd, 0);
  const char flipped = static_cast<char>(data[5'000'000] ^ 0x01);
  ASSERT_EQ(::pwrite(fd, &flipped, 1, 5'000'000), 1);

  std::vector<uint8_t> buf(100);
  auto bad = (*reader)->ReadAt(5'000'000 - 50, buf);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kDataLoss) << bad.status();
  auto good = (*reader)->ReadAt(1'000'000, buf);
  ASSERT_TRUE(good.ok()) << good.status();
  ASSERT_EQ(*good, 100u);
  EXPECT_EQ(std::memcmp(buf.data(), data.data() + 1'000'000, 100), 0);
}

// A store whose blob `digest` claims `extra` bytes more than it has (the
// daemon then streams them: its real bytes, then filler) while its chunk
// list, when asked for, announces the real size. Counts the bytes served.
class OverlongBlobs final : public castore::BlobService {
 public:
  OverlongBlobs(std::shared_ptr<castore::BlobService> inner, B3Digest digest, uint64_t real,
                uint64_t extra)
      : inner_(std::move(inner)), digest_(digest), real_(real), extra_(extra) {}
  uint64_t served() const { return served_->load(); }

  absl::StatusOr<bool> Has(const B3Digest& d) override { return inner_->Has(d); }
  absl::StatusOr<std::unique_ptr<castore::BlobReader>> OpenRead(const B3Digest& d) override {
    ASSIGN_OR_RETURN(auto r, inner_->OpenRead(d));
    if (r == nullptr || d != digest_) return r;
    return std::make_unique<Reader>(std::move(r), real_ + extra_, served_);
  }
  absl::StatusOr<std::unique_ptr<castore::BlobWriter>> OpenWrite() override {
    return inner_->OpenWrite();
  }
  absl::StatusOr<std::optional<std::vector<castore::ChunkMeta>>> Chunks(
      const B3Digest& d) override {
    if (d != digest_ || !announce_chunks_) return inner_->Chunks(d);
    return std::vector<castore::ChunkMeta>{{d, real_}};  // one chunk, no outboard
  }
  absl::Status Sync() override { return inner_->Sync(); }
  absl::Status ForEach(const std::function<absl::Status(const B3Digest&, uint64_t)>& fn) override {
    return inner_->ForEach(fn);
  }
  absl::Status Delete(const B3Digest& d) override { return inner_->Delete(d); }
  void AnnounceChunks() { announce_chunks_ = true; }

 private:
  class Reader final : public castore::BlobReader {
   public:
    Reader(std::unique_ptr<castore::BlobReader> r, uint64_t size,
           std::shared_ptr<std::atomic<uint64_t>> served)
        : r_(std::move(r)), size_(size), served_(std::move(served)) {}
    uint64_t size() const override { return size_; }
    absl::StatusOr<size_t> ReadAt(uint64_t off, std::span<uint8_t> buf) const override {
      if (off >= size_) return 0;
      size_t n = std::min<uint64_t>(buf.size(), size_ - off);
      size_t real = 0;
      if (off < r_->size()) {
        ASSIGN_OR_RETURN(real, r_->ReadAt(off, buf.first(n)));
      }
      std::memset(buf.data() + real, 'x', n - real);
      *served_ += n;
      return n;
    }

   private:
    std::unique_ptr<castore::BlobReader> r_;
    uint64_t size_;
    std::shared_ptr<std::atomic<uint64_t>> served_;
  };
  std::shared_ptr<castore::BlobService> inner_;
  B3Digest digest_;
  uint64_t real_, extra_;
  std::atomic<bool> announce_chunks_{false};
  std::shared_ptr<std::atomic<uint64_t>> served_ = std::make_shared<std::atomic<uint64_t>>(0);
};

TEST(RpcWholeBlobs, DownloadStopsAtTheAnnouncedSizeOfADaemonThatSendsMore) {
  // The daemon would stream 1 GiB past the 3 MiB a node announces; the
  // client stops right after the announced size instead of spilling it all
  // to its temporary directory.
  std::string data = Bytes(3 << 20);
  B3Digest digest = B3Digest::Of(data);
  auto memory = std::make_shared<castore::MemoryBlobService>();
  ASSERT_TRUE(castore::PutBlob(*memory, data).ok());
  constexpr uint64_t kExtra = uint64_t{1} << 30;
  auto lying = std::make_shared<OverlongBlobs>(memory, digest, data.size(), kExtra);
  LocalDaemon daemon({lying, std::make_shared<castore::MemoryDirectoryService>(),
                      std::make_shared<castore::MemoryRootService>()});
  castore::Services clients = daemon.Clients();
  auto r = clients.blobs->OpenReadSized(digest, data.size());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), digest.ToB3())) << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), "3145728 bytes announced")) << r.status();
  // What the daemon got to send beyond it is bounded by the flow-control
  // windows, not by the lie.
  EXPECT_LT(lying->served(), data.size() + (64 << 20)) << lying->served();
}

TEST(RpcWholeBlobs, DownloadStopsAtTheSizeTheDaemonsChunkListAnnounces) {
  // Without a size from the caller, the chunk list (without an outboard:
  // the blob is downloaded whole) is the daemon's own announcement.
  std::string data = Bytes(5 << 20, 7);
  B3Digest digest = B3Digest::Of(data);
  auto memory = std::make_shared<castore::MemoryBlobService>();
  ASSERT_TRUE(castore::PutBlob(*memory, data).ok());
  auto lying = std::make_shared<OverlongBlobs>(memory, digest, data.size(), uint64_t{1} << 30);
  lying->AnnounceChunks();
  LocalDaemon daemon({lying, std::make_shared<castore::MemoryDirectoryService>(),
                      std::make_shared<castore::MemoryRootService>()});
  castore::Services clients = daemon.Clients();
  auto r = clients.blobs->OpenRead(digest);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), digest.ToB3())) << r.status();
  EXPECT_LT(lying->served(), data.size() + (64 << 20)) << lying->served();
}

TEST_F(RpcTest, MissingBlobIsAbsentNotAnError) {
  B3Digest d = B3Digest::Of(std::string_view("nope"));
  EXPECT_FALSE(*clients_.blobs->Has(d));
  auto r = clients_.blobs->OpenRead(d);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, nullptr);
  EXPECT_FALSE(clients_.blobs->Chunks(d)->has_value());
}

TEST_F(RpcTest, ReadStreamsChunksOfAtMostOneMiB) {
  std::string data = Bytes((3 << 20) + 10);
  auto digest = castore::PutBlob(*daemon_.backing().blobs, data);
  auto stub = pb::BlobService::NewStub(daemon_.channel());
  grpc::ClientContext ctx;
  pb::ReadBlobRequest req;
  req.set_digest(Raw(digest->raw()));
  auto stream = stub->Read(&ctx, req);
  pb::BlobChunk chunk;
  std::string got;
  int chunks = 0;
  while (stream->Read(&chunk)) {
    EXPECT_LE(chunk.data().size(), size_t{1} << 20);
    got += chunk.data();
    ++chunks;
  }
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(chunks, 4);
  EXPECT_TRUE(got == data);
}

TEST_F(RpcTest, BrokenPutStreamStoresNothing) {
  auto stub = pb::BlobService::NewStub(daemon_.channel());
  {
    grpc::ClientContext ctx;
    pb::PutBlobResponse resp;
    auto stream = stub->Put(&ctx, &resp);
    pb::BlobChunk chunk;
    chunk.set_data("partial data");
    ASSERT_TRUE(stream->Write(chunk));
    ctx.TryCancel();
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  // Let the server notice; then neither the partial blob nor anything else exists.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  int count = 0;
  ASSERT_TRUE(daemon_.backing()
                  .blobs
                  ->ForEach([&](const B3Digest&, uint64_t) {
                    ++count;
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_EQ(count, 0);
}

TEST_F(RpcTest, UnclosedClientWriterStoresNothing) {
  {
    auto w = clients_.blobs->OpenWrite();
    ASSERT_TRUE((*w)->Write(Bytes(3 << 20)).ok());  // several messages already sent
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(*daemon_.backing().blobs->Has(B3Digest::Of(Bytes(3 << 20))));
}

TEST_F(RpcTest, DirectoriesRoundTripAndRecurseBreadthFirst) {
  Tree t;
  auto putter = clients_.directories->OpenPutter();
  ASSERT_TRUE(putter.ok());
  ASSERT_TRUE((*putter)->Put(t.leaf).ok());
  ASSERT_TRUE((*putter)->Put(t.mid).ok());
  ASSERT_TRUE((*putter)->Put(t.top).ok());
  auto root = (*putter)->Close();
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_EQ(*root, t.top.digest());

  auto got = clients_.directories->Get(t.mid.digest());
  ASSERT_TRUE(got.ok());
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ(**got, t.mid);

  std::vector<B3Digest> order;
  ASSERT_TRUE(clients_.directories
                  ->GetRecursive(t.top.digest(),
                                 [&](const Directory& d) {
                                   order.push_back(d.digest());
                                   return absl::OkStatus();
                                 })
                  .ok());
  // top, then its children in entry order (leaf2 < m), leaf once.
  EXPECT_EQ(order, (std::vector<B3Digest>{t.top.digest(), t.leaf.digest(), t.mid.digest()}));

  B3Digest missing = B3Digest::Of(std::string_view("missing"));
  EXPECT_FALSE(clients_.directories->Get(missing)->has_value());
  EXPECT_EQ(
      clients_.directories->GetRecursive(missing, [](const Directory&) { return absl::OkStatus(); })
          .code(),
      absl::StatusCode::kNotFound);
  // Single Put of a Directory whose children are stored.
  Directory extra = *Directory::Create({Dir("again", t.top)});
  EXPECT_EQ(*clients_.directories->Put(extra), extra.digest());
}

TEST_F(RpcTest, RecursiveCallbackErrorStopsTheStream) {
  Tree t;
  auto putter = *clients_.directories->OpenPutter();
  ASSERT_TRUE(putter->Put(t.leaf).ok());
  ASSERT_TRUE(putter->Put(t.mid).ok());
  ASSERT_TRUE(putter->Put(t.top).ok());
  ASSERT_TRUE(putter->Close().ok());
  int calls = 0;
  absl::Status s = clients_.directories->GetRecursive(t.top.digest(), [&](const Directory&) {
    ++calls;
    return absl::AbortedError("enough");
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(calls, 1);
}

TEST_F(RpcTest, PutterRejectsUnknownChildAndStoresNothing) {
  Tree t;
  auto putter = *clients_.directories->OpenPutter();
  ASSERT_TRUE(putter->Put(t.leaf).ok());
  // mid arrives without... top refers to mid, which was never sent.
  absl::Status s = putter->Put(t.top);
  if (s.ok()) s = putter->Close().status();  // the rejection may arrive at Close
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_FALSE(daemon_.backing().directories->Get(t.leaf.digest())->has_value());
}

TEST_F(RpcTest, RootsRoundTrip) {
  Tree t;
  auto putter = *daemon_.backing().directories->OpenPutter();
  ASSERT_TRUE(putter->Put(t.leaf).ok());
  ASSERT_TRUE(putter->Close().ok());
  Entry r1 = Dir("one", t.leaf);
  ASSERT_TRUE(castore::PutBlob(*clients_.blobs, "hello").ok());
  Entry r2 = File("two", "hello");
  Entry r3 = Link("three", "/somewhere");
  for (const Entry& e : {r1, r2, r3}) ASSERT_TRUE(clients_.roots->Put(e).ok());
  EXPECT_EQ(**clients_.roots->Get(*PathComponent::Create("two")), r2);
  EXPECT_FALSE(clients_.roots->Get(*PathComponent::Create("none"))->has_value());
  std::vector<std::string> names;
  ASSERT_TRUE(clients_.roots
                  ->List([&](const Entry& e) {
                    names.push_back(e.name.str());
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_EQ(names, (std::vector<std::string>{"one", "three", "two"}));
  EXPECT_TRUE(*clients_.roots->Remove(*PathComponent::Create("one")));
  EXPECT_FALSE(*clients_.roots->Remove(*PathComponent::Create("one")));
}

TEST_F(RpcTest, RootMustReferToSomethingStored) {
  Tree t;
  EXPECT_EQ(clients_.roots->Put(Dir("d", t.leaf)).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(clients_.roots->Put(File("f", "not stored")).code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(castore::PutBlob(*clients_.blobs, "abc").ok());
  Entry wrong_size{*PathComponent::Create("f"),
                   castore::FileNode{B3Digest::Of(std::string_view("abc")), 4, false}};
  EXPECT_EQ(clients_.roots->Put(wrong_size).code(), absl::StatusCode::kInvalidArgument);
}

// --- Bad requests (raw stubs: the client backends never send these) -------

TEST_F(RpcTest, GarbageDigestsAreInvalidArgument) {
  auto blobs = pb::BlobService::NewStub(daemon_.channel());
  {
    grpc::ClientContext ctx;
    pb::StatBlobRequest req;
    req.set_digest("short");
    pb::StatBlobResponse resp;
    EXPECT_EQ(blobs->Stat(&ctx, req, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  {
    grpc::ClientContext ctx;
    pb::ReadBlobRequest req;
    req.set_digest(std::string(33, 'x'));
    auto stream = blobs->Read(&ctx, req);
    pb::BlobChunk c;
    EXPECT_FALSE(stream->Read(&c));
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  auto dirs = pb::DirectoryService::NewStub(daemon_.channel());
  for (bool with_digest : {false, true}) {
    grpc::ClientContext ctx;
    pb::GetDirectoryRequest req;
    if (with_digest) req.set_digest("");
    auto stream = dirs->Get(&ctx, req);
    pb::Directory d;
    EXPECT_FALSE(stream->Read(&d));
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  auto roots = castor::v1::RootService::NewStub(daemon_.channel());
  {
    grpc::ClientContext ctx;
    castor::v1::GetRootRequest req;
    req.set_name("a/b");
    castor::v1::GetRootResponse resp;
    EXPECT_EQ(roots->Get(&ctx, req, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  {
    grpc::ClientContext ctx;
    castor::v1::GetRootRequest req;
    req.set_name("absent");
    castor::v1::GetRootResponse resp;
    EXPECT_EQ(roots->Get(&ctx, req, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext ctx;
    castor::v1::Root req;
    req.set_name("x");
    req.mutable_node()->mutable_symlink()->set_name("y");  // name mismatch
    req.mutable_node()->mutable_symlink()->set_target("t");
    castor::v1::PutRootResponse resp;
    EXPECT_EQ(roots->Put(&ctx, req, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  {
    grpc::ClientContext ctx;
    castor::v1::Root req;
    req.set_name("x");  // no node at all
    castor::v1::PutRootResponse resp;
    EXPECT_EQ(roots->Put(&ctx, req, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
}

// Sends `dirs` as one Put stream; returns the final status.
grpc::Status PutStream(pb::DirectoryService::Stub& stub, const std::vector<pb::Directory>& dirs) {
  grpc::ClientContext ctx;
  pb::PutDirectoryResponse resp;
  auto stream = stub.Put(&ctx, &resp);
  for (const auto& d : dirs) {
    if (!stream->Write(d)) break;
  }
  stream->WritesDone();
  return stream->Finish();
}

TEST_F(RpcTest, BadDirectoryPutStreamsGetTheRightCodeAndStoreNothing) {
  Tree t;
  auto stub = pb::DirectoryService::NewStub(daemon_.channel());
  pb::Directory unsorted;
  auto* f1 = unsorted.add_files();
  f1->set_name("z");
  f1->set_digest(Raw(castore::EmptyDigest().raw()));
  auto* f2 = unsorted.add_files();
  f2->set_name("a");
  f2->set_digest(Raw(castore::EmptyDigest().raw()));
  grpc::Status s = PutStream(*stub, {t.leaf.ToProto(), unsorted});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "\"a\"") ||
              absl::StrContains(s.error_message(), "a"))
      << s.error_message();

  pb::Directory bad_digest;
  auto* f = bad_digest.add_files();
  f->set_name("f");
  f->set_digest("xx");
  EXPECT_EQ(PutStream(*stub, {bad_digest}).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  pb::Directory dotdot;
  dotdot.add_symlinks()->set_name("..");
  dotdot.mutable_symlinks(0)->set_target("x");
  EXPECT_EQ(PutStream(*stub, {dotdot}).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  // Wrong order: the parent before its child.
  EXPECT_EQ(PutStream(*stub, {t.mid.ToProto(), t.leaf.ToProto()}).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  // Unknown reference.
  EXPECT_EQ(PutStream(*stub, {t.top.ToProto()}).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  // Wrong child size.
  pb::Directory wrong_size = t.mid.ToProto();
  wrong_size.mutable_directories(0)->set_size(t.leaf.size() + 1);
  EXPECT_EQ(PutStream(*stub, {t.leaf.ToProto(), wrong_size}).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // An empty stream.
  EXPECT_FALSE(PutStream(*stub, {}).ok());

  // None of the rejected streams left anything behind (leaf was in several).
  EXPECT_FALSE(daemon_.backing().directories->Get(t.leaf.digest())->has_value());
  // And a good stream still works.
  EXPECT_TRUE(PutStream(*stub, {t.leaf.ToProto(), t.mid.ToProto()}).ok());
  EXPECT_TRUE(daemon_.backing().directories->Get(t.mid.digest())->has_value());
}

TEST_F(RpcTest, RecursiveGetOfIncompleteClosureIsFailedPrecondition) {
  Tree t;
  // Store mid without leaf behind the service's back (memory putter checks,
  // so build the gap by deleting leaf afterwards).
  auto putter = *daemon_.backing().directories->OpenPutter();
  ASSERT_TRUE(putter->Put(t.leaf).ok());
  ASSERT_TRUE(putter->Put(t.mid).ok());
  ASSERT_TRUE(putter->Close().ok());
  B3Digest leaf = t.leaf.digest();
  ASSERT_TRUE(daemon_.backing().directories->Delete({&leaf, 1}).ok());
  absl::Status s = clients_.directories->GetRecursive(
      t.mid.digest(), [](const Directory&) { return absl::OkStatus(); });
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
}

TEST_F(RpcTest, SnixPackageNamesServeTheSameStore) {
  Tree t;
  auto blobs = snix::castore::v1::BlobService::NewStub(daemon_.channel());
  {
    grpc::ClientContext ctx;
    snix::castore::v1::PutBlobResponse resp;
    auto stream = blobs->Put(&ctx, &resp);
    snix::castore::v1::BlobChunk c;
    c.set_data("hello");
    ASSERT_TRUE(stream->Write(c));
    stream->WritesDone();
    ASSERT_TRUE(stream->Finish().ok());
    EXPECT_EQ(resp.digest(), Raw(B3Digest::Of(std::string_view("hello")).raw()));
  }
  EXPECT_TRUE(*clients_.blobs->Has(B3Digest::Of(std::string_view("hello"))));
  auto dirs = snix::castore::v1::DirectoryService::NewStub(daemon_.channel());
  {
    grpc::ClientContext ctx;
    snix::castore::v1::PutDirectoryResponse resp;
    auto stream = dirs->Put(&ctx, &resp);
    snix::castore::v1::Directory d;
    ASSERT_TRUE(d.ParseFromString(t.leaf.Encode()));
    ASSERT_TRUE(stream->Write(d));
    stream->WritesDone();
    ASSERT_TRUE(stream->Finish().ok());
    EXPECT_EQ(resp.root_digest(), Raw(t.leaf.digest().raw()));
  }
  {
    grpc::ClientContext ctx;
    snix::castore::v1::GetDirectoryRequest req;
    req.set_digest(Raw(t.leaf.digest().raw()));
    auto stream = dirs->Get(&ctx, req);
    snix::castore::v1::Directory d;
    ASSERT_TRUE(stream->Read(&d));
    EXPECT_EQ(d.SerializeAsString(), t.leaf.Encode());
    EXPECT_TRUE(stream->Finish().ok());
  }
}

// Runs one unary call through the generic stub (for services whose protos
// we do not compile: grpc.health.v1).
grpc::Status GenericUnary(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                          const std::string& request, std::string* response) {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::Slice slice(request);
  grpc::ByteBuffer req(&slice, 1);
  grpc::ByteBuffer resp;
  grpc::Status status;
  auto call = stub.PrepareUnaryCall(&ctx, method, req, &cq);
  call->StartCall();
  call->Finish(&resp, &status, reinterpret_cast<void*>(1));
  void* tag;
  bool ok;
  CASTOR_CHECK(cq.Next(&tag, &ok));
  std::vector<grpc::Slice> slices;
  if (status.ok() && resp.Dump(&slices).ok()) {
    for (const auto& s : slices)
      response->append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return status;
}

TEST_F(RpcTest, HealthCheckSaysServing) {
  std::string resp;
  // HealthCheckRequest{service: ""} is empty; SERVING is status=1 (08 01).
  grpc::Status s = GenericUnary(daemon_.channel(), "/grpc.health.v1.Health/Check", "", &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp, std::string("\x08\x01", 2));
}

TEST_F(RpcTest, ReflectionListsBothPackageNames) {
  grpc::GenericStub stub(daemon_.channel());
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  auto call =
      stub.PrepareCall(&ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  void* tag;
  bool ok;
  call->StartCall(reinterpret_cast<void*>(1));
  ASSERT_TRUE(cq.Next(&tag, &ok) && ok);
  // ServerReflectionRequest{list_services: ""}: field 7, length 0.
  grpc::Slice slice(std::string("\x3a\x00", 2));
  grpc::ByteBuffer req(&slice, 1);
  call->Write(req, reinterpret_cast<void*>(2));
  ASSERT_TRUE(cq.Next(&tag, &ok) && ok);
  grpc::ByteBuffer resp;
  call->Read(&resp, reinterpret_cast<void*>(3));
  ASSERT_TRUE(cq.Next(&tag, &ok) && ok);
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(resp.Dump(&slices).ok());
  std::string text;
  for (const auto& s : slices) text.append(reinterpret_cast<const char*>(s.begin()), s.size());
  for (const char* name : {"tvix.castore.v1.BlobService", "tvix.castore.v1.DirectoryService",
                           "snix.castore.v1.BlobService", "snix.castore.v1.DirectoryService",
                           "castor.v1.RootService"}) {
    EXPECT_TRUE(absl::StrContains(text, name)) << name;
  }
  call->WritesDone(reinterpret_cast<void*>(4));
  cq.Next(&tag, &ok);
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  cq.Next(&tag, &ok);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
}

// --- The daemon goes away and comes back -----------------------------------

TEST_F(RpcTest, DaemonGoneIsPromptlyUnavailableAndBackWorksWithoutNewClients) {
  ASSERT_TRUE(castore::PutBlob(*clients_.blobs, "before").ok());
  daemon_.Stop();
  auto start = std::chrono::steady_clock::now();
  auto has = clients_.blobs->Has(B3Digest::Of(std::string_view("before")));
  EXPECT_EQ(has.status().code(), absl::StatusCode::kUnavailable) << has.status();
  auto dir = clients_.directories->Get(castore::EmptyDigest());
  EXPECT_EQ(dir.status().code(), absl::StatusCode::kUnavailable);
  auto root = clients_.roots->Get(*PathComponent::Create("x"));
  EXPECT_EQ(root.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));

  daemon_.Start();
  // Reconnection backoff is capped at 1 s: within a few seconds calls work.
  absl::StatusOr<bool> again = absl::UnavailableError("not tried");
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < until) {
    again = clients_.blobs->Has(B3Digest::Of(std::string_view("before")));
    if (again.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(*again);
}

TEST_F(RpcTest, ShutdownLetsInFlightCallsFinishAndRefusesNewOnes) {
  std::string data = Bytes(8 << 20);
  auto digest = castore::PutBlob(*daemon_.backing().blobs, data);
  auto stub = pb::BlobService::NewStub(daemon_.channel());
  grpc::ClientContext ctx;
  pb::ReadBlobRequest req;
  req.set_digest(Raw(digest->raw()));
  auto stream = stub->Read(&ctx, req);
  pb::BlobChunk chunk;
  ASSERT_TRUE(stream->Read(&chunk));  // in flight, blocked on flow control
  std::string got = chunk.data();
  std::thread stopper([&] { daemon_.Stop(); });  // Shutdown with a 5 s grace
  // Once the shutdown has begun (the stopper thread may take a while to get
  // there on a loaded machine), a new call is refused while the first one
  // is still open.
  bool refused = false;
  auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(4);
  while (!refused && std::chrono::steady_clock::now() < give_up) {
    grpc::ClientContext other;
    other.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
    pb::StatBlobRequest stat;
    stat.set_digest(Raw(digest->raw()));
    pb::StatBlobResponse resp;
    refused = !stub->Stat(&other, stat, &resp).ok();
    if (!refused) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(refused) << "new calls were still served 4 s into the shutdown";
  while (stream->Read(&chunk)) got += chunk.data();
  grpc::Status s = stream->Finish();
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(got == data) << got.size();
  stopper.join();
}

// --- A hostile server ------------------------------------------------------

enum class Lie {
  kWrongBytes,        // Read returns other bytes than asked for
  kTruncatedBytes,    // Read stops early
  kWrongDirectory,    // Get returns a valid Directory with another digest
  kInvalidDirectory,  // Get returns an unsorted Directory
  kUnreferenced,      // recursive Get slips in a Directory nobody refers to
  kIncomplete,        // recursive Get omits a child
  kDuplicate,         // recursive Get sends a child twice
  kWrongPutDigest,    // Put answers a digest that is not the one sent
};

class HostileBlobs final : public pb::BlobService::Service {
 public:
  explicit HostileBlobs(Lie lie) : lie_(lie) {}
  grpc::Status Stat(grpc::ServerContext*, const pb::StatBlobRequest*,
                    pb::StatBlobResponse*) override {
    return grpc::Status::OK;
  }
  grpc::Status Read(grpc::ServerContext*, const pb::ReadBlobRequest*,
                    grpc::ServerWriter<pb::BlobChunk>* w) override {
    pb::BlobChunk c;
    c.set_data(lie_ == Lie::kTruncatedBytes ? "hel" : "jello");
    w->Write(c);
    return grpc::Status::OK;
  }
  grpc::Status Put(grpc::ServerContext*, grpc::ServerReader<pb::BlobChunk>* r,
                   pb::PutBlobResponse* resp) override {
    pb::BlobChunk c;
    while (r->Read(&c)) {
    }
    resp->set_digest(Raw(B3Digest::Of(std::string_view("something else")).raw()));
    return grpc::Status::OK;
  }

 private:
  Lie lie_;
};

class HostileDirs final : public pb::DirectoryService::Service {
 public:
  explicit HostileDirs(Lie lie) : lie_(lie) {}
  grpc::Status Get(grpc::ServerContext*, const pb::GetDirectoryRequest* req,
                   grpc::ServerWriter<pb::Directory>* w) override {
    Tree t;
    Directory other = *Directory::Create({File("zzz", "")});
    switch (lie_) {
      case Lie::kWrongDirectory:
        w->Write(other.ToProto());
        break;
      case Lie::kInvalidDirectory: {
        pb::Directory d = t.leaf.ToProto();
        std::swap(*d.mutable_files(0), *d.mutable_files(0));
        d.add_files()->CopyFrom(d.files(0));  // duplicate name
        w->Write(d);
        break;
      }
      case Lie::kUnreferenced:
        w->Write(t.mid.ToProto());
        w->Write(other.ToProto());
        break;
      case Lie::kIncomplete:
        w->Write(t.mid.ToProto());
        break;
      case Lie::kDuplicate:
        w->Write(t.mid.ToProto());
        w->Write(t.leaf.ToProto());
        w->Write(t.leaf.ToProto());
        break;
      default:
        (void)req;
        w->Write(t.mid.ToProto());
        if (req->recursive()) w->Write(t.leaf.ToProto());
    }
    return grpc::Status::OK;
  }
  grpc::Status Put(grpc::ServerContext*, grpc::ServerReader<pb::Directory>* r,
                   pb::PutDirectoryResponse* resp) override {
    pb::Directory d;
    while (r->Read(&d)) {
    }
    resp->set_root_digest(Raw(castore::EmptyDigest().raw()));
    return grpc::Status::OK;
  }

 private:
  Lie lie_;
};

class HostileTest : public ::testing::TestWithParam<Lie> {
 protected:
  void SetUp() override {
    blobs_ = std::make_unique<HostileBlobs>(GetParam());
    dirs_ = std::make_unique<HostileDirs>(GetParam());
    grpc::ServerBuilder b;
    b.AddListeningPort("unix://" + dir_.path() + "/h.sock", grpc::InsecureServerCredentials());
    b.RegisterService(blobs_.get());
    b.RegisterService(dirs_.get());
    server_ = b.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    std::string addr = "grpc+unix://" + dir_.path() + "/h.sock";
    auto channel = *OpenChannel(*castore::ServiceAddress::Parse(addr));
    blob_client_ = std::make_unique<GrpcBlobService>(channel, addr);
    dir_client_ = std::make_unique<GrpcDirectoryService>(channel, addr);
  }
  void TearDown() override { server_->Shutdown(); }

  TempDir dir_;
  std::unique_ptr<HostileBlobs> blobs_;
  std::unique_ptr<HostileDirs> dirs_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<GrpcBlobService> blob_client_;
  std::unique_ptr<GrpcDirectoryService> dir_client_;
};

TEST_P(HostileTest, LiesAreDataLossAndNothingIsServed) {
  Tree t;
  switch (GetParam()) {
    case Lie::kWrongBytes:
    case Lie::kTruncatedBytes: {
      auto r = blob_client_->OpenRead(B3Digest::Of(std::string_view("hello")));
      EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
      break;
    }
    case Lie::kWrongDirectory:
    case Lie::kInvalidDirectory: {
      auto d = dir_client_->Get(t.leaf.digest());
      EXPECT_EQ(d.status().code(), absl::StatusCode::kDataLoss) << d.status();
      break;
    }
    case Lie::kUnreferenced:
    case Lie::kIncomplete:
    case Lie::kDuplicate: {
      std::vector<B3Digest> served;
      absl::Status s = dir_client_->GetRecursive(t.mid.digest(), [&](const Directory& d) {
        served.push_back(d.digest());
        return absl::OkStatus();
      });
      EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
      // Only verified Directories were handed out (mid, and leaf once).
      for (const B3Digest& d : served) {
        EXPECT_TRUE(d == t.mid.digest() || d == t.leaf.digest());
      }
      EXPECT_LE(served.size(), 2u);
      break;
    }
    case Lie::kWrongPutDigest: {
      auto digest = castore::PutBlob(*blob_client_, "hello");
      EXPECT_EQ(digest.status().code(), absl::StatusCode::kDataLoss) << digest.status();
      auto root = dir_client_->Put(t.leaf);
      EXPECT_EQ(root.status().code(), absl::StatusCode::kDataLoss) << root.status();
      break;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllLies, HostileTest,
                         ::testing::Values(Lie::kWrongBytes, Lie::kTruncatedBytes,
                                           Lie::kWrongDirectory, Lie::kInvalidDirectory,
                                           Lie::kUnreferenced, Lie::kIncomplete, Lie::kDuplicate,
                                           Lie::kWrongPutDigest));

}  // namespace
}  // namespace castor::rpc
