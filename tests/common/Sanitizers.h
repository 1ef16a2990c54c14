// Whether the tests were built with AddressSanitizer, whose shadow memory
// reserves terabytes of address space: tests that cap the address space
// (ulimit -v, RLIMIT_AS) cannot run under it.
#pragma once

#if defined(__SANITIZE_ADDRESS__)
#define CNNC_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CNNC_ASAN 1
#endif
#endif
#ifndef CNNC_ASAN
#define CNNC_ASAN 0
#endif

namespace cnnc::testing {
inline constexpr bool kAddressSanitizer = CNNC_ASAN;
} // namespace cnnc::testing
