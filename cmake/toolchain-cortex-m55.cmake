# Bare-metal Cortex-M55 (Helium: MVE integer and float, hard float) with picolibc. Debian:
# gcc-arm-none-eabi, picolibc-arm-none-eabi, libstdc++-arm-none-eabi-picolibc. Output runs under
# qemu-system-arm -M mps3-an547 with semihosting.
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR cortex-m55)
set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_CXX_COMPILER arm-none-eabi-g++)
set(CMAKE_ASM_COMPILER arm-none-eabi-gcc)
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
# -fno-if-conversion2: GCC 12 otherwise puts scalar vcvt conversions in IT blocks at -Os, which
# the assembler refuses for cores with Helium.
set(TINYLLM_MCU_FLAGS "-mcpu=cortex-m55 -mfloat-abi=hard -fno-if-conversion2 --specs=picolibcpp.specs")
set(CMAKE_C_FLAGS_INIT "${TINYLLM_MCU_FLAGS}")
set(CMAKE_CXX_FLAGS_INIT "${TINYLLM_MCU_FLAGS} -fno-exceptions -fno-rtti -fno-threadsafe-statics")
set(CMAKE_ASM_FLAGS_INIT "${TINYLLM_MCU_FLAGS}")
# crt0-semihost: exit() ends the emulator with the program's status.
set(CMAKE_EXE_LINKER_FLAGS_INIT "--oslib=semihost --crt0=semihost")
