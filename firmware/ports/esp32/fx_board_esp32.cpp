/* ESP32 board layer through Arduino's Serial, for esp32dev (Xtensa LX6) and
 * esp32-c3-devkitm-1 (RISC-V): UART0 at 115200 (the USB-serial bridge), delay(1) as idle
 * (yields to FreeRTOS), the CPU cycle counter, ESP.restart() as reset.
 * NOT COMPILED IN CI: it needs PlatformIO's espressif32 platform and Arduino core, which only
 * install with network access (`pio run -e esp32dev`). Kept minimal for that reason. */
#include <Arduino.h>

extern "C" {
#include "fx_app.h"
#include "fx_board.h"
#include "fx_board_config.h"
}

extern "C" void fx_board_init(void)
{
    Serial.setRxBufferSize(FX_BOARD_RX_BUFFER_SIZE);  /* before begin() */
    Serial.begin(115200);
}

extern "C" void fx_board_write(const uint8_t *data, size_t n)
{
    Serial.write(data, n);
}

extern "C" size_t fx_board_read(uint8_t *buf, size_t cap)
{
    size_t n = (size_t)Serial.available();
    if (n > cap) {
        n = cap;
    }
    return n ? Serial.readBytes(buf, n) : 0;
}

extern "C" void fx_board_idle(void)
{
    delay(1);
}

extern "C" uint32_t fx_board_counter(void)
{
    return ESP.getCycleCount();
}

extern "C" fx_counter_kind fx_board_counter_kind(void)
{
    return FX_COUNTER_CYCLES;
}

extern "C" uint32_t fx_board_millis(void)
{
    return (uint32_t)millis();
}

extern "C" const char *fx_board_name(void)
{
    return FX_BOARD_NAME;
}

extern "C" void fx_board_reset(void)
{
    ESP.restart();
    for (;;) {
    }
}

/* Arduino's entry points: the same loop as every other port's main(). */
void setup()
{
    fx_board_init();
    fx_app_init();
}

void loop()
{
    fx_app_step();
}
