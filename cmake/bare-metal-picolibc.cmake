# Shared by the bare-metal Cortex-M toolchain files, which set CMAKE_SYSTEM_PROCESSOR and
# TINYLLM_MCU_FLAGS first: the arm-none-eabi GCC with picolibc (Debian: gcc-arm-none-eabi,
# picolibc-arm-none-eabi, libstdc++-arm-none-eabi-picolibc), no exceptions or RTTI.
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_CXX_COMPILER arm-none-eabi-g++)
set(CMAKE_ASM_COMPILER arm-none-eabi-gcc)
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
set(CMAKE_C_FLAGS_INIT "${TINYLLM_MCU_FLAGS} --specs=picolibcpp.specs")
set(CMAKE_CXX_FLAGS_INIT "${TINYLLM_MCU_FLAGS} --specs=picolibcpp.specs -fno-exceptions -fno-rtti -fno-threadsafe-statics")
set(CMAKE_ASM_FLAGS_INIT "${TINYLLM_MCU_FLAGS} --specs=picolibcpp.specs")
# crt0-semihost: exit() ends the emulator with the program's status.
set(CMAKE_EXE_LINKER_FLAGS_INIT "--oslib=semihost --crt0=semihost")
