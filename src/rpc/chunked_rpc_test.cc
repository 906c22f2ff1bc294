// Random access into big remote blobs: a daemon lays them out in chunks with
// an outboard, the client fetches and checks only the chunks reads need; a
// server that lies about any of it gets DataLoss and serves nothing.
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <thread>

#include "base/status.h"
#include "castore/blob/caching_blob_service.h"
#include "castore/blob/chunked_blob_reader.h"
#include "castore/blob/layout_store.h"
#include "castore/blob/local_blob_service.h"
#include "castore/testing/rot.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "rpc/testing.h"

namespace castor::rpc {
namespace {

namespace pb = ::tvix::castore::v1;
using castore::B3Digest;
using castore::testing::RandomBytes;
using testing::LocalDaemon;
using testing::TempDir;

// Counts the bytes the daemon reads from its store.
class CountingBlobService : public castore::BlobService {
 public:
  explicit CountingBlobService(std::shared_ptr<castore::BlobService> inner)
      : inner_(std::move(inner)) {}
  uint64_t bytes_read() const { return bytes_->load(); }

  absl::StatusOr<bool> Has(const B3Digest& d) override { return inner_->Has(d); }
  absl::StatusOr<std::unique_ptr<castore::BlobReader>> OpenRead(const B3Digest& d) override {
    ASSIGN_OR_RETURN(auto r, inner_->OpenRead(d));
    if (r == nullptr) return nullptr;
    return std::make_unique<Reader>(std::move(r), bytes_);
  }
  absl::StatusOr<std::unique_ptr<castore::BlobWriter>> OpenWrite() override {
    return inner_->OpenWrite();
  }
  absl::StatusOr<std::optional<std::vector<castore::ChunkMeta>>> Chunks(
      const B3Digest& d) override {
    return inner_->Chunks(d);
  }
  absl::Status Sync() override { return inner_->Sync(); }
  absl::Status ForEach(const std::function<absl::Status(const B3Digest&, uint64_t)>& fn) override {
    return inner_->ForEach(fn);
  }
  absl::Status Delete(const B3Digest& d) override { return inner_->Delete(d); }

 private:
  class Reader : public castore::BlobReader {
   public:
    Reader(std::unique_ptr<castore::BlobReader> r, std::shared_ptr<std::atomic<uint64_t>> bytes)
        : r_(std::move(r)), bytes_(std::move(bytes)) {}
    uint64_t size() const override { return r_->size(); }
    absl::StatusOr<size_t> ReadAt(uint64_t off, std::span<uint8_t> buf) const override {
      auto n = r_->ReadAt(off, buf);
      if (n.ok()) *bytes_ += *n;
      return n;
    }

   private:
    std::unique_ptr<castore::BlobReader> r_;
    std::shared_ptr<std::atomic<uint64_t>> bytes_;
  };
  std::shared_ptr<castore::BlobService> inner_;
  std::shared_ptr<std::atomic<uint64_t>> bytes_ = std::make_shared<std::atomic<uint64_t>>(0);
};

class ChunkedRpcTest : public ::testing::Test {
 protected:
  static constexpr uint64_t kMiB = 1 << 20;
  ChunkedRpcTest()
      : counting_(
            std::make_shared<CountingBlobService>(std::make_shared<castore::MemoryBlobService>())),
        daemon_({counting_, std::make_shared<castore::MemoryDirectoryService>(),
                 std::make_shared<castore::MemoryRootService>()}) {}

  void SetUp() override {
    data_ = RandomBytes(64 * kMiB, 42);
    digest_ = *castore::PutBlob(*counting_, data_);
  }

  std::span<uint8_t> Span(std::string& s) {
    return {reinterpret_cast<uint8_t*>(s.data()), s.size()};
  }

  std::shared_ptr<CountingBlobService> counting_;
  LocalDaemon daemon_;
  castore::Services clients_ = daemon_.Clients();
  std::string data_;
  B3Digest digest_;
};

TEST_F(ChunkedRpcTest, RandomReadsOfABigBlobFetchOnlyTheChunksTheyNeed) {
  auto reader = clients_.blobs->OpenRead(digest_);
  ASSERT_TRUE(reader.ok()) << reader.status();
  ASSERT_NE(*reader, nullptr);
  EXPECT_TRUE((*reader)->Verified());
  EXPECT_EQ((*reader)->size(), data_.size());
  auto* chunked = dynamic_cast<castore::ChunkedBlobReader*>(reader->get());
  ASSERT_NE(chunked, nullptr);
  std::shared_ptr<const castore::ChunkLayout> layout = chunked->KnownLayout();
  ASSERT_NE(layout, nullptr);
  EXPECT_EQ(layout->chunks.size(), 64u);
  // Laying the blob out read it once on the daemon; nothing was sent yet.
  const uint64_t after_open = counting_->bytes_read();
  EXPECT_EQ(after_open, data_.size());

  std::mt19937 rng(7);
  std::set<uint64_t> chunks_touched;
  for (int i = 0; i < 20; ++i) {
    uint64_t off = rng() % (data_.size() - 4096);
    std::string buf(4096, '\0');
    auto n = (*reader)->ReadAt(off, Span(buf));
    ASSERT_TRUE(n.ok()) << n.status();
    ASSERT_EQ(*n, 4096u);
    ASSERT_EQ(buf, data_.substr(off, 4096)) << off;
    chunks_touched.insert(off / kMiB);
    chunks_touched.insert((off + 4095) / kMiB);
  }
  // Only about the chunks touched went over the wire (some chunks may be
  // fetched twice after falling out of the small in-memory cache).
  const uint64_t sent = counting_->bytes_read() - after_open;
  EXPECT_GE(sent, chunks_touched.size() * kMiB);
  EXPECT_LE(sent, 20 * 2 * kMiB);
  EXPECT_LT(sent, data_.size() / 2);
  EXPECT_LE(chunked->chunks_fetched(), 40u);
}

TEST_F(ChunkedRpcTest, TheStoredSizeOfABlobComesWithoutReadingOrSendingItsBytes) {
  // An import through a daemon asks this of every file it finds (is the
  // blob there, with this size?): the answer must not cost a download.
  for (size_t size : {size_t{0}, size_t{1000}, size_t{3 * kMiB}}) {
    auto digest = castore::PutBlob(*counting_, data_.substr(0, size));
    ASSERT_TRUE(digest.ok()) << digest.status();
    const uint64_t before = counting_->bytes_read();
    auto stored = clients_.blobs->StoredSize(*digest);
    ASSERT_TRUE(stored.ok()) << stored.status();
    EXPECT_EQ(*stored, std::optional<uint64_t>(size));
    EXPECT_EQ(counting_->bytes_read(), before) << size;
  }
  auto absent = clients_.blobs->StoredSize(B3Digest::Of(std::string_view("never stored")));
  ASSERT_TRUE(absent.ok()) << absent.status();
  EXPECT_EQ(*absent, std::nullopt);
}

TEST_F(ChunkedRpcTest, TheSizeHintPicksHowTheBlobIsFetchedAndBoundsAWholeDownload) {
  auto big = clients_.blobs->OpenReadSized(digest_, data_.size());
  ASSERT_TRUE(big.ok()) << big.status();
  EXPECT_NE(dynamic_cast<castore::ChunkedBlobReader*>(big->get()), nullptr);
  // A hint that says "small" fetches the blob whole, and no more of it than
  // the hint announces: a blob longer than its node says is DataLoss.
  const uint64_t before = counting_->bytes_read();
  auto whole = clients_.blobs->OpenReadSized(digest_, 1000);
  EXPECT_EQ(whole.status().code(), absl::StatusCode::kDataLoss) << whole.status();
  EXPECT_LT(counting_->bytes_read() - before, data_.size() / 2);
  // A hint above the real size: the reader has the real size, verified.
  std::string small = "a small blob";
  auto d = castore::PutBlob(*counting_, small);
  auto r = clients_.blobs->OpenReadSized(*d, small.size() + 100);
  ASSERT_TRUE(r.ok() && *r != nullptr);
  EXPECT_TRUE((*r)->Verified());
  EXPECT_EQ((*r)->size(), small.size());
  std::string buf(small.size(), '\0');
  ASSERT_EQ(*(*r)->ReadAt(0, Span(buf)), small.size());
  EXPECT_EQ(buf, small);
  EXPECT_EQ(*clients_.blobs->OpenReadSized(B3Digest::Of(std::string_view("nope")), 5), nullptr);
}

TEST_F(ChunkedRpcTest, ChunksAreBlobsForTvixClients) {
  auto stub = pb::BlobService::NewStub(daemon_.channel());
  grpc::ClientContext ctx;
  pb::StatBlobRequest req;
  req.set_digest(std::string(digest_.raw()));
  req.set_send_chunks(true);
  pb::StatBlobResponse resp;
  ASSERT_TRUE(stub->Stat(&ctx, req, &resp).ok());
  ASSERT_EQ(resp.chunks_size(), 64);
  EXPECT_TRUE(resp.bao().empty());  // only with send_bao
  // A chunk is a blob: Stat finds it and Read gives its bytes.
  const auto& c = resp.chunks(17);
  EXPECT_EQ(c.size(), kMiB);
  grpc::ClientContext sctx;
  pb::StatBlobRequest sreq;
  sreq.set_digest(c.digest());
  pb::StatBlobResponse sresp;
  EXPECT_TRUE(stub->Stat(&sctx, sreq, &sresp).ok());
  auto d = B3Digest::FromBytes(c.digest());
  auto got = castore::ReadBlob(*clients_.blobs, *d);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->has_value());
  EXPECT_TRUE(**got == data_.substr(17 * kMiB, kMiB));
}

TEST_F(ChunkedRpcTest, ADaemonRestartForgetsChunksAndTheReaderLaysTheBlobOutAgain) {
  auto reader = *clients_.blobs->OpenRead(digest_);
  ASSERT_NE(reader, nullptr);
  std::string buf(100, '\0');
  ASSERT_TRUE(reader->ReadAt(3 * kMiB, Span(buf)).ok());
  daemon_.Restart();
  // The daemon no longer knows chunk 40: NOT_FOUND, a new Stat, a retry.
  absl::StatusOr<size_t> n;
  for (int i = 0; i < 50; ++i) {  // the channel reconnects within a second
    n = reader->ReadAt(40 * kMiB + 5, Span(buf));
    if (n.ok() || n.status().code() != absl::StatusCode::kUnavailable) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(buf, data_.substr(40 * kMiB + 5, 100));
}

TEST_F(ChunkedRpcTest, TheCacheKeepsFetchedChunksSoASecondReadStaysLocal) {
  auto local = std::make_shared<castore::MemoryBlobService>();
  castore::CachingBlobService cached(local, clients_.blobs);
  std::string buf(4096, '\0');
  {
    auto reader = *cached.OpenRead(digest_);
    ASSERT_NE(reader, nullptr);
    EXPECT_TRUE(reader->Verified());
    ASSERT_TRUE(reader->ReadAt(10 * kMiB + 100, Span(buf)).ok());
    EXPECT_EQ(buf, data_.substr(10 * kMiB + 100, 4096));
  }
  // The chunk is in the cache, the whole blob is not.
  EXPECT_FALSE(*local->Has(digest_));
  EXPECT_TRUE(*local->Has(B3Digest::Of(std::string_view(data_).substr(10 * kMiB, kMiB))));
  const uint64_t before = counting_->bytes_read();
  auto again = *cached.OpenRead(digest_);  // a Stat (layout cached on the daemon)
  ASSERT_TRUE(again->ReadAt(10 * kMiB + 200, Span(buf)).ok());
  EXPECT_EQ(buf, data_.substr(10 * kMiB + 200, 4096));
  EXPECT_EQ(counting_->bytes_read(), before);
}

TEST_F(ChunkedRpcTest, AKeptLayoutOpensAPartlyCachedBlobWhileTheDaemonIsDown) {
  TempDir dir("layouts");
  auto local = std::make_shared<castore::MemoryBlobService>();
  std::shared_ptr<castore::LayoutStore> layouts = *castore::LayoutStore::Open(dir.path());
  std::string buf(4096, '\0');
  {
    castore::CachingBlobService cached(local, clients_.blobs, layouts);
    auto reader = *cached.OpenRead(digest_);
    ASSERT_NE(reader, nullptr);
    ASSERT_TRUE(reader->ReadAt(10 * kMiB + 100, Span(buf)).ok());
  }
  // A later process: the daemon is gone, the cache holds one chunk and the
  // blob's layout.
  daemon_.Stop();
  castore::CachingBlobService offline(local, clients_.blobs, layouts);
  auto reader = offline.OpenRead(digest_);
  ASSERT_TRUE(reader.ok()) << reader.status();
  ASSERT_NE(*reader, nullptr);
  EXPECT_TRUE((*reader)->Verified());
  EXPECT_EQ((*reader)->size(), data_.size());
  auto n = (*reader)->ReadAt(10 * kMiB + 200, Span(buf));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(buf, data_.substr(10 * kMiB + 200, 4096));
  // A chunk the cache does not hold needs the daemon: an error, not a hang.
  EXPECT_FALSE((*reader)->ReadAt(40 * kMiB, Span(buf)).ok());

  // The daemon back: the rest comes from it, through the same kept layout.
  daemon_.Start();
  castore::CachingBlobService back(local, clients_.blobs, layouts);
  auto again = *back.OpenRead(digest_);
  absl::StatusOr<size_t> m;
  for (int i = 0; i < 50; ++i) {  // the channel reconnects within a second
    m = again->ReadAt(40 * kMiB, Span(buf));
    if (m.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(buf, data_.substr(40 * kMiB, 4096));
}

TEST_F(ChunkedRpcTest, ADamagedKeptLayoutIsReplacedByTheDaemonsAndServesExactBytes) {
  TempDir dir("layouts");
  auto local = std::make_shared<castore::MemoryBlobService>();
  std::shared_ptr<castore::LayoutStore> layouts = *castore::LayoutStore::Open(dir.path());
  std::string buf(4096, '\0');
  {
    castore::CachingBlobService cached(local, clients_.blobs, layouts);
    ASSERT_TRUE((*cached.OpenRead(digest_))->ReadAt(0, Span(buf)).ok());
  }
  const std::string path = dir.path() + "/" + digest_.ToHex();
  ASSERT_TRUE(std::filesystem::exists(path));
  {
    std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(-5, std::ios::end);
    f.put('\x55');
  }
  castore::CachingBlobService cached(local, clients_.blobs, layouts);
  auto reader = *cached.OpenRead(digest_);
  ASSERT_NE(reader, nullptr);
  ASSERT_TRUE(reader->ReadAt(20 * kMiB + 7, Span(buf)).ok());
  EXPECT_EQ(buf, data_.substr(20 * kMiB + 7, 4096));
  EXPECT_NE(*layouts->Load(digest_), nullptr);  // kept again, the daemon's
}

// What a raw client (tvix's, which checks nothing itself) receives from a
// Read: the bytes and the final status.
struct RawRead {
  std::string data;
  grpc::Status status;
};

RawRead ReadRaw(pb::BlobService::Stub& stub, const B3Digest& digest) {
  grpc::ClientContext ctx;
  pb::ReadBlobRequest req;
  req.set_digest(std::string(digest.raw()));
  auto stream = stub.Read(&ctx, req);
  RawRead r;
  pb::BlobChunk chunk;
  while (stream->Read(&chunk)) r.data.append(chunk.data());
  r.status = stream->Finish();
  return r;
}

// A daemon serving a file:// store whose blob files rot: it never sends a
// byte it has not checked, so even a client that checks nothing gets only
// true bytes (up to the damage) and then DATA_LOSS.
TEST(ChunkedRpcDaemonTest, ReadOfARottingBlobSendsNoByteOfTheDamagedPiece) {
  TempDir dir("rot");
  auto local = castore::LocalBlobService::Open(dir.path() + "/blobs");
  ASSERT_TRUE(local.ok()) << local.status();
  LocalDaemon daemon({*local, std::make_shared<castore::MemoryDirectoryService>(),
                      std::make_shared<castore::MemoryRootService>()});
  auto stub = pb::BlobService::NewStub(daemon.channel());
  const std::string data = RandomBytes(6 << 20, 5);
  const B3Digest digest = *castore::PutBlob(**local, data);
  const std::string other = RandomBytes(6 << 20, 6);
  const B3Digest other_digest = *castore::PutBlob(**local, other);

  // Damaged before the daemon ever read it: the blob's tree was kept when
  // it was stored, so the checked bytes before the damaged piece are sent,
  // then DATA_LOSS; never a byte of the damaged piece.
  ASSERT_TRUE(castore::testing::Rot((*local)->BlobPath(other_digest), 3 << 20));
  RawRead before = ReadRaw(*stub, other_digest);
  EXPECT_EQ(before.status.error_code(), grpc::StatusCode::DATA_LOSS)
      << before.status.error_message();
  EXPECT_LE(before.data.size(), uint64_t{3} << 20);
  EXPECT_TRUE(before.data == other.substr(0, before.data.size())) << "a wrong byte was sent";

  // Damaged after a good read: the bytes before the damaged piece, then
  // DATA_LOSS naming the blob.
  RawRead good = ReadRaw(*stub, digest);
  ASSERT_TRUE(good.status.ok()) << good.status.error_message();
  ASSERT_TRUE(good.data == data);
  const uint64_t bad = (4 << 20) + 7;
  ASSERT_TRUE(castore::testing::Rot((*local)->BlobPath(digest), bad));
  RawRead rotten = ReadRaw(*stub, digest);
  EXPECT_EQ(rotten.status.error_code(), grpc::StatusCode::DATA_LOSS)
      << rotten.status.error_message();
  EXPECT_NE(rotten.status.error_message().find(digest.ToB3()), std::string::npos)
      << rotten.status.error_message();
  EXPECT_LE(rotten.data.size(), bad);
  EXPECT_TRUE(rotten.data == data.substr(0, rotten.data.size())) << "a wrong byte was sent";
}

// --- A server that lies about layouts -----------------------------------------

enum class ChunkLie {
  kWrongChunkBytes,  // Read of a chunk returns other bytes of the right size
  kOtherChunk,       // Read of chunk 1 returns chunk 2
  kLongChunk,        // Read of a chunk returns one byte too many
  kWrongCv,          // the outboard carries a wrong CV
  kDroppedChunk,     // the chunk list misses the last chunk
  kWrongSize,        // a chunk's size is off by one
  kOtherOutboard,    // the outboard of another blob of the same shape
};

class LyingChunks final : public pb::BlobService::Service {
 public:
  LyingChunks(ChunkLie lie, std::string data, const castore::ChunkLayout& layout)
      : lie_(lie), data_(std::move(data)), layout_(layout) {}
  grpc::Status Stat(grpc::ServerContext*, const pb::StatBlobRequest*,
                    pb::StatBlobResponse* resp) override {
    auto chunks = layout_.chunks;
    auto cvs = layout_.cvs;
    if (lie_ == ChunkLie::kDroppedChunk) chunks.pop_back();
    if (lie_ == ChunkLie::kWrongSize) chunks[2].size -= 1;
    if (lie_ == ChunkLie::kWrongCv) cvs[3][0] ^= 1;
    for (const auto& c : chunks) {
      auto* m = resp->add_chunks();
      m->set_digest(std::string(c.digest.raw()));
      m->set_size(c.size);
    }
    uint64_t size = layout_.size;
    if (lie_ == ChunkLie::kOtherOutboard) {
      std::string other = RandomBytes(data_.size(), 99);
      for (size_t i = 0; i < cvs.size(); ++i) {
        uint64_t off = i * layout_.chunk_size;
        cvs[i] = castore::blake3_tree::GroupCv(
            std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(other.data()) + off,
                                     std::min<uint64_t>(layout_.chunk_size, other.size() - off)),
            off);
      }
    }
    resp->set_bao(castore::blake3_tree::EncodeOutboard(size, cvs));
    return grpc::Status::OK;
  }
  grpc::Status Read(grpc::ServerContext*, const pb::ReadBlobRequest* req,
                    grpc::ServerWriter<pb::BlobChunk>* w) override {
    for (size_t i = 0; i < layout_.chunks.size(); ++i) {
      if (req->digest() != layout_.chunks[i].digest.raw()) continue;
      size_t src = lie_ == ChunkLie::kOtherChunk && i == 1 ? 2 : i;
      std::string bytes = data_.substr(src * layout_.chunk_size, layout_.chunks[src].size);
      if (lie_ == ChunkLie::kWrongChunkBytes) bytes[bytes.size() / 2] ^= 0x10;
      if (lie_ == ChunkLie::kLongChunk) bytes.push_back('!');
      pb::BlobChunk c;
      c.set_data(bytes);
      w->Write(c);
      return grpc::Status::OK;
    }
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such chunk");
  }

 private:
  ChunkLie lie_;
  std::string data_;
  castore::ChunkLayout layout_;
};

class LyingChunksTest : public ::testing::TestWithParam<ChunkLie> {
 protected:
  void SetUp() override {
    data_ = RandomBytes(10 * 4096 + 777, 5);
    digest_ = B3Digest::Of(data_);
    castore::MemoryBlobService mem;
    ASSERT_EQ(*castore::PutBlob(mem, data_), digest_);
    auto layout = castore::ComputeChunkLayout(**mem.OpenRead(digest_), digest_, 4096);
    ASSERT_TRUE(layout.ok());
    service_ = std::make_unique<LyingChunks>(GetParam(), data_, *layout);
    grpc::ServerBuilder b;
    b.AddListeningPort("unix://" + dir_.path() + "/l.sock", grpc::InsecureServerCredentials());
    b.RegisterService(service_.get());
    server_ = b.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    std::string addr = "grpc+unix://" + dir_.path() + "/l.sock";
    client_ = std::make_unique<GrpcBlobService>(*OpenChannel(*castore::ServiceAddress::Parse(addr)),
                                                addr);
  }
  void TearDown() override { server_->Shutdown(); }

  TempDir dir_;
  std::string data_;
  B3Digest digest_;
  std::unique_ptr<LyingChunks> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<GrpcBlobService> client_;
};

TEST_P(LyingChunksTest, LiesAreDataLossAndNothingIsServed) {
  auto reader = client_->OpenRead(digest_);
  switch (GetParam()) {
    case ChunkLie::kWrongCv:
    case ChunkLie::kDroppedChunk:
    case ChunkLie::kOtherOutboard:
    case ChunkLie::kWrongSize:
      // The outboard does not check out, or the chunk sizes (taken as
      // content-defined chunks once they are not all one size) do not add
      // up to the blob the outboard describes: no reader at all.
      EXPECT_EQ(reader.status().code(), absl::StatusCode::kDataLoss) << reader.status();
      return;
    default:
      break;
  }
  ASSERT_TRUE(reader.ok()) << reader.status();
  ASSERT_NE(*reader, nullptr);
  // Every chunk: the lying ones fail, the rest are the right bytes.
  for (size_t i = 0; i < 11; ++i) {
    std::string buf(100, '\0');
    auto n = (*reader)->ReadAt(
        i * 4096 + 10, std::span<uint8_t>(reinterpret_cast<uint8_t*>(buf.data()), buf.size()));
    bool lies = GetParam() != ChunkLie::kOtherChunk || i == 1;
    if (lies) {
      EXPECT_EQ(n.status().code(), absl::StatusCode::kDataLoss) << i << " " << n.status();
      EXPECT_EQ(buf, std::string(100, '\0'));
    } else {
      ASSERT_TRUE(n.ok()) << n.status();
      EXPECT_EQ(buf, data_.substr(i * 4096 + 10, 100));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllLies, LyingChunksTest,
                         ::testing::Values(ChunkLie::kWrongChunkBytes, ChunkLie::kOtherChunk,
                                           ChunkLie::kLongChunk, ChunkLie::kWrongCv,
                                           ChunkLie::kDroppedChunk, ChunkLie::kWrongSize,
                                           ChunkLie::kOtherOutboard));

}  // namespace
}  // namespace castor::rpc
