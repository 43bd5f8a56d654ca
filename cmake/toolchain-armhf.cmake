# Cross-compiling for 32-bit ARM Linux with hardware float (Raspberry Pi OS 32-bit).
# Debian: g++-arm-linux-gnueabihf; run the results with qemu-arm (qemu-user).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_C_COMPILER arm-linux-gnueabihf-gcc)
set(CMAKE_CXX_COMPILER arm-linux-gnueabihf-g++)
set(CMAKE_FIND_ROOT_PATH /usr/arm-linux-gnueabihf)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# GCC notes an ABI change of std::vector iterators on 32-bit ARM (GCC 7.1) at every use; irrelevant here.
set(CMAKE_CXX_FLAGS_INIT "-Wno-psabi")
# Tests run under user-mode emulation; the QEMU_CPU environment variable picks the core
# (scripts/test-arm.sh: cortex-a15, since qemu-arm has no Cortex-A72 model and the A15 runs the
# same ARMv7 + NEON code a Pi does in 32-bit mode).
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-arm -L /usr/arm-linux-gnueabihf)
