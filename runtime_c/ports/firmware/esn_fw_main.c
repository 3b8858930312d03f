/* esn_fw_main.c: the firmware's entry: bring the port up, announce, serve requests forever. */
#include "esn_fw_ext.h"
#include "esn_fw_port.h"
#include "esn_fw_server.h"

int main(void)
{
    esn_fw_port_init();
    esn_fw_ext_init();
    esn_fw_server_start();
    for (;;) {
        esn_fw_server_poll();
        (void)esn_fw_port_ticks(); /* keeps a software-extended tick counter current while idle */
    }
}
