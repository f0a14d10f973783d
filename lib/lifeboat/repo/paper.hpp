// Paper keys: a key-file secret written as text a person can copy by hand or print
// ("LBK1-…"), and Shamir k-of-n shares of it for custodians ("LBS1-…"). Each carries a
// checksum so a typo is caught before any key derivation. Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "lifeboat/crypto/crypto.hpp"
#include "lifeboat/repo/keys.hpp"

namespace lifeboat::repo {

std::string format_paper_key(const crypto::Key32& secret);
std::vector<std::string> format_paper_shares(const crypto::Key32& secret, unsigned threshold,
                                             unsigned shares);
// Parses text holding a paper key, or enough shares, one per line (other lines are ignored).
// nullopt when the text holds neither; UsageError for a typo, too few or inconsistent shares.
std::optional<Secret> parse_paper(std::string_view text, const std::string& source);

}  // namespace lifeboat::repo
