// OpenSSL's large allocations in huge pages.
#pragma once

namespace lifeboat::crypto {

// Makes OpenSSL allocate blocks of 4 MiB or more (scrypt's 32 MiB table, once per command that
// opens a repository) as huge-page mappings (util/huge_buffer.hpp): 16 page faults instead of
// 8,192, which cost 0.1-0.2 s of every command on the bench machine. Smaller blocks stay
// plain malloc blocks. Takes effect only when called before OpenSSL's first allocation (at
// the start of main); returns whether it did.
bool allocate_large_in_huge_pages();

}  // namespace lifeboat::crypto
