# Cross-compiling for 64-bit ARM Linux (Raspberry Pi 4/5 with a 64-bit OS).
# Debian: g++-aarch64-linux-gnu; run the results with qemu-aarch64 (qemu-user).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# Tests run under user-mode emulation; TINYLLM_QEMU_CPU picks the core (cortex-a72: Pi 4, cortex-a76: Pi 5).
if(NOT DEFINED TINYLLM_QEMU_CPU)
  set(TINYLLM_QEMU_CPU cortex-a72)
endif()
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L /usr/aarch64-linux-gnu -cpu ${TINYLLM_QEMU_CPU})
