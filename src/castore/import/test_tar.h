// Test helper: writes tar archives with libarchive's writer (pax format,
// optionally compressed), for the tar import's tests.
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace castor::castore::testing {

struct TarEntry {
  std::string name;
  mode_t type = AE_IFREG;
  std::string data;  // file contents, or the symlink / hard link target
  mode_t perm = 0644;
};

// Writes a pax tar with the given compression filter.
inline void WriteTar(const std::string& path, const std::vector<TarEntry>& entries,
                     const std::string& filter = "none") {
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (filter == "gzip") archive_write_add_filter_gzip(a);
  if (filter == "xz") archive_write_add_filter_xz(a);
  if (filter == "zstd") archive_write_add_filter_zstd(a);
  ASSERT_EQ(archive_write_open_filename(a, path.c_str()), ARCHIVE_OK);
  for (const TarEntry& e : entries) {
    archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, e.name.c_str());
    if (e.type == 0) {  // hard link
      archive_entry_set_filetype(entry, AE_IFREG);
      archive_entry_set_hardlink(entry, e.data.c_str());
      archive_entry_set_size(entry, 0);
    } else {
      archive_entry_set_filetype(entry, e.type);
      if (e.type == AE_IFLNK) archive_entry_set_symlink(entry, e.data.c_str());
      archive_entry_set_size(entry, e.type == AE_IFREG ? e.data.size() : 0);
    }
    archive_entry_set_perm(entry, e.perm);
    ASSERT_EQ(archive_write_header(a, entry), ARCHIVE_OK) << archive_error_string(a);
    if (e.type == AE_IFREG && !e.data.empty()) {
      ASSERT_EQ(archive_write_data(a, e.data.data(), e.data.size()),
                static_cast<la_ssize_t>(e.data.size()));
    }
    archive_entry_free(entry);
  }
  archive_write_close(a);
  archive_write_free(a);
}

}  // namespace castor::castore::testing
