/* Stand-in for the macOS SDK header of this name, for .ci/macos-check only: ring's C includes it
 * on Apple targets, and no SDK can be had on Linux. What it compiles is never linked or run
 * (`cargo check` links nothing); the values are those the SDK gives for macOS. */
#ifndef FINESSE_SSO_TARGET_CONDITIONALS_STUB
#define FINESSE_SSO_TARGET_CONDITIONALS_STUB
#define TARGET_OS_MAC 1
#define TARGET_OS_OSX 1
#define TARGET_OS_IPHONE 0
#endif
