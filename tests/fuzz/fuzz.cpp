// libFuzzer targets for every parser that reads bytes Lifeboat did not just write: the
// repository's object formats (as decrypted: a holder of a valid key is the attacker), the
// YAML configuration, storage servers' XML, WAL segment headers, key files and paper keys,
// restore-name validation, and the chunker. One source, one executable per target
// (FUZZ_TARGET names it); tests/fuzz/run.sh builds and runs them (docs/testing.md).
//
// A parser may reject its input only with lifeboat::Error (IntegrityError, UsageError, ...):
// any other exception, a crash, a sanitizer report, a hang or unbounded memory is a finding.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "lifeboat/chunk/fastcdc.hpp"
#include "lifeboat/config/config.hpp"
#include "lifeboat/core/error.hpp"
#include "lifeboat/repo/deletion.hpp"
#include "lifeboat/repo/index.hpp"
#include "lifeboat/repo/keys.hpp"
#include "lifeboat/repo/lock.hpp"
#include "lifeboat/repo/pack.hpp"
#include "lifeboat/repo/paper.hpp"
#include "lifeboat/repo/snapshot.hpp"
#include "lifeboat/repo/tree.hpp"
#include "lifeboat/restore/restorer.hpp"
#include "lifeboat/source/postgres/wal.hpp"
#include "lifeboat/storage/xml.hpp"

using namespace lifeboat;

namespace {

[[noreturn]] void broken(const char* what) {
  std::fprintf(stderr, "invariant broken: %s\n", what);
  std::abort();
}

void run(std::string_view target, ByteView in) {
  std::string_view text(reinterpret_cast<const char*>(in.data()), in.size());
  if (target == "tree") {
    auto t = repo::decode_tree(in, "tree");
    // What decodes must encode and decode to the same tree.
    auto again = repo::decode_tree(repo::encode_tree(t), "tree");
    if (again.nodes.size() != t.nodes.size()) broken("tree round trip");
  } else if (target == "snapshot") {
    auto s = repo::decode_signed(in, "snapshot");
    (void)repo::decode_snapshot_body(s.body, "snapshot");
  } else if (target == "snapshot_body") {
    (void)repo::decode_snapshot_body(in, "snapshot");
  } else if (target == "index") {
    auto packs = repo::decode_index(in, "index");
    auto again = repo::decode_index(repo::encode_index(packs), "index");
    if (again.size() != packs.size()) broken("index round trip");
  } else if (target == "pack_header") {
    auto h = repo::decode_pack_header(in, "pack");
    (void)repo::decode_pack_header(repo::encode_pack_header(h), "pack");
  } else if (target == "key_slot") {
    auto slot = repo::decode_slot(in, "slot");
    (void)repo::decode_slot(repo::encode_slot(slot), "slot");
  } else if (target == "config_object") {
    (void)repo::decode_config(in);
  } else if (target == "lock") {
    auto l = repo::decode_lock(in, "lock");
    (void)repo::decode_lock(repo::encode_lock(l), "lock");
  } else if (target == "tombstone") {
    (void)repo::decode_tombstone(in, "tombstone");
  } else if (target == "condemnation") {
    (void)repo::decode_condemnation(in, "condemnation");
  } else if (target == "yaml") {
    (void)config::load_text(std::string(text), "fuzz.yaml");
  } else if (target == "xml") {
    (void)storage::xml::parse(text);
  } else if (target == "wal_header") {
    (void)source::postgres::parse_segment_header(in, "000000010000000000000001");
  } else if (target == "key_file") {
    (void)repo::parse_key_file(text, "fuzz.key");
  } else if (target == "paper") {
    (void)repo::parse_paper(text, "fuzz");
  } else if (target == "restore_name") {
    std::string name(text);
    auto why = restore::bad_name(name);
    // What it accepts must be one plain component: never empty, '.', '..', or with '/' or NUL.
    if (!why && (name.empty() || name == "." || name == ".." ||
                 name.find('/') != std::string::npos || name.find('\0') != std::string::npos))
      broken("bad_name accepted an unsafe name");
  } else if (target == "chunker") {
    // Small sizes so that short inputs cut; the chunks must cover the input exactly, in order,
    // each within the bounds.
    static const auto gear = chunk::make_gear(as_bytes("fuzz seed"));
    chunk::Params p{64, 256, 1024};
    size_t pos = 0;
    chunk::Chunker c(gear, p, [&](std::byte* buf, size_t n) {
      size_t take = std::min(n, std::min<size_t>(in.size() - pos, 97));  // odd read sizes
      std::memcpy(buf, in.data() + pos, take);
      pos += take;
      return take;
    });
    size_t covered = 0;
    for (;;) {
      ByteView piece = c.next();
      if (piece.empty()) break;
      if (piece.size() > p.max_size) broken("chunk over max_size");
      if (std::memcmp(piece.data(), in.data() + covered, piece.size()) != 0)
        broken("chunk content differs from the input");
      covered += piece.size();
      if (covered < in.size() && piece.size() < p.min_size) broken("chunk under min_size");
    }
    if (covered != in.size()) broken("chunks do not cover the input");
  } else {
    std::fprintf(stderr, "unknown fuzz target '%.*s'\n", static_cast<int>(target.size()),
                 target.data());
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    run(FUZZ_TARGET, ByteView(reinterpret_cast<const std::byte*>(data), size));
  } catch (const Error&) {
    // A rejection with one of our errors is the expected outcome of bad input.
  }
  return 0;
}
