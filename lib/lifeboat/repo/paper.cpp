#include "lifeboat/repo/paper.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>

#include "lifeboat/core/error.hpp"
#include "lifeboat/crypto/shamir.hpp"

namespace lifeboat::repo {

namespace {

constexpr char k_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";  // RFC 4648 base32
constexpr std::string_view k_key_prefix = "LBK1";
constexpr std::string_view k_share_prefix = "LBS1";

Bytes checksum(std::string_view prefix, ByteView payload) {
  Bytes in = to_bytes("lifeboat paper ");
  append(in, as_bytes(prefix));
  append(in, payload);
  Id32 h = crypto::sha256(in);
  return Bytes(h.bytes.begin(), h.bytes.begin() + 4);
}

std::string encode(std::string_view prefix, ByteView payload) {
  Bytes data(payload.begin(), payload.end());
  append(data, checksum(prefix, payload));
  std::string b32;
  uint32_t buffer = 0;
  int bits = 0;
  for (std::byte b : data) {
    buffer = (buffer << 8) | static_cast<uint8_t>(b);
    bits += 8;
    while (bits >= 5) {
      b32 += k_alphabet[(buffer >> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) b32 += k_alphabet[(buffer << (5 - bits)) & 31];
  std::string out(prefix);
  for (size_t i = 0; i < b32.size(); i += 4) out += "-" + b32.substr(i, 4);
  return out;
}

// Decodes "PREFIX-XXXX-XXXX…" (case-insensitive; '-' and spaces ignored; 0, 1 and 8 read as
// O, I and B). nullopt when the line is not of this kind (a heading, a comment); UsageError
// when it is but does not check out.
std::optional<Bytes> decode(std::string_view line, std::string_view prefix, size_t payload_size,
                            const std::string& where) {
  std::string clean;
  for (char c : line) {
    if (c == '-' || c == ' ' || c == '\t' || c == '\r') continue;
    if (!std::isalnum(static_cast<unsigned char>(c))) return std::nullopt;
    clean += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  if (clean.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
  clean = clean.substr(prefix.size());
  Bytes data;
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : clean) {
    c = c == '0' ? 'O' : c == '1' ? 'I' : c == '8' ? 'B' : c;
    const char* p = std::strchr(k_alphabet, c);
    if (!p) throw UsageError("{}: '{}' cannot appear in a paper key (a typo?)", where, c);
    buffer = (buffer << 5) | static_cast<uint32_t>(p - k_alphabet);
    bits += 5;
    if (bits >= 8) {
      data.push_back(std::byte((buffer >> (bits - 8)) & 0xff));
      bits -= 8;
    }
  }
  if (data.size() != payload_size + 4 || (buffer & ((1u << bits) - 1)) != 0)
    throw UsageError("{}: wrong length or last character (characters missing, extra or mistyped?)",
                     where);
  ByteView payload(data.data(), payload_size);
  if (checksum(prefix, payload) !=
      Bytes(data.begin() + static_cast<std::ptrdiff_t>(payload_size), data.end()))
    throw UsageError("{}: checksum mismatch (a typo?)", where);
  return Bytes(payload.begin(), payload.end());
}

// Identifies a split and checks its reconstruction: 4 bytes of a hash of the secret.
Bytes split_id(ByteView secret) {
  Bytes in = to_bytes("lifeboat paper split ");
  append(in, secret);
  Id32 h = crypto::sha256(in);
  return Bytes(h.bytes.begin(), h.bytes.begin() + 4);
}

constexpr size_t k_share_payload = 1 + 1 + 4 + 32;  // threshold, x, split id, y

}  // namespace

std::string format_paper_key(const crypto::Key32& secret) { return encode(k_key_prefix, secret); }

std::vector<std::string> format_paper_shares(const crypto::Key32& secret, unsigned threshold,
                                             unsigned shares) {
  std::vector<std::string> out;
  for (auto& s : crypto::shamir_split(secret, threshold, shares)) {
    Bytes payload{std::byte(threshold), std::byte(s.x)};
    append(payload, split_id(secret));
    append(payload, s.y);
    out.push_back(encode(k_share_prefix, payload));
    crypto::wipe(payload);
  }
  return out;
}

std::optional<Secret> parse_paper(std::string_view text, const std::string& source) {
  std::vector<crypto::Share> shares;
  unsigned threshold = 0;
  Bytes id;
  size_t line_no = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    std::string where = fmt::format("{} line {}", source, line_no);
    if (auto key = decode(line, k_key_prefix, 32, where))
      return Secret{Secret::Type::key_file, std::string(as_chars(*key)), source};
    auto share = decode(line, k_share_prefix, k_share_payload, where);
    if (!share) continue;
    unsigned k = static_cast<unsigned>((*share)[0]);
    Bytes sid(share->begin() + 2, share->begin() + 6);
    if (!shares.empty() && (k != threshold || sid != id))
      throw UsageError("{}: this share belongs to another split than the ones above it", where);
    threshold = k;
    id = sid;
    crypto::Share s{static_cast<uint8_t>((*share)[1]), Bytes(share->begin() + 6, share->end())};
    auto same = std::find_if(shares.begin(), shares.end(),
                             [&](const crypto::Share& o) { return o.x == s.x; });
    if (same == shares.end())
      shares.push_back(std::move(s));
    else if (same->y != s.y)
      throw UsageError("{}: share number {} appears twice with different content", where, s.x);
  }
  if (shares.empty()) return std::nullopt;
  if (threshold < 2 || shares.size() < threshold)
    throw UsageError("{} holds {} share(s) of a key that needs {}: collect more shares", source,
                     shares.size(), threshold);
  shares.resize(threshold);
  Bytes secret = crypto::shamir_combine(shares);
  if (split_id(secret) != id)
    throw UsageError(
        "the shares in {} do not rebuild their key (shares of different splits, or damaged)",
        source);
  Secret s{Secret::Type::key_file, std::string(as_chars(secret)), source};
  crypto::wipe(secret);
  return s;
}

}  // namespace lifeboat::repo
