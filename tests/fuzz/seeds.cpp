// Writes a seed corpus per fuzz target (tests/fuzz/run.sh): the golden vectors of
// tests/golden, opened with the same deterministic keys as tests/unit/repo/golden_test.cpp
// where they are sealed, plus a few hand-written documents.
// Usage: fuzz_seeds OUTDIR
#include <cstdio>
#include <string>

#include "lifeboat/core/error.hpp"
#include "lifeboat/crypto/crypto.hpp"
#include "lifeboat/repo/format.hpp"
#include "lifeboat/repo/keys.hpp"
#include "lifeboat/repo/pack.hpp"
#include "lifeboat/repo/snapshot.hpp"
#include "lifeboat/util/fs.hpp"

using namespace lifeboat;

namespace {

std::string g_out;

void put(const std::string& target, const std::string& name, ByteView data) {
  fs::make_dirs(g_out + "/" + target, 0755);
  fs::write_file_atomic(g_out + "/" + target + "/" + name, data, 0644);
}
void put_text(const std::string& target, const std::string& name, const std::string& text) {
  put(target, name, as_bytes(text));
}

Bytes golden(const char* name) {
  auto data = fs::read_file(std::string(LIFEBOAT_GOLDEN_DIR) + "/" + name);
  if (!data) throw Error(Exit::failure, "no golden file {}", name);
  return *data;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_seeds OUTDIR\n");
    return 2;
  }
  g_out = argv[1];
  try {
    crypto::set_deterministic_random_for_testing(42);
    Id32 repo_id;
    for (size_t i = 0; i < 32; ++i) repo_id.bytes[i] = std::byte(i);
    auto keys = repo::MasterKeys::generate(repo_id);
    auto open = [&](const char* file, repo::Kind kind) {
      return repo::open_object(keys.meta_key, repo_id, kind, golden(file), file);
    };
    put("tree", "golden", golden("tree.bin"));
    put("config_object", "golden", golden("config.bin"));
    for (const char* k : {"key-password.bin", "key-keyfile.bin", "key-write-only.bin"})
      put("key_slot", k, golden(k));
    Bytes snapshot = open("snapshot.bin", repo::Kind::snapshot);
    put("snapshot", "golden", snapshot);
    put("snapshot_body", "golden", repo::decode_signed(snapshot, "snapshot").body);
    put("index", "golden", open("index.bin", repo::Kind::index));
    put("lock", "golden", open("lock.bin", repo::Kind::lock));
    put("tombstone", "golden", open("tombstone.bin", repo::Kind::tombstone));
    put("condemnation", "golden", open("condemned.bin", repo::Kind::condemned));
    put("pack_header", "golden",
        repo::encode_pack_header(repo::parse_pack_trailer(keys, golden("pack.bin"), "pack")));
    put_text("xml", "list",
             "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult><Name>b</Name>"
             "<IsTruncated>true</IsTruncated><Contents><Key>data/ab&amp;c</Key><Size>12</Size>"
             "</Contents><NextContinuationToken>x</NextContinuationToken></ListBucketResult>");
    put_text("xml", "error",
             "<Error><Code>SlowDown</Code><Message>Please &lt;reduce&gt; your rate</Message>"
             "</Error>");
    put_text("yaml", "minimal",
             "repositories:\n  main:\n    url: /srv/backup\n    password-file: /etc/pw\n"
             "jobs:\n  etc:\n    repository: main\n    paths: [/etc]\n    exclude: ['*.tmp']\n"
             "    retention: {keep-daily: 7, keep-weekly: 4}\n");
    put_text("restore_name", "plain", "file.txt");
    put_text("restore_name", "dots", "..");
    put_text("chunker", "text", std::string(3000, 'a') + "some text that varies 0123456789");
    put_text("key_file", "hex", "lifeboat-key-v1\n" + std::string(64, 'a') + "\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz_seeds: %s\n", e.what());
    return 1;
  }
  return 0;
}
