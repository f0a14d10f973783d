#include "lifeboat/source/postgres/basebackup.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "lifeboat/core/error.hpp"

namespace lifeboat::source::postgres {

namespace {

constexpr size_t k_block = 512;
constexpr size_t k_keep_limit = 256u << 20;  // a manifest larger than this is not kept

uint64_t tar_number(const char* field, size_t len) {
  if (static_cast<unsigned char>(field[0]) & 0x80) {  // base-256
    uint64_t v = static_cast<unsigned char>(field[0]) & 0x7f;
    for (size_t i = 1; i < len; ++i) v = (v << 8) | static_cast<unsigned char>(field[i]);
    return v;
  }
  uint64_t v = 0;
  for (size_t i = 0; i < len && field[i]; ++i) {
    if (field[i] == ' ') continue;
    if (field[i] < '0' || field[i] > '7') break;
    v = v * 8 + static_cast<uint64_t>(field[i] - '0');
  }
  return v;
}

std::string field_text(const char* p, size_t len) { return std::string(p, strnlen(p, len)); }

std::string line_value(const std::string& text, const std::string& key) {
  auto pos = text.find(key + ": ");
  if (pos == std::string::npos) return "";
  pos += key.size() + 2;
  auto end = text.find('\n', pos);
  return text.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
}

}  // namespace

std::optional<uint64_t> parse_lsn(const std::string& text) {
  auto slash = text.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 >= text.size()) return std::nullopt;
  try {
    size_t a = 0, b = 0;
    uint64_t hi = std::stoull(text.substr(0, slash), &a, 16);
    uint64_t lo = std::stoull(text.substr(slash + 1), &b, 16);
    if (a != slash || b != text.size() - slash - 1 || hi > 0xffffffffu || lo > 0xffffffffu)
      return std::nullopt;
    return (hi << 32) | lo;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::map<std::string, std::string> BaseBackupInfo::meta() const {
  auto need = [](const std::string& v, const char* what) {
    if (v.empty())
      throw Error(Exit::failure,
                  "pg_basebackup's output has no {}: it is not a complete base backup; no "
                  "snapshot was written",
                  what);
  };
  need(start_lsn, "backup_label START WAL LOCATION");
  need(stop_lsn, "backup_manifest WAL range");
  need(system_id, "global/pg_control");
  need(server_version, "PG_VERSION");
  return {{"postgres.mode", "base"},
          {"postgres.start_lsn", start_lsn},
          {"postgres.stop_lsn", stop_lsn},
          {"postgres.timeline", timeline},
          {"postgres.start_wal_file", start_wal_file},
          {"postgres.start_time", start_time},
          {"postgres.system_id", system_id},
          {"postgres.server_version", server_version}};
}

BaseBackupStream::BaseBackupStream(const Connection& c)
    : m_child(std::vector<std::string>{"pg_basebackup", "--pgdata=-", "--format=tar",
                                       "--wal-method=fetch", "--checkpoint=fast", "--no-password",
                                       "--label=lifeboat"},
              ChildOptions{ChildOptions::Pipe::from_stdout, environment(c, ""),
                           "no snapshot was written"}) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) throw Error(Exit::failure, "pipe: {}", std::strerror(errno));
  m_read = p[0];
  m_write = p[1];
  m_copier = std::thread([this] {
    try {
      copy();
    } catch (const std::exception& e) {
      m_error = e.what();
    }
    ::close(m_write);
    m_write = -1;
  });
}

BaseBackupStream::~BaseBackupStream() {
  if (m_read >= 0) ::close(m_read);  // a copier still writing gets EPIPE and stops
  m_read = -1;
  m_child.terminate();
  if (m_copier.joinable()) m_copier.join();
}

void BaseBackupStream::copy() {
  int in = m_child.fd();
  std::string buf;
  buf.reserve(1 << 20);
  char chunk[1 << 16];
  bool eof = false;
  auto fill = [&](size_t want) {  // at least `want` bytes in buf, unless the input ended
    while (buf.size() < want && !eof) {
      ssize_t n = ::read(in, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw Error(Exit::failure, "reading from pg_basebackup: {}", std::strerror(errno));
      if (n == 0) eof = true;
      buf.append(chunk, static_cast<size_t>(n));
    }
    return buf.size() >= want;
  };
  auto emit = [&](size_t n) {  // passes the first n bytes of buf on, unchanged
    for (size_t off = 0; off < n;) {
      ssize_t w = ::write(m_write, buf.data() + off, n - off);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) throw Error(Exit::failure, "the repository stopped reading the base backup");
      off += static_cast<size_t>(w);
    }
    buf.erase(0, n);
  };
  std::string long_name;
  for (;;) {
    if (!fill(k_block)) break;
    const char* h = buf.data();
    if (std::all_of(h, h + k_block, [](char c) { return c == 0; })) {
      m_complete = true;
      emit(k_block);
      while (fill(1)) emit(buf.size());  // the rest of the end-of-archive padding
      break;
    }
    uint64_t size = tar_number(h + 124, 12);
    char type = h[156];
    std::string name = field_text(h + 345, 155);
    name = name.empty() ? field_text(h, 100) : name + "/" + field_text(h, 100);
    if (!long_name.empty()) name = long_name, long_name.clear();
    emit(k_block);
    uint64_t padded = (size + k_block - 1) / k_block * k_block;
    bool keep = (type == '0' || type == '\0' || type == 'L' || type == 'x') &&
                size <= k_keep_limit &&
                (name == "backup_label" || name == "backup_manifest" || name == "PG_VERSION" ||
                 name == "global/pg_control" || type == 'L' || type == 'x');
    std::string content;
    for (uint64_t left = padded; left > 0;) {
      if (!fill(1)) break;
      size_t n = static_cast<size_t>(std::min<uint64_t>(left, buf.size()));
      if (keep) {
        uint64_t used = padded - left;
        if (used < size)
          content.append(buf, 0, static_cast<size_t>(std::min<uint64_t>(n, size - used)));
      }
      emit(n);
      left -= n;
    }
    if (type == 'L') {
      long_name = content.c_str();
    } else if (type == 'x') {
      // pax: "LEN path=NAME\n" records
      for (size_t pos = 0; pos < content.size();) {
        size_t sp = content.find(' ', pos);
        if (sp == std::string::npos) break;
        size_t len = std::strtoul(content.c_str() + pos, nullptr, 10);
        if (len == 0 || pos + len > content.size()) break;
        std::string rec = content.substr(sp + 1, pos + len - sp - 2);
        if (rec.rfind("path=", 0) == 0) long_name = rec.substr(5);
        pos += len;
      }
    } else if (keep) {
      m_members[name] = std::move(content);
    }
  }
}

BaseBackupInfo BaseBackupStream::finish() {
  m_copier.join();
  m_child.finish();
  if (!m_error.empty())
    throw Error(Exit::failure, "base backup: {}; no snapshot was written", m_error);
  if (!m_complete)
    throw Error(Exit::failure,
                "pg_basebackup's output ended before the end of its tar archive; no snapshot "
                "was written");
  BaseBackupInfo info;
  const std::string& label = m_members["backup_label"];
  // START WAL LOCATION: 0/2000028 (file 000000010000000000000002)
  std::string start = line_value(label, "START WAL LOCATION");
  info.start_lsn = start.substr(0, start.find(' '));
  if (auto f = start.find("(file "); f != std::string::npos)
    info.start_wal_file = start.substr(f + 6, 24);
  info.timeline = line_value(label, "START TIMELINE");
  info.start_time = line_value(label, "START TIME");
  info.manifest = m_members["backup_manifest"];
  try {
    auto j = nlohmann::json::parse(info.manifest);
    const auto& ranges = j.at("WAL-Ranges");
    if (!ranges.empty()) info.stop_lsn = ranges.back().at("End-LSN").get<std::string>();
  } catch (const std::exception&) {
    info.stop_lsn.clear();
  }
  const std::string& control = m_members["global/pg_control"];
  if (control.size() >= 8) {
    uint64_t id = 0;
    for (int i = 7; i >= 0; --i) id = (id << 8) | static_cast<unsigned char>(control[i]);
    info.system_id = std::to_string(id);
  }
  info.server_version = m_members["PG_VERSION"];
  while (!info.server_version.empty() && info.server_version.back() == '\n')
    info.server_version.pop_back();
  return info;
}

}  // namespace lifeboat::source::postgres
