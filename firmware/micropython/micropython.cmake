# fxlearn as a MicroPython user C module (CMake-based ports: esp32, rp2).
# Build with USER_C_MODULES=<fxlearn>/firmware/micropython/micropython.cmake, e.g.
#   make -C ports/esp32 BOARD=ESP32_GENERIC_S3 USER_C_MODULES=/path/to/fxlearn/firmware/micropython/micropython.cmake
add_library(usermod_fxlearn INTERFACE)

file(GLOB FXLEARN_KERNEL_SOURCES ${CMAKE_CURRENT_LIST_DIR}/../kernel/*.c)

target_sources(usermod_fxlearn INTERFACE
    ${CMAKE_CURRENT_LIST_DIR}/modfxlearn.c
    ${FXLEARN_KERNEL_SOURCES}
)

target_include_directories(usermod_fxlearn INTERFACE
    ${CMAKE_CURRENT_LIST_DIR}
    ${CMAKE_CURRENT_LIST_DIR}/../kernel
)

target_link_libraries(usermod INTERFACE usermod_fxlearn)
