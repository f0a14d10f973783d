#include <algorithm>
#include <cstring>
#include <thread>

#include "lifeboat/storage/drivers.hpp"
#include "lifeboat/storage/options.hpp"
#include "lifeboat/storage/storage.hpp"

namespace lifeboat::storage {

int64_t Storage::retained_until(const std::string& key) {
  throw PermanentError(fmt::format(
      "look up the retention of {} at {}: this storage has no object retention (only S3 Object "
      "Lock has)",
      key, describe()));
}

Storage::Leftovers Storage::stale_uploads(int64_t, bool) { return {}; }

uint64_t total_size(std::span<const ByteView> parts) {
  uint64_t n = 0;
  for (auto& p : parts) n += p.size();
  return n;
}

std::vector<ByteView> slice_parts(std::span<const ByteView> parts, uint64_t offset,
                                  uint64_t length) {
  std::vector<ByteView> out;
  for (const ByteView& p : parts) {
    if (length == 0) break;
    if (offset >= p.size()) {
      offset -= p.size();
      continue;
    }
    size_t take = static_cast<size_t>(std::min<uint64_t>(p.size() - offset, length));
    out.push_back(p.subspan(static_cast<size_t>(offset), take));
    length -= take;
    offset = 0;
  }
  return out;
}

size_t PartsReader::read(void* out, size_t n) {
  auto* dst = static_cast<std::byte*>(out);
  size_t done = 0;
  while (done < n && m_index < m_parts.size()) {
    const ByteView& p = m_parts[m_index];
    size_t take = std::min(n - done, p.size() - m_offset);
    if (take) std::memcpy(dst + done, p.data() + m_offset, take);
    done += take;
    m_offset += take;
    if (m_offset == p.size()) {
      ++m_index;
      m_offset = 0;
    }
  }
  return done;
}

bool PartsReader::seek(uint64_t pos) {
  if (pos > m_size) return false;
  m_index = 0;
  m_offset = 0;
  while (m_index < m_parts.size() && pos >= m_parts[m_index].size()) {
    pos -= m_parts[m_index].size();
    ++m_index;
  }
  m_offset = static_cast<size_t>(pos);
  return true;
}

void Storage::put_parts(const std::string& key, std::span<const ByteView> parts) {
  if (parts.size() == 1) return put(key, parts[0]);
  // Every driver sends the parts as they are; this join serves other implementations (tests'
  // storages, mem://).
  Bytes whole;
  whole.reserve(total_size(parts));
  for (auto& p : parts) append(whole, p);
  put(key, whole);
}

void Storage::retain_until(const std::string& key, int64_t) {
  throw PermanentError(fmt::format(
      "extend the retention of {} at {}: this storage has no object retention (only S3 Object "
      "Lock has)",
      key, describe()));
}

std::unique_ptr<Storage> open(const std::string& url) { return open(url, Options{}); }

namespace {
std::string scheme_of(const std::string& url) {
  auto end = url.find("://");
  return end == std::string::npos ? "" : url.substr(0, end);
}

// Local paths, file:// and mem:// are on this machine; everything else is reached over a
// network (retried, its connections limited).
bool remote_scheme(const std::string& scheme) {
  return !scheme.empty() && scheme != "file" && scheme != "mem";
}
}  // namespace

unsigned default_connections(const std::string& url) {
  if (remote_scheme(scheme_of(url))) return 4;
  return std::clamp(std::thread::hardware_concurrency(), 1u, 4u);
}

std::unique_ptr<Storage> open(const std::string& url, const Options& options) {
  if (url.empty()) throw UsageError("no repository given (use --repo URL or LIFEBOAT_REPOSITORY)");
  std::string scheme = scheme_of(url);
  std::string rest = scheme.empty() ? url : url.substr(scheme.size() + 3);
  std::unique_ptr<Storage> s;
  const bool remote = remote_scheme(scheme);
  // Test faults of fsync act inside the local driver: elsewhere they would never fire.
  auto fsync_fault = fsync_faults_for_testing(options.faults);
  bool local = scheme.empty() || scheme == "file";
  if (fsync_fault && !local)
    throw UsageError(
        "LIFEBOAT_TEST_FAULTS: fsync rules apply to a local repository only, not to '{}://' "
        "(see docs/testing.md)",
        scheme);
  if (local) {
    s = local::make(rest, std::move(fsync_fault));
  } else if (scheme == "mem") {
    s = memory::make(rest);
  } else if (scheme == "s3") {
    s = s3::make(rest, options);
  } else if (scheme == "azure") {
    s = azure::make(rest, options);
  } else if (scheme == "sftp") {
    s = sftp::make(rest, options);
  } else {
    throw UsageError(
        "unsupported repository URL scheme '{}://' (supported: a path, file://, s3://, azure://, "
        "sftp://)",
        scheme);
  }
  // Innermost first: faults act like the server; retry sees them; limits bound what is on the
  // wire; logging shows each operation as the caller made it.
  if (!options.faults.empty()) s = with_faults(std::move(s), options.faults);
  if (remote || !options.faults.empty()) s = with_retry(std::move(s), options.retry_time);
  if (options.upload_limit || options.download_limit)
    s = with_rate_limit(std::move(s), options.upload_limit, options.download_limit);
  if (remote)
    s = with_concurrency_limit(
        std::move(s), options.connections ? options.connections : default_connections(url));
  s = with_logging(std::move(s));
  return s;
}

}  // namespace lifeboat::storage
