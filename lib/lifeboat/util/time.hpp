// Times written for other programs (S3, PostgreSQL): UTC, whatever the local time zone.
// Thread-safe.
#pragma once

#include <cstdint>
#include <string>

namespace lifeboat {

// `ns` (nanoseconds since the epoch, whole seconds kept) in UTC through strftime's `format`;
// the result must fit in 63 bytes.
std::string utc_time(int64_t ns, const char* format);

}  // namespace lifeboat
