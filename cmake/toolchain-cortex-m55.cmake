# Bare-metal Cortex-M55 (Helium: MVE integer and float, hard float) with picolibc; programs run
# under qemu-system-arm -M mps3-an547 with semihosting.
set(CMAKE_SYSTEM_PROCESSOR cortex-m55)
# -fno-if-conversion2: GCC 12 otherwise puts scalar vcvt conversions in IT blocks at -Os, which
# the assembler refuses for cores with Helium.
set(TINYLLM_MCU_FLAGS "-mcpu=cortex-m55 -mfloat-abi=hard -fno-if-conversion2")
include(${CMAKE_CURRENT_LIST_DIR}/bare-metal-picolibc.cmake)
