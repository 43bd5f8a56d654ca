# Bare-metal Cortex-M7 (double-precision FPU, hard float) with picolibc; programs run under
# qemu-system-arm -M mps2-an500 with semihosting.
set(CMAKE_SYSTEM_PROCESSOR cortex-m7)
set(TINYLLM_MCU_FLAGS "-mcpu=cortex-m7 -mfpu=fpv5-d16 -mfloat-abi=hard -mfp16-format=ieee")
include(${CMAKE_CURRENT_LIST_DIR}/bare-metal-picolibc.cmake)
