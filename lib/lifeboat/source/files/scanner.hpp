// The files source: walks the given paths by directory file descriptor (so paths longer than
// PATH_MAX work and no symlink is followed), records all metadata, chunks file contents
// (skipping holes via SEEK_DATA), saves blobs through a BlobSaver and builds trees bottom-up.
// Files are read, chunked and hashed by a pool of reader threads while the walk goes on.
// Per-file problems go to the Reporter. Not thread-safe: one scanner per backup.
#pragma once

#include <dirent.h>
#include <sys/stat.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "lifeboat/chunk/fastcdc.hpp"
#include "lifeboat/core/reporter.hpp"
#include "lifeboat/repo/blob_saver.hpp"
#include "lifeboat/source/files/files_cache.hpp"
#include "lifeboat/util/fs.hpp"
#include "lifeboat/util/glob.hpp"

namespace lifeboat::source::files {

struct ScanOptions {
  std::vector<std::string> paths;  // absolute, normalised
  PatternSet excludes;
  bool one_file_system = false;
  bool use_cache = true;
};

struct ScanStats {
  uint64_t files_new = 0;
  uint64_t files_changed = 0;
  uint64_t files_unchanged = 0;
  uint64_t dirs = 0;
  uint64_t others = 0;  // symlinks, devices, fifos, sockets
  uint64_t bytes_read = 0;
};

// Makes path absolute (against the working directory) and removes '.', '..', and repeated
// or trailing slashes lexically.
std::string normalize_path(const std::string& path);

class Scanner {
 public:
  Scanner(repo::Repository& repo, repo::BlobSaver& saver, FilesCache& cache, Reporter& reporter);
  ~Scanner();
  // Backs up the paths; returns the root tree id. Throws Error(failure) when a given path
  // does not exist or cannot be opened (nothing is worth a snapshot then).
  Id32 scan(const ScanOptions& options);
  // Backs up everything read from fd as one file at path ("/name" or "/dir/name", normalised).
  Id32 scan_stream(int fd, const std::string& path);
  // Backs up streams, one after the other, each as the file at its path, in one tree.
  struct Stream {
    std::string path;             // normalised "/name" or "/dir/name"
    std::function<int()> open;    // starts the producer; returns the descriptor to read
    std::function<void()> close;  // after the end of its data: throws when the producer failed
  };
  Id32 scan_streams(const std::vector<Stream>& streams);
  const ScanStats& stats() const { return m_stats; }

 private:
  struct VirtualDir;
  // A directory's files still being read; its tree is saved when none is left.
  struct DirWait {
    size_t pending = 0;
    std::vector<size_t> failed;  // nodes of files that could not be read (reported)
  };
  // Waits for a directory's readers, also while unwinding (then telling them to stop).
  struct WaitGuard {
    Scanner& scanner;
    DirWait& dir;
    int m_unwinding = std::uncaught_exceptions();
    ~WaitGuard();
  };
  // A regular file, opened and checked by the walk, to be read into its node.
  struct FileTask {
    fs::UniqueFd fd;
    std::string path;
    struct stat st;    // of the open file
    repo::Node* node;  // in its directory's tree, which waits for it
    bool cached;       // the files cache knew the path
    bool same;         // ... with the same inode, size and times
    bool xattrs_read;  // the node's extended attributes are complete
    int64_t read_start_ns;
    DirWait* dir;
    size_t index;  // of the node in its directory's tree
  };
  static constexpr size_t k_queued_files = 64;  // open files waiting for a reader

  Id32 save_tree(repo::Tree& tree);
  Id32 save_virtual(VirtualDir& dir);
  // dir: where a regular file is queued for the readers; null reads it before returning.
  // dtype: the entry's type as its directory listed it (DT_UNKNOWN if not known).
  bool scan_entry(int dirfd, const std::string& name, const std::string& path, uint64_t root_dev,
                  repo::Node& node, DirWait* dir = nullptr, size_t index = 0,
                  unsigned char dtype = DT_UNKNOWN);
  Id32 scan_dir(int fd, const std::string& path, uint64_t root_dev);
  bool read_file(FileTask& task, chunk::Chunker& chunker);
  bool read_content(chunk::Chunker& chunker, int fd, const std::string& path, const struct stat& st,
                    repo::Node& node, uint64_t& bytes_read);
  uint64_t chunk_range(chunk::Chunker& chunker, int fd, uint64_t begin, uint64_t end,
                       std::vector<repo::ContentItem>& out);
  // Runs the chunker to the end of its stream, saving new chunks; returns the bytes read.
  uint64_t consume_chunks(chunk::Chunker& chunker, std::vector<repo::ContentItem>& out);
  void start_readers();
  void stop_readers();
  void reader_loop();
  void submit(FileTask task);
  void run_task(FileTask& task, chunk::Chunker& chunker);
  // Until the directory's files are read, reading queued files meanwhile.
  void wait_dir(DirWait& dir);
  // False when some could not be read (reported).
  bool read_xattrs(int fd, const std::string& proc_path, const std::string& path, repo::Node& node);
  std::string user_name(uint32_t uid);
  std::string group_name(uint32_t gid);

  repo::Repository& m_repo;
  repo::BlobSaver& m_saver;
  FilesCache& m_cache;
  Reporter& m_reporter;
  const ScanOptions* m_options = nullptr;
  ScanStats m_stats;
  chunk::Chunker m_chunker;  // the walk's
  // The readers. m_mutex guards the queue, DirWaits, m_error, m_stats (readers' fields) and
  // m_cache.
  std::mutex m_mutex;
  std::condition_variable m_cv_task;  // a file queued, or stop
  std::condition_variable m_cv_done;  // a directory's last file read
  std::deque<FileTask> m_tasks;
  std::exception_ptr m_error;  // a reader's failure (not a file's read error: those are reported)
  bool m_stop = false;
  std::atomic<bool> m_abort = false;
  std::vector<std::thread> m_threads;
  std::map<std::pair<dev_t, ino_t>, uint64_t> m_link_ids;
  std::map<uint32_t, std::string> m_users;
  std::map<uint32_t, std::string> m_groups;
  std::vector<char> m_xattr_names;  // read_xattrs' buffer (the walk's thread only)
};

}  // namespace lifeboat::source::files
