/* Runs inside the benchmark guest (linked statically): times the workloads
 * on a mounted share and prints "BENCH <name> <ms> <detail>" lines.
 *   guest_bench DIR BIGFILE
 * Page cache, dentries and inodes are dropped before every phase, so each
 * phase goes through the transport. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double NowMs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void DropCaches(void) {
  sync();
  int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
  if (fd >= 0) {
    if (write(fd, "3", 1) != 1) perror("drop_caches");
    close(fd);
  }
}

static long g_entries, g_files;
static uint64_t g_bytes;
static char g_buf[1 << 20];

static int Walk(const char* path, const struct stat* st, int type, struct FTW* ftw) {
  (void)path, (void)st, (void)type, (void)ftw;
  ++g_entries;
  return 0;
}

static int ReadOne(const char* path, const struct stat* st, int type, struct FTW* ftw) {
  (void)st, (void)ftw;
  if (type != FTW_F) return 0;
  int fd = open(path, O_RDONLY);
  if (fd < 0) return 0;
  ssize_t n;
  while ((n = read(fd, g_buf, sizeof(g_buf))) > 0) g_bytes += n;
  close(fd);
  ++g_files;
  return 0;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: guest_bench DIR BIGFILE\n");
    return 2;
  }
  DropCaches();
  double t = NowMs();
  nftw(argv[1], Walk, 64, FTW_PHYS);
  printf("BENCH walk %.1f %ld entries\n", NowMs() - t, g_entries);

  DropCaches();
  t = NowMs();
  nftw(argv[1], ReadOne, 64, FTW_PHYS);
  printf("BENCH read_all %.1f %ld files %llu bytes\n", NowMs() - t, g_files,
         (unsigned long long)g_bytes);

  DropCaches();
  int fd = open(argv[2], O_RDONLY);
  if (fd < 0) {
    perror(argv[2]);
    return 1;
  }
  uint64_t total = 0;
  ssize_t n;
  t = NowMs();
  while ((n = read(fd, g_buf, sizeof(g_buf))) > 0) total += n;
  double seq = NowMs() - t;
  printf("BENCH seq_read %.1f %llu bytes %.1f MB/s\n", seq, (unsigned long long)total,
         total / 1e3 / seq);

  DropCaches();
  posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM);
  uint64_t blocks = total / 4096, x = 88172645463325252ull;
  const int kReads = 4000;
  t = NowMs();
  for (int i = 0; i < kReads; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    if (pread(fd, g_buf, 4096, (off_t)((x % blocks) * 4096)) != 4096) {
      perror("pread");
      return 1;
    }
  }
  double rnd = NowMs() - t;
  printf("BENCH random_read %.1f %d reads of 4 KiB %.0f us/read\n", rnd, kReads,
         rnd * 1e3 / kReads);
  close(fd);
  return 0;
}
